"""The edge study's floor and diagnostics: classic detectors on a synthetic step edge, the descriptor
network's dense path, map normalisation, the oracle transfer's alignment and bound, and the
orientation of softmax maps."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lmle_core import nets
from lmle_core.edges import classic
from lmle_core.edges.descriptor_net import FeatureSet, dense_descriptor_outputs
from lmle_core.edges.diagnostics import oracle_maps, orientation_auc
from lmle_core.edges.features import FEATURE_DIM, FEATURE_GRIDS, channel_features, patch_descriptors, patch_features
from lmle_core.edges.maps import LabelTransfer, finish_maps, transfer_maps
from lmle_core.metrics import evaluate_boundaries


def _step_image(h=120, w=160, seed=0):
    """A colour step edge between columns w/2 - 1 and w/2 and a horizontal one between rows h/2 - 1 and
    h/2 on the right half, with mild noise; ground truth: the pixels on the bright side of each step."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (60, 70, 90), dtype=np.float64)
    img[:, w // 2:] = (200, 170, 120)
    img[h // 2:, w // 2:] = (90, 160, 60)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    gt = np.zeros((h, w), dtype=bool)
    gt[:, w // 2] = True
    gt[h // 2, w // 2:] = True
    return img, gt


@pytest.mark.parametrize("detector", classic.DETECTORS)
def test_classic_detectors_find_a_step_edge(detector):
    img, gt = _step_image()
    highs = classic.canny_thresholds([img], sigma=1.5, n_levels=8)
    maps = classic.classic_maps(detector, {"step": img}, sigma=1.5, highs=highs)
    m = maps["step"]
    assert m.shape == gt.shape and m.min() >= 0.0 and m.max() == pytest.approx(1.0)
    ev = evaluate_boundaries(maps, {"step": [gt]}, thresholds=9, workers=1)
    assert ev.ods > 0.95 and ev.ois > 0.95
    if detector == "canny":  # a soft map: the fraction of the 8 thresholds at which a pixel is an edge
        np.testing.assert_allclose(np.round(m * 8), m * 8, atol=1e-9)


def test_classic_detectors_reject_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        classic.gradient_edges(np.zeros((10, 10)), 1.0)
    with pytest.raises(ValueError, match="detector"):
        classic.classic_maps("sobel", {})
    with pytest.raises(ValueError, match="highs"):
        classic.canny_edges(np.zeros((10, 10, 3), np.uint8), [])


def test_patch_features_extend_the_prior_descriptor():
    rng = np.random.default_rng(0)
    ch = channel_features(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    ys, xs = np.array([0, 20, 39]), np.array([49, 25, 0])
    f = patch_features(ch, ys, xs, chunk=2)
    assert f.shape == (3, FEATURE_DIM)
    np.testing.assert_allclose(f[:, :13 * 25], patch_descriptors(ch, ys, xs, 45, 5))
    np.testing.assert_allclose(f[:, 13 * 25:], patch_descriptors(ch, ys, xs, *FEATURE_GRIDS[1]))
    # the fine grid's centre cell: the 3x3 mean around (20, 25)
    centre = f[1, 13 * 25:].reshape(13, 7, 7)[:, 3, 3]
    np.testing.assert_allclose(centre, ch[:, 19:22, 24:27].mean((1, 2)), rtol=1e-4, atol=1e-5)


def test_dense_descriptor_outputs_equal_the_network_on_each_patch():
    torch.manual_seed(0)
    net = nets.build_net("edge-descriptor", 8, n_classes=4).eval()
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (21, 26, 3), dtype=np.uint8)
    mean, std = rng.normal(0, 0.1, FEATURE_DIM), rng.uniform(0.5, 2.0, FEATURE_DIM)
    emb, logits, grid = dense_descriptor_outputs(net, img, mean, std, stride=3, chunk=7)
    assert grid == (7, 9)
    ys, xs = np.meshgrid(np.arange(0, 21, 3), np.arange(0, 26, 3), indexing="ij")
    feats = torch.from_numpy(patch_features(channel_features(img), ys.ravel(), xs.ravel()))
    fs = FeatureSet(feats, np.zeros(len(feats)), mean, std)
    x = fs.batch(np.arange(len(feats)))
    torch.testing.assert_close(x, (feats - torch.tensor(mean, dtype=torch.float32)) / torch.tensor(std, dtype=torch.float32))
    with torch.no_grad():
        torch.testing.assert_close(emb, net(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(logits, net.logits(x), atol=1e-5, rtol=1e-5)


def test_feature_set_checks_its_input():
    with pytest.raises(ValueError, match="float32"):
        FeatureSet(torch.zeros(3, 2, dtype=torch.float64), [0, 1, 1], [0, 0], [1, 1])
    with pytest.raises(ValueError, match="labels"):
        FeatureSet(torch.zeros(3, 2), [0, 1], [0, 0], [1, 1])
    fs = FeatureSet(torch.arange(6, dtype=torch.float32).reshape(3, 2), [0, 1, 1], [1, 1], [2, 2])
    assert fs.subset([2]).labels.tolist() == [1] and fs.class_counts(3).tolist() == [1, 2, 0]


def test_finish_maps_normalisations():
    maps = {"a": np.array([[0.0, 0.2], [0.1, 0.0]]), "b": np.array([[0.4, 0.0], [0.0, 0.1]])}
    glob = finish_maps(maps, nms=False, rescale="global")
    np.testing.assert_allclose(glob["a"], maps["a"] / 0.4)
    np.testing.assert_allclose(glob["b"], maps["b"] / 0.4)
    per = finish_maps(maps, nms=False, rescale="image")
    np.testing.assert_allclose(per["a"], maps["a"] / 0.2)
    np.testing.assert_allclose(finish_maps(maps, nms=False, rescale=False)["b"], maps["b"])
    with pytest.raises(ValueError, match="rescale"):
        finish_maps(maps, rescale="rank")


def _line_task(L=5):
    """A stand-in EdgeTask: class 0 (non-edge) an empty patch, class 1 a vertical line through the centre."""
    line = np.zeros((L, L), np.float32)
    line[:, L // 2] = 1.0
    from scipy import ndimage

    centroid = ndimage.gaussian_filter(line, 1.0, mode="constant").reshape(1, -1)
    return SimpleNamespace(label_size=L, class_patches=np.stack([np.zeros_like(line), line]), edge_centroids=centroid)


def test_oracle_transfer_puts_the_edges_on_the_ground_truth():
    gt = np.zeros((20, 30), dtype=bool)
    gt[:, 12] = True
    task = _line_task()
    m = oracle_maps({"x": [gt, gt]}, task, stride=1, kind="class")["x"]
    assert m.shape == gt.shape
    # by hand: column 12 is covered by the patches of columns 10..14, only column 12's (class 1) has the
    # line, the others are non-edge (empty) patches: 1/5 there, 0 everywhere else
    np.testing.assert_allclose(m[:, 12], 1.0 / 5)
    assert np.delete(m, 12, axis=1).max() == 0.0
    bank = torch.as_tensor(task.class_patches).reshape(2, -1)
    m2 = oracle_maps({"x": [gt]}, task, stride=2, kind="bank", bank=bank)["x"]
    assert (m2.argmax(1) == 12).all()
    with pytest.raises(ValueError, match="bank"):
        oracle_maps({"x": [gt]}, task, kind="bank")


def test_softmax_map_is_brighter_where_an_edge_is_more_probable():
    """A higher edge probability gives a higher map value, before and after NMS-free normalisation."""
    L = 5
    task = _line_task(L)
    bank = torch.as_tensor(task.class_patches).reshape(2, -1)
    grid, stride = (6, 8), 2
    p_edge = torch.linspace(0.05, 0.95, grid[1]).repeat(grid[0])          # rises from left to right
    logits = torch.stack([torch.log(1 - p_edge), torch.log(p_edge)], 1)

    def outputs(img):
        return torch.zeros(len(p_edge), 2), logits, grid

    img = np.zeros((12, 16, 3), np.uint8)
    raw = transfer_maps(outputs, LabelTransfer("softmax", bank), {"x": img}, stride)["x"]
    for m in (raw, finish_maps({"x": raw}, nms=False)["x"]):
        on_points = m[2:10:stride, ::stride]                                  # grid points away from the border rows
        assert (np.diff(on_points, axis=1) > 0).all()


def test_orientation_auc_detects_an_inverted_map():
    rng = np.random.default_rng(0)
    gt = np.zeros((40, 40), dtype=bool)
    gt[:, 20] = True
    good = rng.uniform(0, 0.3, gt.shape)
    good[gt] += 0.6
    up = orientation_auc({"x": good}, {"x": [gt]})["orientation_auc"]
    down = orientation_auc({"x": 1 - good}, {"x": [gt]})["orientation_auc"]
    assert up == pytest.approx(1.0) and down == pytest.approx(0.0)
    flat = orientation_auc({"x": np.full(gt.shape, 0.5)}, {"x": [gt]})
    assert flat["orientation_auc"] == pytest.approx(0.5) and flat["median_value"] == 0.5


def test_fig5_shows_what_the_benchmark_matches():
    from lmle_core.study import edge_plots

    m = np.zeros((30, 40))
    m[:, 10:13] = [0.3, 0.9, 0.3]             # a thick ridge: thresholded at 0.5 it is one column
    m[5, 30] = 0.2                            # below the threshold: not shown
    view = edge_plots.benchmark_view(m, 0.5)
    assert view.dtype == bool and view.sum() == 30 and view[:, 11].all()
    img = np.zeros((30, 40, 3), np.uint8)
    fig = edge_plots.edge_comparison({"a": img, "b": img}, {"gt": {"a": view, "b": view}, "x": {"a": view, "b": ~view}},
                                     {"a": (0, 0, 10, 10), "b": (5, 5, 10, 10)})
    axes = np.array(fig.axes).reshape(4, 3)   # per image: full panels, then the zoomed box
    assert axes[1, 1].images[0].get_array().shape == (10, 10)
    assert axes[0, 1].get_title() == "gt" and axes[2, 1].get_title() == ""
