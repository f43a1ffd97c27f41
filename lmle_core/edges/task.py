"""BSDS500 edge detection as imbalanced multi-class patch classification (LMLE Sec. 5).

:func:`prepare_bsds_edges` builds the task the method registry trains on:

- 45x45 RGB patches (cut on demand from the padded images: :class:`lmle_core.edges.patchset.PatchSet`),
  as many edge as non-edge patches from every image: an edge patch is centred on a pixel some
  annotator marked as boundary, a non-edge patch on a pixel farther than ``negative_margin``
  pixels from every annotator's boundary (Sec. 5: "the numbers of edge and non-edge ones are the same");
- each patch's ground-truth label patch: the ``label_size`` x ``label_size`` window of the
  annotators' mean boundary map around its centre (the patches transferred at test time);
- the 150 edge classes: k-means on the edge patches' label patches (smoothed by a Gaussian of
  sigma 1 so that a one-pixel shift costs little), numbered 1..K by decreasing training size;
  class 0 is the non-edge class (half the data: the imbalance the paper addresses);
- prior features for the first clustering (Table 1: hand-crafted low-level channel features,
  :mod:`lmle_core.edges.features`), and ``negative_class = 0`` for the positive-sharing costs.

``inputs="pixels"`` (the paper) gives the patch CNN its 45x45 RGB patches; ``inputs="descriptors"``
(the CPU profiles) gives every patch its channel descriptor instead, for the MLP of
:mod:`lmle_core.edges.descriptor_net` (same patches, labels and label patches).

Train patches come from the train split, validation patches (early stopping) from val, test
patches (patch-level accuracy only; edge maps are evaluated on whole test images) from the test
images the study evaluates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .. import search
from ..data.bsds import BSDSImage, load_bsds500
from .descriptor_net import NET_NAME as DESCRIPTOR_NET, FeatureSet
from .features import FEATURE_GRIDS, channel_features, patch_features, standardize
from ..imageset import PreparedData
from .patchset import PatchSet, gather_patches
from ..runcache import array_fingerprint

PATCH = 45
HALF = PATCH // 2
INPUTS = ("pixels", "descriptors")
PRIOR_GRIDS = FEATURE_GRIDS[:1]  # the prior features: 5 x 5 cells over the patch (13 x 25 = 325 values)
PRIOR_DIM = 13 * 25


@dataclass
class EdgeTask:
    """The prepared edge task and what label transfer needs."""

    data: PreparedData                      # train / val / test PatchSets, labels 0 = non-edge, 1..K edge classes
    label_size: int
    label_patches: Dict[str, torch.Tensor]  # split -> (N, L, L) uint8: annotators' mean boundary map x 255
    edge_centroids: np.ndarray              # (K, L*L) k-means centres of the smoothed edge label patches
    class_patches: np.ndarray               # (K + 1, L, L) float32 mean label patch of each class (train)
    image_ids: Dict[str, List[str]] = field(default_factory=dict)
    reoriented: List[str] = field(default_factory=list)
    prior_stats: Optional[tuple] = None     # (mean, std) (325,) of the raw prior features (standardize's)

    @property
    def n_edge_classes(self) -> int:
        return int(self.edge_centroids.shape[0])

    def counts(self) -> Dict[str, int]:
        return self.data.counts()

    def cluster_patches(self, assignments: np.ndarray, n_clusters: int) -> torch.Tensor:
        """(n_clusters, L*L) float32 mean training label patch of each cluster (values in [0, 1])."""
        lp = self.label_patches["train"]
        a = torch.as_tensor(np.asarray(assignments), device=lp.device, dtype=torch.long)
        sums = torch.zeros(n_clusters, lp.shape[1] * lp.shape[2], device=lp.device)
        for s in range(0, len(a), 65536):
            sums.index_add_(0, a[s:s + 65536], lp[s:s + 65536].reshape(len(a[s:s + 65536]), -1).float())
        n = torch.bincount(a, minlength=n_clusters).clamp_min(1).float()[:, None]
        return sums / n / 255.0


def _canvas(images: Sequence[np.ndarray], pad: int, fill_reflect: bool = True) -> np.ndarray:
    """(n, ..., Hc, Wc) canvas of images reflect-padded by ``pad`` (+1 bottom/right), top-left aligned."""
    hc = max(im.shape[0] for im in images) + 2 * pad + 1
    wc = max(im.shape[1] for im in images) + 2 * pad + 1
    extra = images[0].shape[2:] if images[0].ndim == 3 else ()
    out = np.zeros((len(images), hc, wc) + extra, dtype=images[0].dtype)
    for i, im in enumerate(images):
        widths = ((pad, pad + 1), (pad, pad + 1)) + ((0, 0),) * (im.ndim - 2)
        p = np.pad(im, widths, mode="reflect" if fill_reflect else "constant")
        out[i, :p.shape[0], :p.shape[1]] = p
    return out


def _sample_centres(img: BSDSImage, n_each: int, negative_margin: int, rng: np.random.Generator):
    """(ys, xs, is_edge) of up to ``n_each`` edge and as many non-edge centres of one image."""
    from scipy import ndimage

    union = np.zeros(img.boundaries[0].shape, dtype=bool)
    for b in img.boundaries:
        union |= b
    far = ndimage.distance_transform_edt(~union) > negative_margin
    pos, neg = np.flatnonzero(union), np.flatnonzero(far)
    n = min(n_each, len(pos), len(neg))
    pick = np.concatenate([rng.choice(pos, n, replace=False), rng.choice(neg, n, replace=False)])
    ys, xs = np.unravel_index(pick, union.shape)
    return ys, xs, np.repeat([True, False], n)


def smooth_label_patches(label_patches: torch.Tensor) -> np.ndarray:
    """(n, L, L) uint8 label patches -> (n, L*L) float32 smoothed by a Gaussian of sigma 1 (k-means features)."""
    from scipy import ndimage

    x = label_patches.cpu().numpy().astype(np.float32) / 255.0
    return ndimage.gaussian_filter(x, sigma=(0, 1, 1), mode="constant").reshape(len(x), -1)


class _Split:
    """Centres, label patches, descriptors (when asked) and canvases (pixels) of one split."""

    def __init__(self, images: List[BSDSImage], n_patches: int, label_size: int, negative_margin: int,
                 seed: int, device, grids, with_canvas: bool):
        if not images:
            raise ValueError("no image to sample patches from")
        rng = np.random.default_rng(seed)
        n_each = max(1, int(np.ceil(n_patches / (2 * len(images)))))
        lpad = label_size // 2
        self.ids = [im.id for im in images]
        ys, xs, edge, which, desc = [], [], [], [], []
        for k, im in enumerate(images):
            y, x, e = _sample_centres(im, n_each, negative_margin, rng)
            ys.append(y), xs.append(x), edge.append(e), which.append(np.full(len(y), k))
            if grids:
                desc.append(patch_features(channel_features(im.image), y, x, grids))
        self.ys, self.xs = np.concatenate(ys), np.concatenate(xs)
        self.edge, self.image = np.concatenate(edge), np.concatenate(which)
        keep = np.sort(rng.permutation(len(self.ys))[:n_patches]) if len(self.ys) > n_patches else slice(None)
        self.ys, self.xs, self.edge, self.image = self.ys[keep], self.xs[keep], self.edge[keep], self.image[keep]
        self.features = np.concatenate(desc)[keep] if grids else None
        self.canvas = None
        if with_canvas:
            canvas = _canvas([im.image for im in images], HALF)                    # (n, Hc, Wc, 3)
            self.canvas = torch.from_numpy(np.ascontiguousarray(canvas.transpose(0, 3, 1, 2))).to(device)
        soft = [np.round(255.0 * np.mean(im.boundaries, axis=0)).astype(np.uint8) for im in images]
        gt = torch.from_numpy(_canvas(soft, lpad, fill_reflect=False)).to(device)
        idx = torch.as_tensor(self.image)
        self.labels_patches = gather_patches(gt, idx, torch.as_tensor(self.ys), torch.as_tensor(self.xs), label_size)


def _load(data_root, split: str, max_images: Optional[int], progress: bool) -> List[BSDSImage]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quarter-turned jpgs: recorded in EdgeTask.reoriented
        return load_bsds500(data_root, splits=(split,), max_per_split=max_images, progress=progress)


def prepare_bsds_edges(data_root=None, n_patches: int = 2_000_000, n_val_patches: int = 20_000,
                       n_test_patches: int = 20_000, n_edge_classes: int = 150, label_size: int = 17,
                       negative_margin: int = 2, max_train_images: Optional[int] = None,
                       max_val_images: Optional[int] = None, test_images: Optional[List[BSDSImage]] = None,
                       seed: int = 0, device=None, progress: bool = True, inputs: str = "pixels") -> EdgeTask:
    """The LMLE edge task on BSDS500 (see the module docstring). ``test_images`` (the images the study
    evaluates; default: the first 10 test images) give the test patches; ``inputs``: "pixels" (45x45
    RGB patches for the patch CNN) or "descriptors" (channel descriptors for the descriptor MLP)."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
    if label_size < 1 or label_size % 2 == 0:
        raise ValueError(f"label_size must be odd and positive, got {label_size}")
    if n_edge_classes < 1:
        raise ValueError(f"n_edge_classes must be >= 1, got {n_edge_classes}")
    train_imgs = _load(data_root, "train", max_train_images, progress)
    val_imgs = _load(data_root, "val", max_val_images, progress)
    test_imgs = test_images if test_images is not None else _load(data_root, "test", 10, progress)
    pixels = inputs == "pixels"
    grids = {"train": PRIOR_GRIDS if pixels else FEATURE_GRIDS, "val": () if pixels else FEATURE_GRIDS,
             "test": () if pixels else FEATURE_GRIDS}
    splits = {name: _Split(imgs, n, label_size, negative_margin, seed + i, device, grids[name], pixels)
              for i, (name, imgs, n) in enumerate((("train", train_imgs, n_patches), ("val", val_imgs, n_val_patches),
                                                   ("test", test_imgs, n_test_patches)))}
    tr = splits["train"]
    edge_tr = np.flatnonzero(tr.edge)
    k = int(min(n_edge_classes, len(edge_tr)))
    feats = smooth_label_patches(tr.labels_patches[torch.as_tensor(edge_tr, device=tr.labels_patches.device)])
    cents = search.kmeans(feats, k, n_iter=20, seed=seed).cpu().numpy()
    raw = search.assign_to_nearest(feats, cents)
    order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")   # class 1 = the most frequent shape
    cents = cents[order]
    labels = {}
    for name, sp in splits.items():
        y = np.zeros(len(sp.ys), dtype=np.int64)
        e = np.flatnonzero(sp.edge)
        if len(e):
            y[e] = 1 + search.assign_to_nearest(
                smooth_label_patches(sp.labels_patches[torch.as_tensor(e, device=sp.labels_patches.device)]), cents)
        labels[name] = y
    sets = _patch_sets(splits, labels) if pixels else _feature_sets(splits, labels, device)
    lp = tr.labels_patches.float().reshape(len(labels["train"]), -1)
    y_tr = torch.as_tensor(labels["train"], device=lp.device)
    class_sum = torch.zeros(k + 1, lp.shape[1], device=lp.device).index_add_(0, y_tr, lp)
    class_patches = (class_sum / torch.bincount(y_tr, minlength=k + 1).clamp_min(1)[:, None].float() / 255.0)
    raw_prior = tr.features[:, :PRIOR_DIM]
    prior_stats = (raw_prior.mean(0), raw_prior.std(0) + 1e-6)   # standardize()'s statistics
    prior = standardize(raw_prior)[0]
    fp = array_fingerprint(*(t for sp in splits.values() for t in (sp.image, sp.ys, sp.xs)),
                           *(sp.canvas if pixels else sp.features for sp in splits.values()),
                           *labels.values(), np.array([label_size, k, INPUTS.index(inputs)]))
    counts = {name: int(len(v)) for name, v in labels.items()}
    data = PreparedData(
        name=f"bsds500-edges-{inputs}-{counts['train']}", net="patch" if pixels else DESCRIPTOR_NET,
        n_classes=k + 1, train=sets["train"],
        val=sets["val"], test=sets["test"], prior_features=prior, negative_class=0, _fingerprint=fp,
        description={"dataset": "BSDS500", "patches": f"{PATCH}x{PATCH}",
                     "inputs": "RGB pixels" if pixels else f"channel descriptors ({sets['train'].features.shape[1]} values)",
                     "images": f"train {len(train_imgs)}, val {len(val_imgs)}, test {len(test_imgs)}",
                     "classes": f"{k} edge classes (k-means on {label_size}x{label_size} ground-truth patches) "
                                f"+ non-edge", "edge_share": f"{tr.edge.mean():.3f} of train patches"})
    reoriented = [f"{im.split}/{im.id}" for im in train_imgs + val_imgs + list(test_imgs) if im.reoriented]
    return EdgeTask(data=data, label_size=label_size,
                    label_patches={n: sp.labels_patches for n, sp in splits.items()},
                    edge_centroids=cents, class_patches=class_patches.reshape(k + 1, label_size, label_size)
                    .cpu().numpy(), image_ids={n: sp.ids for n, sp in splits.items()}, reoriented=reoriented,
                    prior_stats=prior_stats)


def _patch_sets(splits, labels) -> dict:
    canvas_f = splits["train"].canvas.float() / 255.0
    mean = tuple(canvas_f.mean((0, 2, 3)).tolist())
    std = tuple(canvas_f.std((0, 2, 3)).clamp_min(1e-3).tolist())
    return {name: PatchSet(sp.canvas, sp.image, sp.ys, sp.xs, labels[name], PATCH, mean, std, name)
            for name, sp in splits.items()}


def _feature_sets(splits, labels, device) -> dict:
    train = splits["train"].features
    mean, std = train.mean(0), train.std(0) + 1e-6
    return {name: FeatureSet(torch.from_numpy(sp.features).to(device), labels[name], mean, std, name)
            for name, sp in splits.items()}
