"""Prepared classification tasks: data readers -> imbalance protocol -> train/val/test ImageSets.

- ``prepare_mnist_rot_back``: the LMLE Table 5 control (Sec. 5 protocol: 12,000
  train+valid and 50,000 test digits; Gaussian-like removal; 10% of the
  remaining originals held out for validation; the rest augmented x10 by
  random rotation, mirroring and resizing).
- ``prepare_digits``: scikit-learn's 8x8 digits (shipped with scikit-learn) with
  the same removal protocol: the no-data demo.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .data.augment import augment_composited, augment_digits
from .data.imbalance import remove_gaussian_like
from .data.mnist_rot_back import load_mnist_rot_back_image, rot_back_sources
from .imageset import ImageSet, PreparedData


def stratified_split(labels, fraction: float, seed: int):
    """(kept, held_out) index arrays; ``fraction`` of every class held out (at least one if it has 2+)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(fraction * len(idx)))
        if len(idx) > 1:
            n = min(max(n, 1), len(idx) - 1)
        held.append(idx[:n])
    held = np.sort(np.concatenate(held)) if held else np.empty(0, int)
    kept = np.setdiff1d(np.arange(len(labels)), held)
    return kept, held


def stratified_subset(labels, n: Optional[int], seed: int) -> np.ndarray:
    """About ``n`` indices with the class proportions of ``labels`` (all when n is None or too big)."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    _, sub = stratified_split(labels, n / len(labels), seed)
    return sub


AUGMENTATIONS = {
    "zero-padded": "the composited image rotated, rescaled and mirrored, zeros in the uncovered corners "
                   "(as first implemented)",
    "clean": "regenerated data: the bare digit rotated, rescaled and mirrored, then composited over a fresh "
             "background patch; official data: the image warped with reflection padding",
}


def _imbalanced_split(images, labels, removal_percent, val_fraction, augment_factor, seed, max_ratio=None,
                      augment=None):
    """((train x, y, source group), (val x, y), kept): removal, validation hold-out, augmentation of the rest.
    ``augment(kept_train_index, x, y)`` -> (x, y, source) replaces the default :func:`augment_digits`."""
    keep = remove_gaussian_like(labels, removal_percent / 100.0, seed=seed, max_ratio=max_ratio)
    x, y = images[keep], labels[keep]
    train_idx, val_idx = stratified_split(y, val_fraction, seed + 1)
    if augment_factor > 1 and augment is not None:
        x_train, y_train, src = augment(keep[train_idx], x[train_idx], y[train_idx])
    elif augment_factor > 1:
        x_train, y_train, src = augment_digits(x[train_idx], y[train_idx], factor=augment_factor, seed=seed + 2)
    else:
        x_train, y_train, src = x[train_idx], y[train_idx], np.arange(len(train_idx))
    return (x_train, y_train, src), (x[val_idx], y[val_idx]), len(keep)


def prepare_mnist_rot_back(data_root=None, removal_percent: float = 0.0, n_train: Optional[int] = None,
                           n_test: Optional[int] = None, augment_factor: int = 10, val_fraction: float = 0.1,
                           seed: int = 0, data_seed: int = 0, device=None, progress: bool = True,
                           augmentation: str = "zero-padded", mirror: bool = True,
                           max_ratio: Optional[float] = None) -> PreparedData:
    """MNIST-rot-back-image with ``removal_percent`` % removed by the Gaussian-like class profile
    (``max_ratio``: the steep profile with that largest:smallest class ratio instead).

    ``n_train`` / ``n_test`` take stratified subsets of the 12,000 / 50,000 digits
    (smaller profiles); the removal, split and augmentation then apply to that subset.
    ``augmentation``: a key of :data:`AUGMENTATIONS`; ``mirror``: flip half of the copies.
    The returned data's ``train_groups`` name each training image's source digit.
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation={augmentation!r}; expected one of {sorted(AUGMENTATIONS)}")
    rb = load_mnist_rot_back_image(data_root, seed=data_seed, progress=progress)
    sub = stratified_subset(rb.train_labels, n_train, seed)
    sources = rot_back_sources(rb, data_root) if augmentation == "clean" else None
    aug_kw = dict(factor=augment_factor, seed=seed + 2, mirror=mirror)

    def augment(kept, x, y):
        if sources is not None:
            return augment_composited(x, sources[0][sub][kept], y, sources[1], **aug_kw)
        return augment_digits(x, y, padding="reflection" if augmentation == "clean" else "zeros", **aug_kw)

    (xt, yt, groups), (xv, yv), kept = _imbalanced_split(rb.train_images[sub], rb.train_labels[sub],
                                                         removal_percent, val_fraction, augment_factor, seed,
                                                         max_ratio, augment)
    test_idx = stratified_subset(rb.test_labels, n_test, seed)
    train = ImageSet.from_numpy(xt, yt, device=device, name="train")
    stats = dict(mean=train.mean, std=train.std, device=device)
    sizes = np.bincount(yt, minlength=10)
    profile = f"steep, ratio {max_ratio:g}" if max_ratio and removal_percent else "Gaussian-like"
    return PreparedData(
        name=f"mnist-rot-back-remove{removal_percent:g}" + (f"-ratio{max_ratio:g}" if max_ratio else ""),
        net="mnist", n_classes=10, train=train,
        val=ImageSet.from_numpy(xv, yv, name="val", **stats),
        test=ImageSet.from_numpy(rb.test_images[test_idx], rb.test_labels[test_idx], name="test", **stats),
        train_groups=groups,
        description={"dataset": "MNIST-rot-back-image", "source": rb.source,
                     "originals": f"{len(sub)} train+valid digits, {kept} after removing {removal_percent:g}% "
                                  f"({profile} profile)",
                     "class_ratio": f"{sizes.max() / max(sizes.min(), 1):.2f}",
                     "augmentation": (f"x{augment_factor}" + ("" if augmentation == "zero-padded" else f", {augmentation}")
                                      + ("" if mirror else ", no mirroring")) if augment_factor > 1 else "none"})


def prepare_digits(removal_percent: float = 40.0, test_fraction: float = 0.3, val_fraction: float = 0.1,
                   augment_factor: int = 4, seed: int = 0, device=None) -> PreparedData:
    """scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn), imbalanced like Table 5."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    rest, test_idx = stratified_split(labels, test_fraction, seed)
    (xt, yt, groups), (xv, yv), kept = _imbalanced_split(images[rest], labels[rest], removal_percent,
                                                         val_fraction, augment_factor, seed)
    train = ImageSet.from_numpy(xt, yt, device=device, name="train")
    stats = dict(mean=train.mean, std=train.std, device=device)
    return PreparedData(
        name=f"sklearn-digits-remove{removal_percent:g}", net="digits8", n_classes=10, train=train,
        val=ImageSet.from_numpy(xv, yv, name="val", **stats),
        test=ImageSet.from_numpy(images[test_idx], labels[test_idx], name="test", **stats), train_groups=groups,
        description={"dataset": "scikit-learn digits (8x8)",
                     "originals": f"{len(rest)} train+valid digits, {kept} after removing {removal_percent:g}%",
                     "augmentation": f"x{augment_factor}" if augment_factor > 1 else "none"})



class CelebATasks:
    """CelebA decoded once; one binary ``PreparedData`` per attribute sharing the image tensors."""

    def __init__(self, data_root=None, max_per_split: Optional[int] = None, device=None, progress: bool = True):
        from .data.celeba import load_celeba

        self.celeba = load_celeba(data_root, max_per_split=max_per_split, progress=progress)
        self.attribute_names = list(self.celeba.attribute_names)
        self._sets = {}
        stats = None
        for code, split in enumerate(("train", "val", "test")):
            rows = np.flatnonzero(self.celeba.split == code)
            if len(rows) == 0:
                raise ValueError(f"CelebA split {split!r} has no images under the data root")
            s = ImageSet.from_numpy(np.asarray(self.celeba.images[rows]), np.zeros(len(rows), np.int64),
                                    device=device, name=split, **(stats or {}))
            stats = stats or dict(mean=s.mean, std=s.std)
            self._sets[split] = (s, rows)

    def counts(self):
        return {split: len(s) for split, (s, _) in self._sets.items()}

    def attributes(self, names: Optional[list] = None) -> PreparedData:
        """The multi-label task of ``names`` (default: all 40 attributes), labels (N, A) in {0, 1}."""
        names = list(self.attribute_names) if names is None else list(names)
        unknown = [n for n in names if n not in self.attribute_names]
        if unknown:
            raise ValueError(f"unknown CelebA attribute(s) {unknown}; choose from {self.attribute_names}")
        cols = [self.attribute_names.index(n) for n in names]
        sets = {split: ImageSet(s.images, self.celeba.attributes[rows][:, cols].astype(np.int64), s.mean, s.std, split)
                for split, (s, rows) in self._sets.items()}
        return PreparedData(name=f"celeba-{len(names)}attr", net="face", n_classes=2, tasks=names, **sets,
                            description={"dataset": "CelebA (images present under the data root)",
                                         "attributes": f"{len(names)}"})

    def attribute(self, name: str) -> PreparedData:
        """The binary task of one attribute (1 = attribute present)."""
        if name not in self.attribute_names:
            raise ValueError(f"unknown CelebA attribute {name!r}; choose from {self.attribute_names}")
        a = self.attribute_names.index(name)
        sets = {split: ImageSet(s.images, self.celeba.attributes[rows, a].astype(np.int64), s.mean, s.std, split)
                for split, (s, rows) in self._sets.items()}
        return PreparedData(name=f"celeba-{name}", net="face", n_classes=2, **sets,
                            description={"dataset": "CelebA (images present under the data root)",
                                         "attribute": name,
                                         "positive_rate": f"{100 * sets['train'].labels.mean():.1f}% of train"})
