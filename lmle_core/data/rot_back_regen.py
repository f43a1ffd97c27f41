"""Regeneration of MNIST-rot-back-image (Larochelle et al., ICML 2007) and its data classes.

Used by :func:`lmle_core.data.mnist_rot_back.load_mnist_rot_back_image` when the
official .amat files are absent; see :func:`regenerate_rot_back_image`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ._affine import inverse_matrices, to_uint8, warp

__all__ = ["MIN_PATCH_STD", "Provenance", "RotBackImage", "regenerate_rot_back_image"]

# A candidate background patch is rejected when the standard deviation of its
# pixels (intensities in [0, 1]) is below this: flat sky, water or wall. On
# the 20 BSDS500 backgrounds this rejects about a third of the random
# candidates (patch std percentiles: 10% 0.021, 30% 0.046, 50% 0.082).
MIN_PATCH_STD = 0.05
PATCH = 28


# --------------------------------------------------------------------------- dataset


@dataclass
class Provenance:
    """How each regenerated example was made.

    ``mnist_index``: row in the MNIST pool given to the generator (the loader
    passes MNIST train rows 0..59,999 then t10k rows as 60,000..69,999);
    ``angle``: rotation in radians (counter-clockwise on screen);
    ``background_index``: index into ``background_ids``; ``patch_yx``: top-left
    corner of the 28x28 background patch.
    """

    mnist_index: np.ndarray
    angle: np.ndarray
    background_index: np.ndarray
    patch_yx: np.ndarray


@dataclass
class RotBackImage:
    """MNIST-rot-back-image: uint8 (N, 28, 28) images (0..255) and int64 labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    background_ids: List[str] = field(default_factory=list)
    train_provenance: Optional[Provenance] = None
    test_provenance: Optional[Provenance] = None
    seed: Optional[int] = None

    def counts(self) -> Dict[str, int]:
        return {"train": int(len(self.train_labels)), "test": int(len(self.test_labels))}

    def describe(self) -> str:
        c = self.counts()
        return f"MNIST-rot-back-image ({self.source}): train+valid {c['train']:,} / test {c['test']:,}"


# --------------------------------------------------------------------------- regeneration


def sample_patches(rng, backgrounds: Sequence[np.ndarray], n: int, min_std: float, max_rounds: int = 200):
    """n random 28x28 patches with std >= min_std (intensities in [0, 1])."""
    k = len(backgrounds)
    views = [np.lib.stride_tricks.sliding_window_view(b, (PATCH, PATCH)) for b in backgrounds]
    ny = np.array([v.shape[0] for v in views])
    nx = np.array([v.shape[1] for v in views])
    bg = np.zeros(n, np.int16)
    yx = np.zeros((n, 2), np.int32)
    patches = np.zeros((n, PATCH, PATCH), np.uint8)
    pending = np.arange(n)
    for _ in range(max_rounds):
        if len(pending) == 0:
            break
        m = len(pending)
        b = rng.integers(0, k, m)
        y = (rng.random(m) * ny[b]).astype(np.int64)
        x = (rng.random(m) * nx[b]).astype(np.int64)
        cand = np.empty((m, PATCH, PATCH), np.uint8)
        for j in np.unique(b):
            sel = np.flatnonzero(b == j)
            cand[sel] = views[j][y[sel], x[sel]]
        ok = cand.reshape(m, -1).astype(np.float32).std(axis=1) / 255.0 >= min_std
        dst = pending[ok]
        bg[dst], yx[dst, 0], yx[dst, 1], patches[dst] = b[ok], y[ok], x[ok], cand[ok]
        pending = pending[~ok]
    if len(pending):
        raise ValueError(
            f"could not find background patches with std >= min_patch_std={min_std} "
            f"after {max_rounds} rounds; lower min_patch_std or use more textured backgrounds"
        )
    return bg, yx, patches


def as_gray_uint8(img, i) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3:
        a = a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2 luma
    if a.dtype != np.uint8:
        a = np.asarray(a, np.float64)
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        a = to_uint8(a)
    if a.ndim != 2 or a.shape[0] < PATCH or a.shape[1] < PATCH:
        raise ValueError(f"background image {i} must be a 2-D image of at least 28x28, got shape {a.shape}")
    return a


def regenerate_rot_back_image(
    mnist_images: np.ndarray,
    mnist_labels: np.ndarray,
    background_images: Sequence[np.ndarray],
    n_train: int = 12000,
    n_test: int = 50000,
    seed: int = 0,
    train_pool_size: Optional[int] = None,
    min_patch_std: float = MIN_PATCH_STD,
    background_ids: Optional[Sequence[str]] = None,
    batch_size: int = 8192,
) -> RotBackImage:
    """Regenerate MNIST-rot-back-image after Larochelle et al. (2007).

    * Digits: ``n_train`` (train+valid) drawn without replacement from the
      first ``train_pool_size`` rows of ``mnist_images`` (MNIST train; all
      rows when None), ``n_test`` from all the rows not used for training
      (MNIST train remainder + t10k): disjoint by construction, recorded in
      ``*_provenance.mnist_index`` (sorted).
    * Each digit is rotated about its centre by an angle uniform in [0, 2*pi)
      (bilinear, zeros outside), then combined with a random 28x28 patch of
      a background image chosen uniformly among ``background_images``
      (grayscale; the patch position uniform over the image), redrawing
      patches whose pixel std (in [0, 1] units) is below ``min_patch_std``
      (default :data:`MIN_PATCH_STD` = 0.05).
    * pixel = max(rotated digit, background), in 0..255: the rotated digit is
      rounded to uint8 first, so ``image == max(rot_uint8, patch)`` exactly.

    Deterministic from ``seed`` (numpy ``default_rng``). Returns a
    :class:`RotBackImage` of uint8 arrays with the provenance of every example.
    """
    images = np.asarray(mnist_images)
    labels = np.asarray(mnist_labels).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (PATCH, PATCH):
        raise ValueError(f"mnist_images must be (N, 28, 28), got {images.shape}")
    if len(labels) != len(images):
        raise ValueError("mnist_images and mnist_labels differ in length")
    if images.dtype != np.uint8:
        images = to_uint8(np.asarray(images, np.float64) * (255.0 if images.max() <= 1.0 else 1.0))
    n = len(images)
    pool = n if train_pool_size is None else int(train_pool_size)
    if not 0 <= pool <= n:
        raise ValueError(f"train_pool_size={train_pool_size} must be within 0..{n}")
    if n_train > pool:
        raise ValueError(f"n_train={n_train} exceeds the {pool} digits of the training pool")
    if n_test > n - n_train:
        raise ValueError(f"n_test={n_test} exceeds the {n - n_train} digits left after n_train={n_train}")
    if len(background_images) == 0:
        raise ValueError("background_images is empty")
    backgrounds = [as_gray_uint8(b, i) for i, b in enumerate(background_images)]
    ids = [str(i) for i in background_ids] if background_ids is not None else [str(i) for i in range(len(backgrounds))]

    rng = np.random.default_rng(seed)
    train_idx = np.sort(rng.choice(pool, size=n_train, replace=False))
    rest = np.setdiff1d(np.arange(n), train_idx, assume_unique=True)
    test_idx = np.sort(rng.choice(rest, size=n_test, replace=False))

    parts = []
    for idx in (train_idx, test_idx):
        # float32 angles (as recorded in the provenance), wrapped into [0, 2 pi)
        angles = np.mod(rng.uniform(0.0, 2.0 * np.pi, size=len(idx)).astype(np.float32), np.float32(2.0 * np.pi))
        bg, yx, patches = sample_patches(rng, backgrounds, len(idx), min_patch_std)
        rotated = to_uint8(warp(images[idx], inverse_matrices(angles.astype(np.float64)), batch_size=batch_size))
        combined = np.maximum(rotated, patches)
        prov = Provenance(
            mnist_index=idx.astype(np.int64), angle=angles, background_index=bg, patch_yx=yx
        )
        parts.append((combined, labels[idx], prov))
    (tr_x, tr_y, tr_p), (te_x, te_y, te_p) = parts
    return RotBackImage(
        train_images=tr_x,
        train_labels=tr_y,
        test_images=te_x,
        test_labels=te_y,
        source=(
            f"regenerated from MNIST (seed {seed}) with backgrounds from {len(ids)} BSDS500 train images: "
            + ", ".join(ids)
        ),
        background_ids=ids,
        train_provenance=tr_p,
        test_provenance=te_p,
        seed=seed,
    )
