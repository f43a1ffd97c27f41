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
:func:`augment_digits` warps the whole image: with ``padding="zeros"`` (as first
implemented) the background is warped with the digit and the corners uncovered
by a rotation are 0, an artefact no test image has; ``padding="reflection"``
fills them by reflection (for the official .amat images, whose digit and
background cannot be separated). :func:`augment_composited` (regenerated data)
warps the bare MNIST digit (black outside, so zero padding is exact) and then
composites it over a fresh background patch, as the dataset itself was made.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ._affine import inverse_matrices, to_uint8, warp

__all__ = ["augment_composited", "augment_digits"]


def augment_digits(
    images: np.ndarray,
    labels,
    factor: int = 10,
    seed: int = 0,
    max_rotation: float = 180.0,
    scale_range: Tuple[float, float] = (0.9, 1.1),
    mirror: bool = True,
    batch_size: int = 8192,
    padding: str = "zeros",
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment uint8 (N, H, W) images ``factor`` times (``padding``: see the module docstring).

    Returns ``(images uint8 (N*factor, H, W), labels (N*factor,), source_index
    (N*factor,))`` laid out copy-major: rows ``k*N .. k*N + N - 1`` are copy
    ``k`` of images ``0 .. N-1``; copy 0 is the original image unchanged,
    copies 1.. are random rotations (``max_rotation`` degrees), mirrorings and
    rescalings (``scale_range``). Deterministic from ``seed``.
    """
    images, labels = _check(images, labels, factor, scale_range)
    n = len(images)
    source_index = np.tile(np.arange(n, dtype=np.int64), factor)
    out = np.empty((n * factor,) + images.shape[1:], np.uint8)
    out[:n] = images
    if factor > 1 and n:
        inv = _random_maps(n * (factor - 1), seed, max_rotation, scale_range, mirror)
        src = source_index[n:]
        out[n:] = to_uint8(warp(images[src], inv, batch_size=batch_size, padding=padding))
    return out, labels[source_index], source_index


def augment_composited(
    composites: np.ndarray,
    digits: np.ndarray,
    labels,
    backgrounds,
    factor: int = 10,
    seed: int = 0,
    max_rotation: float = 180.0,
    scale_range: Tuple[float, float] = (0.9, 1.1),
    mirror: bool = True,
    batch_size: int = 8192,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment regenerated MNIST-rot-back-image digits ``factor`` times, digit first.

    ``composites`` (N, 28, 28) uint8: the dataset's images (copy 0, unchanged); ``digits`` (N, 28, 28)
    uint8: the bare MNIST digit each was made from; ``backgrounds``: the grayscale background images.
    Copies 1.. rotate (any angle up to ``max_rotation``), rescale and mirror the bare digit, then take
    max(digit, a fresh random background patch), the dataset's own compositing rule. Same layout as
    :func:`augment_digits`.
    """
    from .rot_back_regen import MIN_PATCH_STD, as_gray_uint8, sample_patches

    composites, labels = _check(composites, labels, factor, scale_range)
    digits = np.asarray(digits)
    if digits.shape != composites.shape or digits.dtype != np.uint8:
        raise ValueError(f"digits must be uint8 {composites.shape}, got {digits.dtype} {digits.shape}")
    n = len(composites)
    source_index = np.tile(np.arange(n, dtype=np.int64), factor)
    out = np.empty((n * factor,) + composites.shape[1:], np.uint8)
    out[:n] = composites
    if factor > 1 and n:
        m = n * (factor - 1)
        inv = _random_maps(m, seed, max_rotation, scale_range, mirror)
        warped = to_uint8(warp(digits[source_index[n:]], inv, batch_size=batch_size))
        gray = [as_gray_uint8(b, i) for i, b in enumerate(backgrounds)]
        _, _, patches = sample_patches(np.random.default_rng([seed, 1]), gray, m, MIN_PATCH_STD)
        out[n:] = np.maximum(warped, patches)
    return out, labels[source_index], source_index


def _random_maps(m: int, seed: int, max_rotation: float, scale_range, mirror: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(rng.uniform(-max_rotation, max_rotation, m))
    scales = rng.uniform(float(scale_range[0]), float(scale_range[1]), m)
    flips = rng.random(m) < 0.5 if mirror else np.zeros(m, bool)
    return inverse_matrices(angles, scales, flips)


def _check(images, labels, factor, scale_range):
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
    return images, labels
