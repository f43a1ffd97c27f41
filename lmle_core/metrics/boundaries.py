"""Boundary (edge map) evaluation: the BSDS500 benchmark (Arbelaez et al., TPAMI 2011) as its
MATLAB code computes it (``evaluation_bdry_image.m`` and ``collect_eval_bdry.m``).

Per image and threshold t of ``thresholds`` (n -> MATLAB ``linspace(1/(n+1), 1-1/(n+1), n)``):
the machine map ``pb >= t`` is thinned (``bwmorph(.., 'thin', inf)``) and matched against each
annotator's boundary map by the benchmark's own correspondence (CSA assignment, maxDist = 0.0075
of the image diagonal). Recall sums matched and total ground-truth pixels over annotators;
precision counts machine pixels matched to ANY annotator. Then, as ``collect_eval_bdry``:

- per image: the best F over thresholds with the benchmark's interpolation between neighbouring
  thresholds (``maxF``: 100 steps) -> ``per_image`` (threshold, recall, precision, f);
- ODS: the same interpolated maximum on the counts summed over images;
- OIS: counts of each image's best (non-interpolated) threshold summed, the LAST of tied maxima
  (``ff(end)``);
- AP: the benchmark's ``Area_PR``: precision linearly interpolated at recall 0:0.01:1 over the
  distinct recalls (0 outside their range), summed x 0.01.

The correspondence, thinning and NMS come from pyEdgeEval (the C++ of the official benchmark);
its ``AUC`` is this ``ap``, its ``AP`` key something else; it is imported only when an
evaluation runs. The matcher draws random outlier edges from a generator that pyEdgeEval seeds
from the clock: we reseed it before every call, so numbers are the same on every run and for
any number of workers (they may differ from an unseeded run in the 4th decimal).

Speed (the numbers do not change): images run in parallel processes; thresholds that give the
same thresholded map are thinned and matched once, thinned maps are matched once per distinct
map, and empty maps are not matched. See ``scripts/bench_boundaries.py``.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

__all__ = ["BoundaryResult", "evaluate_boundaries", "bsds_thresholds", "image_counts", "collect_counts",
           "boundary_nms", "MATCH_SEED"]

MATCH_SEED = 1  # the matcher's generator is reseeded with this before every call (0 would mean the clock)


# ---------------------------------------------------------------------------------------- results


@dataclass
class BoundaryResult:
    """ODS / OIS / AP of a set of edge maps, the official way (see the module docstring)."""

    ods: float
    ois: float
    ap: float                      # the benchmark's Area_PR (pyEdgeEval's "AUC")
    ods_threshold: float
    ods_recall: float
    ods_precision: float
    ois_recall: float
    ois_precision: float
    per_image: pd.DataFrame        # index image id: threshold, recall, precision, f (interpolated best)
    per_threshold: pd.DataFrame    # threshold, recall, precision, f over all images
    counts: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # id -> (T, 4) cntR sumR cntP sumP

    def summary(self) -> dict:
        return {"ods": self.ods, "ois": self.ois, "ap": self.ap, "ods_threshold": self.ods_threshold,
                "ods_recall": self.ods_recall, "ods_precision": self.ods_precision,
                "ois_recall": self.ois_recall, "ois_precision": self.ois_precision, "images": len(self.per_image)}

    def subset(self, ids: Sequence[str]) -> "BoundaryResult":
        """The same evaluation restricted to some images (no matching is redone)."""
        missing = [i for i in ids if i not in self.counts]
        if missing:
            raise KeyError(f"images not in this evaluation: {missing[:5]}")
        return collect_counts({i: self.counts[i] for i in ids}, self.per_threshold["threshold"].to_numpy())


# ---------------------------------------------------------------------------------------- MATLAB arithmetic


def _matlab_linspace(a: float, b: float, n: int) -> np.ndarray:
    """MATLAB's ``linspace(a, b, n)``: a + (k * (b - a)) / (n - 1), the last element exactly b."""
    if n == 1:
        return np.array([b], dtype=np.float64)
    k = np.arange(n - 1, dtype=np.float64)
    return np.append(a + (k * (b - a)) / (n - 1), b)


def _matlab_colon(a: float, step: float, b: float) -> np.ndarray:
    """MATLAB's ``a:step:b`` (the first half counted from a, the second half from b)."""
    n = int(np.floor((b - a) / step + 1e-10))
    k = np.arange(n + 1, dtype=np.float64)
    return np.where(k < n / 2, a + k * step, b - (n - k) * step)


def bsds_thresholds(n: Union[int, Sequence[float], np.ndarray] = 99) -> np.ndarray:
    """The benchmark's thresholds: n > 1 -> linspace(1/(n+1), 1-1/(n+1), n); n == 1 -> [0.5]
    (binary maps); an explicit array is used as given."""
    if np.ndim(n) == 0:
        n = int(n)
        if n < 1:
            raise ValueError(f"thresholds must be >= 1, got {n}")
        return np.array([0.5]) if n == 1 else _matlab_linspace(1.0 / (n + 1), 1.0 - 1.0 / (n + 1), n)
    t = np.asarray(n, dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("thresholds is empty")
    return t


def _fmeasure(r, p):
    return 2.0 * p * r / (p + r + ((p + r) == 0))


def _rp(cnt_r, sum_r, cnt_p, sum_p):
    return cnt_r / (sum_r + (sum_r == 0)), cnt_p / (sum_p + (sum_p == 0))


_STEPS = _matlab_linspace(0.0, 1.0, 100)  # maxF's linspace(0, 1)


def _max_f(thresh: np.ndarray, r: np.ndarray, p: np.ndarray):
    """``maxF.m``: the best F on straight segments between neighbouring thresholds (first maximum)."""
    best = (thresh[0], r[0], p[0], _fmeasure(r[0], p[0]))
    if len(thresh) > 1:
        d = _STEPS[None, :]
        t = thresh[1:, None] * d + thresh[:-1, None] * (1 - d)
        rr = r[1:, None] * d + r[:-1, None] * (1 - d)
        pp = p[1:, None] * d + p[:-1, None] * (1 - d)
        f = _fmeasure(rr, pp).reshape(-1)
        i = int(np.argmax(f))  # row-major = MATLAB's loop order (threshold, then step)
        if f[i] > best[3]:
            best = (t.reshape(-1)[i], rr.reshape(-1)[i], pp.reshape(-1)[i], f[i])
    return tuple(float(x) for x in best)


def _area_pr(r: np.ndarray, p: np.ndarray) -> float:
    """``Area_PR``: interp1 over unique recalls (the benchmark's MATLAB era: the LAST occurrence
    of a repeated recall), NaN outside their range counted as 0, at recall 0:0.01:1."""
    order = np.argsort(r, kind="stable")
    rs, ps = r[order], p[order]
    last = np.append(rs[1:] != rs[:-1], True)
    ru, pu = rs[last], ps[last]
    if ru.size <= 1:
        return 0.0
    ri = _matlab_colon(0.0, 0.01, 1.0)
    pi = np.interp(ri, ru, pu)
    pi[(ri < ru[0]) | (ri > ru[-1])] = 0.0
    return float(pi.sum() * 0.01)


def collect_counts(counts: Mapping[str, np.ndarray], thresholds) -> BoundaryResult:
    """``collect_eval_bdry``: per-image (T, 4) counts [cntR, sumR, cntP, sumP] -> ODS, OIS, AP."""
    thresh = bsds_thresholds(thresholds)
    if not counts:
        raise ValueError("no image to collect")
    total = np.zeros((len(thresh), 4))
    best_counts = np.zeros(4)
    rows = {}
    for iid, c in counts.items():
        c = np.asarray(c, dtype=np.float64)
        if c.shape != (len(thresh), 4):
            raise ValueError(f"image {iid}: counts of shape {c.shape}, expected {(len(thresh), 4)}")
        r, p = _rp(*c.T)
        f = _fmeasure(r, p)
        t_best, r_best, p_best, f_best = _max_f(thresh, r, p)
        rows[iid] = {"threshold": t_best, "recall": r_best, "precision": p_best, "f": f_best}
        best_counts += c[np.flatnonzero(f == f.max())[-1]]  # ff(end)
        total += c
    r, p = _rp(*total.T)
    f = _fmeasure(r, p)
    t_ods, r_ods, p_ods, f_ods = _max_f(thresh, r, p)
    r_ois, p_ois = _rp(*best_counts)
    per_image = pd.DataFrame.from_dict(rows, orient="index")
    per_image.index.name = "image"
    return BoundaryResult(
        ods=f_ods, ois=float(_fmeasure(r_ois, p_ois)), ap=_area_pr(r, p), ods_threshold=t_ods,
        ods_recall=r_ods, ods_precision=p_ods, ois_recall=float(r_ois), ois_precision=float(p_ois),
        per_image=per_image,
        per_threshold=pd.DataFrame({"threshold": thresh, "recall": r, "precision": p, "f": f}),
        counts={k: np.asarray(v, dtype=np.float64) for k, v in counts.items()})


# ---------------------------------------------------------------------------------------- one image


class _Matcher:
    """pyEdgeEval's correspondence with its generator reseeded before every call (per process)."""

    def __init__(self):
        try:
            from pyEdgeEval._lib import correspond_pixels
            from pyEdgeEval.preprocess import binary_thin
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("boundary evaluation needs pyEdgeEval (pip install 'pyedgeeval>=0.2.8', "
                              f"or the project's 'edges' extra): {exc}") from None
        self.correspond, self.thin = correspond_pixels, binary_thin
        try:
            lib = ctypes.CDLL(sys.modules["pyEdgeEval._lib.correspond_pixels"].__file__)
            self._rand = ctypes.addressof(ctypes.c_uint8.in_dll(lib, "_ZN6Random4randE"))  # Random::rand
            self._reseed = lib._ZN6Random6reseedEm                                          # Random::reseed
        except (OSError, ValueError, AttributeError, KeyError) as exc:  # pragma: no cover
            raise RuntimeError("cannot reach the random generator of pyEdgeEval's matcher (Random::rand, "
                               f"Random::reseed) to seed it: {exc}; pyEdgeEval 0.2.8 is known to work") from None
        self._reseed.argtypes, self._reseed.restype = [ctypes.c_void_p, ctypes.c_uint64], None

    def match(self, bmap: np.ndarray, gt: np.ndarray, max_dist: float):
        self._reseed(self._rand, MATCH_SEED)
        m1, m2, _, _ = self.correspond(bmap, gt, max_dist=max_dist)
        return m1 > 0, m2 > 0


_MATCHER: Optional[_Matcher] = None


def _matcher() -> _Matcher:
    global _MATCHER
    if _MATCHER is None:
        _MATCHER = _Matcher()
    return _MATCHER


def boundary_nms(edge_map: np.ndarray, r: int = 1, s: int = 5, m: float = 1.01) -> np.ndarray:
    """Non-maximum suppression of a soft edge map (Dollar & Zitnick's ``edgesNms`` as pyEdgeEval's
    ``fast_nms``: triangle smoothing, orientation from second derivatives, suppression across the
    edge, borders of width s damped)."""
    try:
        from pyEdgeEval.preprocess import fast_nms
    except ImportError as exc:  # pragma: no cover
        raise ImportError(f"NMS needs pyEdgeEval (pip install 'pyedgeeval>=0.2.8'): {exc}") from None
    return fast_nms(np.asarray(edge_map, dtype=np.float64), r=r, s=s, m=m)


def image_counts(pred: np.ndarray, ground_truth: Sequence[np.ndarray], thresholds=99, max_dist: float = 0.0075,
                 thin: bool = True, apply_nms: bool = False, dedupe: bool = True) -> np.ndarray:
    """(T, 4) [cntR, sumR, cntP, sumP] of one image at each threshold (``evaluation_bdry_image``).

    ``dedupe=False`` thins and matches every threshold (the plain loop; same numbers, for the benchmark).
    """
    thresh = bsds_thresholds(thresholds)
    pred = np.asarray(pred, dtype=np.float64)
    gts = [np.asarray(g) != 0 for g in ground_truth]
    if apply_nms:
        pred = boundary_nms(pred)
    mt = _matcher()
    out = np.zeros((len(thresh), 4))
    out[:, 1] = sum(float(g.sum()) for g in gts)
    by_map: Dict[bytes, np.ndarray] = {}
    n_on_prev, row_prev = -1, None
    order = np.argsort(thresh, kind="stable")
    values = np.sort(pred.reshape(-1))
    for i in order:
        if dedupe:  # maps of sorted thresholds are nested: same pixel count -> same map
            n_on = values.size - int(np.searchsorted(values, thresh[i], side="left"))
            if n_on == n_on_prev:
                out[i] = row_prev
                continue
            n_on_prev = n_on
        bmap = pred >= thresh[i]
        if thin:
            bmap = mt.thin(bmap)
        key = hashlib.blake2b(np.packbits(bmap).tobytes() + str(bmap.shape).encode(), digest_size=16).digest()
        if dedupe and key in by_map:
            out[i] = row_prev = by_map[key]
            continue
        out[i, 3] = float(bmap.sum())
        if out[i, 3] > 0:
            acc = np.zeros(bmap.shape, dtype=bool)
            for g in gts:
                if g.any():
                    m1, m2 = mt.match(bmap, g, max_dist)
                    acc |= m1
                    out[i, 0] += float(m2.sum())
            out[i, 2] = float(acc.sum())
        by_map[key] = row_prev = out[i].copy()
    return out


def _image_job(args):
    iid, pred, gts, thresholds, max_dist, thin, apply_nms = args
    return iid, image_counts(pred, gts, thresholds, max_dist, thin, apply_nms)


# ---------------------------------------------------------------------------------------- the API


def _check_inputs(predictions, ground_truth):
    if not isinstance(predictions, Mapping) or not isinstance(ground_truth, Mapping):
        raise TypeError("predictions and ground_truth must be mappings {image id: ...}")
    if not predictions:
        raise ValueError("predictions is empty")
    missing = [i for i in predictions if i not in ground_truth]
    if missing:
        raise KeyError(f"no ground truth for image(s) {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
    out = {}
    for iid, pred in predictions.items():
        p = np.asarray(pred)
        if p.dtype == np.uint8:  # as the benchmark reads a png: double(imread(f)) / 255
            p = p / 255.0
        p = p.astype(np.float64)
        gts = ground_truth[iid]
        if isinstance(gts, np.ndarray) and gts.ndim == 2:
            gts = [gts]
        gts = [np.asarray(g) for g in gts]
        if not gts:
            raise ValueError(f"image {iid}: no annotator's boundary map")
        if p.ndim != 2:
            raise ValueError(f"image {iid}: prediction must be a 2-D map, got shape {p.shape}")
        bad = [g.shape for g in gts if g.shape != p.shape]
        if bad:
            raise ValueError(f"image {iid}: prediction is {p.shape} but ground truth is {bad[0]}")
        if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
            raise ValueError(f"image {iid}: prediction must be finite and in [0, 1] "
                             f"(got min {np.nanmin(p):.4g}, max {np.nanmax(p):.4g})")
        out[iid] = (p, gts)
    return out


def _pool_context():
    import multiprocessing as mp

    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()


def evaluate_boundaries(predictions: Mapping[str, np.ndarray], ground_truth: Mapping[str, Sequence[np.ndarray]],
                        thresholds=99, max_dist: float = 0.0075, thin: bool = True, apply_nms: bool = False,
                        workers: Optional[int] = None) -> BoundaryResult:
    """The BSDS500 boundary benchmark of ``predictions`` {image id: float map in [0, 1] (uint8: /255)}
    against ``ground_truth`` {image id: list of the annotators' boolean boundary maps}.

    ``thresholds``: a count n (the benchmark's linspace; 1 = binary maps at 0.5) or explicit values;
    ``max_dist``: matching tolerance as a fraction of the image diagonal; ``thin``: thin each
    thresholded map first; ``apply_nms``: run :func:`boundary_nms` on each map first;
    ``workers``: processes (default: all cores, at most one per image; 1 = in this process).
    Returns a :class:`BoundaryResult` (``ods``, ``ois``, ``ap``, ``per_image``, ``per_threshold``).
    """
    items = _check_inputs(predictions, ground_truth)
    thresh = bsds_thresholds(thresholds)
    if max_dist <= 0:
        raise ValueError(f"max_dist must be > 0, got {max_dist}")
    n_workers = min(len(items), workers if workers is not None else (os.cpu_count() or 1))
    if n_workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    jobs = [(iid, p, g, thresh, max_dist, thin, apply_nms) for iid, (p, g) in items.items()]
    if n_workers == 1:
        counts = dict(map(_image_job, jobs))
    else:
        _matcher()  # import (and fail) here, not in every worker
        with ProcessPoolExecutor(n_workers, mp_context=_pool_context()) as pool:
            counts = dict(pool.map(_image_job, jobs, chunksize=1))
    return collect_counts({iid: counts[iid] for iid in items}, thresh)
