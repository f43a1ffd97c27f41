"""The BSDS500 boundary benchmark (lmle_core.metrics.boundaries / metrics.evaluate_boundaries).

Unit tests use maps whose answers are known by construction; the ``realdata`` tests reproduce the
OFFICIAL MATLAB benchmark's outputs under $LMLE_DATA_ROOT/BSDS500/reference.
"""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyEdgeEval")

from lmle_core.metrics import boundaries as B  # noqa: E402
from lmle_core.metrics import evaluate_boundaries  # noqa: E402


def _square(n=400, side=100, offset=150):
    """Three straight 1-pixel segments (thinning keeps them) in a square's place, not touching;
    on a 400 x 400 map maxDist is 0.0075 * 566 = 4.2 pixels."""
    m = np.zeros((n, n), dtype=bool)
    m[offset, offset:offset + side] = m[offset + side - 1, offset:offset + side] = True
    m[offset + 10:offset + side - 10, offset] = True
    return m


def test_import_of_metrics_does_not_import_pyedgeeval():
    code = "import sys, lmle_core.metrics as m; m.evaluate_boundaries; print('pyEdgeEval' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_thresholds_are_the_benchmarks():
    t = B.bsds_thresholds(99)
    assert len(t) == 99 and t[0] == pytest.approx(0.01) and t[-1] == pytest.approx(0.99)
    np.testing.assert_allclose(B.bsds_thresholds(5), np.arange(1, 6) / 6)
    assert B.bsds_thresholds(1).tolist() == [0.5]


def test_perfect_and_shifted_predictions():
    gt = _square()
    perfect = evaluate_boundaries({"a": gt.astype(float)}, {"a": [gt]}, thresholds=3, workers=1)
    assert perfect.ods == perfect.ois == 1.0
    near = evaluate_boundaries({"a": np.roll(gt, 3, axis=1).astype(float)}, {"a": [gt]}, thresholds=3, workers=1)
    assert near.ods == 1.0  # 3 pixels < maxDist
    far = evaluate_boundaries({"a": np.roll(gt, 10, axis=0).astype(float)}, {"a": [gt]}, thresholds=3, workers=1)
    assert far.ods < 0.5   # 10 pixels > maxDist: only the vertical segment's overlap still matches


def test_precision_counts_any_annotator_recall_sums_over_annotators():
    a, b = _square(offset=50), _square(offset=220)
    r = evaluate_boundaries({"x": a.astype(float)}, {"x": [a, b]}, thresholds=1, workers=1)
    assert r.per_image.loc["x", "precision"] == 1.0   # every machine pixel matches annotator a
    assert r.per_image.loc["x", "recall"] == 0.5      # all of a's pixels, none of b's
    r2 = evaluate_boundaries({"x": (a | b).astype(float)}, {"x": [a, b]}, thresholds=1, workers=1)
    assert r2.per_image.loc["x", "recall"] == 1.0 and r2.per_image.loc["x", "precision"] == 1.0


def test_collect_counts_by_hand():
    thr = np.array([0.25, 0.75])
    c1 = np.array([[400, 500, 400, 500], [400, 500, 320, 400]], float)  # R = P = 0.8 at both: a tie
    c2 = np.array([[287, 500, 287, 287], [113, 500, 113, 113]], float)  # best at the first threshold
    res = B.collect_counts({"1": c1, "2": c2}, thr)
    tot = c1 + c2
    r, p = tot[:, 0] / tot[:, 1], tot[:, 2] / tot[:, 3]
    assert res.per_threshold["recall"].tolist() == pytest.approx(r.tolist())
    assert res.per_threshold["precision"].tolist() == pytest.approx(p.tolist())
    best = c1[1] + c2[0]  # OIS: the LAST of tied maxima (MATLAB's ff(end)) of image 1
    rb, pb = best[0] / best[1], best[2] / best[3]
    assert res.ois == pytest.approx(2 * rb * pb / (rb + pb))
    assert res.per_image.loc["2", "threshold"] == 0.25 and res.per_image.loc["2", "f"] == pytest.approx(
        2 * 0.574 / 1.574)
    f = 2 * r * p / (r + p)
    assert res.ods >= f.max() - 1e-12
    # AP (Area_PR): precision interpolated linearly between recalls 0.513 and 0.687 at 0.52 .. 0.68, else 0
    ri = np.arange(52, 69) / 100
    assert res.ap == pytest.approx(np.interp(ri, r[::-1], p[::-1]).sum() * 0.01)


def test_deduplication_and_workers_change_no_number():
    rng = np.random.default_rng(0)
    gt = _square(80, 40, 20)
    soft = np.clip(gt * 0.6 + 0.5 * rng.random(gt.shape) * (rng.random(gt.shape) < 0.03), 0, 1)
    soft = np.round(soft * 10) / 10  # few distinct levels: many thresholds share a map
    preds = {"a": soft, "b": soft[::-1].copy(), "c": soft.T.copy()}
    gts = {"a": [gt, np.roll(gt, 2, 0)], "b": [gt[::-1]], "c": [gt.T]}
    plain = {k: B.image_counts(preds[k], gts[k], 19, dedupe=False) for k in preds}
    one = evaluate_boundaries(preds, gts, thresholds=19, workers=1)
    two = evaluate_boundaries(preds, gts, thresholds=19, workers=2)
    for k in preds:
        np.testing.assert_array_equal(one.counts[k], plain[k])
        np.testing.assert_array_equal(two.counts[k], plain[k])
    pd.testing.assert_frame_equal(one.per_image, two.per_image)
    assert (one.ods, one.ois, one.ap) == (two.ods, two.ois, two.ap)


def test_inputs_are_checked():
    gt = _square()
    with pytest.raises(ValueError, match="image a.*ground truth"):
        evaluate_boundaries({"a": np.zeros((10, 10))}, {"a": [gt]}, workers=1)
    with pytest.raises(ValueError, match=r"image a.*\[0, 1\]"):
        evaluate_boundaries({"a": gt * 2.0}, {"a": [gt]}, workers=1)
    with pytest.raises(KeyError, match="no ground truth"):
        evaluate_boundaries({"b": gt * 1.0}, {"a": [gt]}, workers=1)


# --------------------------------------------------------------------------------- the official outputs


@pytest.mark.realdata
def test_official_self_test_png_maps(data_root):
    """bench_data/test_2: the benchmark's png boundary maps at its own 5 thresholds (test_benchs.m)."""
    from lmle_core.data.bsds_reference import load_bench_data

    ref = load_bench_data(data_root, "test_2")
    one = evaluate_boundaries(ref.predictions, ref.ground_truth, thresholds=5, workers=1)
    off = ref.official.totals
    assert one.ods == pytest.approx(off["ods"], abs=0.002)
    assert one.ois == pytest.approx(off["ois"], abs=0.002)
    assert one.ap == pytest.approx(off["ap"], abs=0.002)
    np.testing.assert_allclose(one.per_image["f"], ref.official.per_image["f"], atol=0.005)
    two = evaluate_boundaries(ref.predictions, ref.ground_truth, thresholds=5, workers=2)
    assert (one.ods, one.ois, one.ap) == (two.ods, two.ois, two.ap)
    pd.testing.assert_frame_equal(one.per_image, two.per_image)


@pytest.mark.realdata
@pytest.mark.slow
def test_official_ucm2_per_image_best(data_root):
    """reference/ucm2_test: 5 of the 25 gPb-owt-ucm maps given (the test was CI's longest: 10 maps
    took 354 s on 2 shared cores; scripts/bench_boundaries.py --images 25 runs all of them), 99 thresholds: every image's best
    threshold and F as the official eval_bdry_img.txt."""
    from lmle_core.data.bsds_reference import load_ucm2_reference

    ref = load_ucm2_reference(data_root, max_images=5)
    assert len(ref.predictions) == 5
    res = evaluate_boundaries(ref.predictions, ref.ground_truth)
    off = ref.official.per_image.loc[res.per_image.index]
    assert np.abs(res.per_image["f"] - off["f"]).max() < 0.005
    # the best threshold: the same for most images; where F is nearly flat between two thresholds the
    # matcher's random outlier edges (seeded here, clock-seeded in the official run) may move it by a step
    dt = np.abs(res.per_image["threshold"] - off["threshold"])
    assert (dt < 1e-3).sum() >= 4 and dt.max() <= 0.0106
