"""Training-set augmentation of the MNIST experiment (LMLE paper, Sec. 5):
"we augment the training set 10 times by randomly rotating, mirroring and
resizing images".

Ranges chosen here (the paper gives none):

* rotation: uniform in [-max_rotation, max_rotation) degrees, default 180,
  i.e. any angle in [0, 2 pi): the MNIST-rot-back-image digits are already
  rotated by any angle, so a full turn adds no bias;
* mirroring: a horizontal flip with probability 0.5 (``mirror=True``);
* resizing: an isotropic scale uniform in ``scale_range`` = (0.9, 1.1) about
  the image centre (the 28x28 frame is kept; content scaled outside is cut,
  uncovered border is 0).

The warp is bilinear (torch ``affine_grid`` / ``grid_sample`` in batches).
Backgrounds are warped with the digit; corners uncovered by a rotation are 0.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ._affine import inverse_matrices, to_uint8, warp

__all__ = ["augment_digits"]


def augment_digits(
    images: np.ndarray,
    labels,
    factor: int = 10,
    seed: int = 0,
    max_rotation: float = 180.0,
    scale_range: Tuple[float, float] = (0.9, 1.1),
    mirror: bool = True,
    batch_size: int = 8192,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment uint8 (N, H, W) images ``factor`` times.

    Returns ``(images uint8 (N*factor, H, W), labels (N*factor,), source_index
    (N*factor,))`` laid out copy-major: rows ``k*N .. k*N + N - 1`` are copy
    ``k`` of images ``0 .. N-1``; copy 0 is the original image unchanged,
    copies 1.. are random rotations (``max_rotation`` degrees), mirrorings and
    rescalings (``scale_range``). Deterministic from ``seed``.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got {images.shape}")
    if len(labels) != len(images):
        raise ValueError("images and labels differ in length")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must be 0 < low <= high, got {scale_range}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    n = len(images)
    source_index = np.tile(np.arange(n, dtype=np.int64), factor)
    out = np.empty((n * factor,) + images.shape[1:], np.uint8)
    out[:n] = images
    if factor > 1 and n:
        m = n * (factor - 1)
        rng = np.random.default_rng(seed)
        angles = np.deg2rad(rng.uniform(-max_rotation, max_rotation, m))
        scales = rng.uniform(lo, hi, m)
        flips = rng.random(m) < 0.5 if mirror else np.zeros(m, bool)
        src = source_index[n:]
        for s in range(0, m, batch_size):
            e = min(m, s + batch_size)
            inv = inverse_matrices(angles[s:e], scales[s:e], flips[s:e])
            out[n + s : n + e] = to_uint8(warp(images[src[s:e]], inv, batch_size=batch_size))
    return out, labels[source_index], source_index
