"""Classic, training-free edge detectors: the floor every learned row of LMLE Table 3 has to clear.

Both start from the same Gaussian colour gradient: the image in CIE Lab (OpenCV's 8-bit scaling),
smoothed by a Gaussian of ``sigma`` pixels, Sobel derivatives of each channel.

- :func:`gradient_edges`: the gradient magnitude (Euclidean norm over the three channels' x and y
  derivatives), thinned by the same non-maximum suppression as the learned maps
  (:func:`lmle_core.metrics.boundaries.boundary_nms`).
- :func:`canny_edges`: Canny as the BSDS literature runs it for a soft map: OpenCV's Canny
  (L2 gradient, the channel with the largest gradient at each pixel, hysteresis low = 0.4 x high)
  at ``len(highs)`` high thresholds; a pixel's value is the fraction of thresholds at which it is
  an edge (already one pixel wide: Canny's own suppression).

Their values have no natural scale: :func:`classic_maps` divides each detector's maps by their
largest value over the evaluated images, as the learned maps are. ``highs`` are absolute gradient
values: :func:`canny_thresholds` reads them off validation images (from a quantile of the gradient
magnitude up to its maximum), so nothing is tuned on test images.
"""
from __future__ import annotations

from typing import Dict, Mapping, Sequence

import numpy as np

DETECTORS = ("gradient", "canny")


def colour_gradient(image: np.ndarray, sigma: float):
    """(gx, gy) float32 (H, W, 3): Sobel derivatives of the Gaussian-smoothed Lab image (/ 8: per pixel)."""
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"the classic detectors want a uint8 (H, W, 3) image, got {img.dtype} {img.shape}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab).astype(np.float32)
    smooth = cv2.GaussianBlur(lab, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 8.0
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 8.0
    return gx, gy


def gradient_magnitude(image: np.ndarray, sigma: float = 2.0, combine: str = "norm") -> np.ndarray:
    """(H, W) float64: the Euclidean norm of all six derivatives (``"norm"``) or the largest channel
    magnitude (``"max"``: what OpenCV's colour Canny thresholds)."""
    gx, gy = colour_gradient(image, sigma)
    per_channel = gx * gx + gy * gy
    if combine == "norm":
        return np.sqrt(per_channel.sum(-1)).astype(np.float64)
    if combine == "max":
        return np.sqrt(per_channel.max(-1)).astype(np.float64)
    raise ValueError(f"combine must be 'norm' or 'max', got {combine!r}")


def gradient_edges(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(H, W) float64 >= 0: the colour gradient magnitude after non-maximum suppression."""
    from ..metrics.boundaries import boundary_nms

    return np.maximum(boundary_nms(gradient_magnitude(image, sigma)), 0.0)


def canny_thresholds(images: Sequence[np.ndarray], sigma: float = 2.0, n_levels: int = 32,
                     low_quantile: float = 0.7) -> np.ndarray:
    """``n_levels`` Canny high thresholds, geometrically spaced from the ``low_quantile`` quantile to the
    largest value of the (largest channel) colour gradient magnitude over ``images`` (validation
    images): the soft map then runs from texture-level edges to the very strongest (recall near 0)."""
    if n_levels < 1:
        raise ValueError(f"n_levels must be >= 1, got {n_levels}")
    if not images:
        raise ValueError("canny_thresholds needs at least one image")
    mags = np.concatenate([gradient_magnitude(im, sigma, "max").ravel() for im in images])
    low, top = float(np.quantile(mags, low_quantile)), float(mags.max())
    if not top > 0:
        raise ValueError("the images have no gradient (constant images)")
    return np.geomspace(max(low, 1e-3 * top), top, n_levels)


def canny_edges(image: np.ndarray, highs: Sequence[float], sigma: float = 2.0, low_ratio: float = 0.4) -> np.ndarray:
    """(H, W) float64 in [0, 1]: the fraction of the high thresholds ``highs`` at which OpenCV's colour
    Canny (hysteresis low = ``low_ratio`` x high) marks the pixel."""
    import cv2

    highs = np.asarray(highs, dtype=np.float64).reshape(-1)
    if highs.size == 0 or not (highs > 0).all():
        raise ValueError("highs must be a non-empty list of positive gradient thresholds")
    gx, gy = colour_gradient(image, sigma)
    # OpenCV's Canny takes int16 derivatives: scale so the largest one uses most of the range
    scale = 16000.0 / max(float(np.abs(gx).max()), float(np.abs(gy).max()), 1e-6)
    dx = np.ascontiguousarray(np.rint(gx * scale).astype(np.int16))
    dy = np.ascontiguousarray(np.rint(gy * scale).astype(np.int16))
    acc = np.zeros(image.shape[:2], dtype=np.float64)
    for high in highs:
        acc += cv2.Canny(dx, dy, low_ratio * high * scale, high * scale, L2gradient=True) > 0
    return acc / len(highs)


def classic_maps(detector: str, images: Mapping[str, np.ndarray], sigma: float = 2.0,
                 highs: Sequence[float] = ()) -> Dict[str, np.ndarray]:
    """{id: (H, W) map in [0, 1]} of one detector, divided by its largest value over ``images``."""
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
    if detector == "gradient":
        raw = {k: gradient_edges(im, sigma) for k, im in images.items()}
    else:
        raw = {k: canny_edges(im, highs, sigma) for k, im in images.items()}
    top = max((float(m.max()) for m in raw.values()), default=0.0)
    return {k: (m / top if top > 0 else m) for k, m in raw.items()}
