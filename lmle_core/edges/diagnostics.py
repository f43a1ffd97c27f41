"""Where an edge pipeline loses between the patch and the map: oracles, prior features, orientation.

- :func:`oracle_maps`: the transfer step with the right answer at every grid point. ``"class"``:
  each grid point gets the mean label patch of its true class (an edge point, on some annotator's
  boundary, the edge class nearest its smoothed ground-truth label patch, as the training labels
  are made; every other point the non-edge class); ``"bank"``: the row of a given bank of label
  patches (e.g. LMLE-kNN's cluster means) nearest its ground-truth label patch. Upper bounds of
  what label transfer from those banks can give.
- :func:`prior_outputs`: the hand-crafted prior features (the first clustering's, LMLE Table 1) at
  every grid point, so that they can be read by the same cluster transfer as a learned embedding;
  :func:`cluster_transfer` builds that transfer from any training features.
- :func:`orientation_auc`: does a higher map value mean an edge? The probability that a pixel on an
  annotator's boundary scores higher than a pixel far from every boundary (0.5: no signal; below
  0.5: an inverted score), with the maps' value range to spot a mis-scaled one.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import clustering, search
from .features import channel_features, patch_features
from .maps import LabelTransfer, fold_patches
from .task import PRIOR_GRIDS, EdgeTask, smooth_label_patches


def gt_label_windows(boundaries: Sequence[np.ndarray], label_size: int, stride: int):
    """The ground-truth label patches at every grid point of one image, as training makes them.

    Returns ((n, L, L) uint8 windows of the annotators' mean boundary map x 255, (n,) bool "on a
    boundary", grid (h, w))."""
    if label_size < 1 or label_size % 2 == 0:
        raise ValueError(f"label_size must be odd and positive, got {label_size}")
    b = np.asarray(boundaries, dtype=bool)
    soft = np.round(255.0 * b.mean(0)).astype(np.uint8)
    h, w = soft.shape
    half = label_size // 2
    padded = np.pad(soft, half)
    ys, xs = np.meshgrid(np.arange(0, h, stride), np.arange(0, w, stride), indexing="ij")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (label_size, label_size))[ys.ravel(), xs.ravel()]
    return np.ascontiguousarray(windows), b.any(0)[ys.ravel(), xs.ravel()], ys.shape


def oracle_maps(ground_truth: Mapping[str, Sequence[np.ndarray]], task: EdgeTask, stride: int = 2,
                kind: str = "class", bank=None) -> Dict[str, np.ndarray]:
    """{id: (H, W) raw map}: label transfer with the ground-truth answer at every grid point (see the
    module docstring); ``bank`` (M, L*L) in [0, 1] for ``kind="bank"``. Finish with ``maps.finish_maps``."""
    if kind not in ("class", "bank"):
        raise ValueError(f"kind must be 'class' or 'bank', got {kind!r}")
    L = task.label_size
    if kind == "bank":
        if bank is None:
            raise ValueError("kind='bank' needs a bank of label patches")
        bank = torch.as_tensor(bank, dtype=torch.float32).reshape(len(bank), -1).cpu()
        if bank.shape[1] != L * L:
            raise ValueError(f"bank rows have {bank.shape[1]} values, label patches {L * L}")
    classes = torch.as_tensor(task.class_patches, dtype=torch.float32).reshape(len(task.class_patches), -1)
    out = {}
    for iid, gts in ground_truth.items():
        windows, on_edge, grid = gt_label_windows(gts, L, stride)
        if kind == "class":
            cls = np.zeros(len(windows), dtype=np.int64)
            e = np.flatnonzero(on_edge)
            if len(e):
                smooth = smooth_label_patches(torch.from_numpy(windows[e]))
                cls[e] = 1 + search.assign_to_nearest(smooth, task.edge_centroids)
            patches = classes[torch.from_numpy(cls)]
        else:
            q = torch.from_numpy(windows.reshape(len(windows), -1)).float() / 255.0
            _, idx = search.nearest(q, bank, k=1)
            patches = bank[idx[:, 0].cpu()]
        h, w = np.asarray(gts[0]).shape
        out[iid] = np.clip(fold_patches(patches, grid, stride, (h, w)).numpy().astype(np.float64), 0.0, 1.0)
    return out


def prior_outputs(task: EdgeTask, stride: int = 2) -> Callable:
    """``outputs(image) -> (features (h*w, 325), None, grid)``: the standardised, L2-normalised
    hand-crafted prior features at every grid point (as ``data.prior_features`` are for training)."""
    if task.prior_stats is None:
        raise ValueError("this EdgeTask has no prior statistics (made by an older prepare_bsds_edges)")
    mean, std = (np.asarray(a, dtype=np.float32) for a in task.prior_stats)

    def outputs(image: np.ndarray):
        h, w = image.shape[:2]
        ys, xs = np.meshgrid(np.arange(0, h, stride), np.arange(0, w, stride), indexing="ij")
        z = (patch_features(channel_features(image), ys.ravel(), xs.ravel(), PRIOR_GRIDS) - mean) / std
        return F.normalize(torch.from_numpy(z), dim=1), None, ys.shape

    return outputs


def cluster_transfer(features, task: EdgeTask, cluster_size: int, k: int = 20, seed: int = 0) -> LabelTransfer:
    """Cluster-wise label transfer from any (N_train, d) features of the training patches (clusters of
    ``cluster_size`` inside each class, their mean label patches)."""
    labels = task.data.train.labels
    cl = clustering.cluster_per_class(features, labels, cluster_size, seed=seed)
    return LabelTransfer("cluster", task.cluster_patches(cl.assignments, cl.n_clusters),
                         torch.as_tensor(cl.centroids), k=k)


def orientation_auc(maps: Mapping[str, np.ndarray], ground_truth: Mapping[str, Sequence[np.ndarray]],
                    far: int = 5, n_samples: int = 20000, seed: int = 0) -> dict:
    """P(value at a boundary pixel > value at a pixel farther than ``far`` px from every boundary),
    ties counting half, over pixels pooled from all images (``n_samples`` of each kind), with the
    median and 99th percentile of the maps' values. 0.5 means no signal; below 0.5 an inverted map."""
    from scipy import ndimage
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(seed)
    pos, neg, values = [], [], []
    for iid, m in maps.items():
        union = np.asarray(ground_truth[iid], dtype=bool).any(0)
        far_mask = ndimage.distance_transform_edt(~union) > far
        m = np.asarray(m, dtype=np.float64)
        pos.append(m[union])
        neg.append(m[far_mask])
        values.append(m.ravel())
    pos, neg, values = np.concatenate(pos), np.concatenate(neg), np.concatenate(values)
    if not len(pos) or not len(neg):
        raise ValueError("orientation_auc needs boundary pixels and pixels far from every boundary")
    pos = rng.choice(pos, min(n_samples, len(pos)), replace=False)
    neg = rng.choice(neg, min(n_samples, len(neg)), replace=False)
    auc = mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))
    return {"orientation_auc": float(auc), "median_value": float(np.median(values)),
            "p99_value": float(np.percentile(values, 99))}
