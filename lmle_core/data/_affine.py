"""Batched affine warps of single-channel images (torch ``affine_grid`` / ``grid_sample``).

One place for the rotation / scaling / mirroring used by the MNIST-rot-back-image
regeneration and by the digit augmentation. Transforms are about the image
centre, in pixel units (so non-square images rotate correctly), bilinear, with
zeros outside the source image.
"""

from __future__ import annotations

import numpy as np


def inverse_matrices(angles, scales=None, mirror=None) -> np.ndarray:
    """(N, 2, 2) output->input pixel maps for: mirror (x -> -x) first, then
    scale by ``scales``, then rotate by ``angles`` (radians, counter-clockwise
    as seen on screen, i.e. with y pointing down)."""
    angles = np.asarray(angles, dtype=np.float64)
    n = angles.shape[0]
    s = np.ones(n) if scales is None else np.asarray(scales, dtype=np.float64)
    f = np.ones(n) if mirror is None else np.where(np.asarray(mirror, bool), -1.0, 1.0)
    c, si = np.cos(angles), np.sin(angles)
    # forward (in (x, y) pixel coordinates, y down): A = R(-angle) @ diag(s, s) @ diag(f, 1)
    # where R(-angle) = [[c, s], [-s, c]] rotates counter-clockwise on screen.
    # inverse: diag(f, 1) @ diag(1/s, 1/s) @ R(angle)
    inv = np.empty((n, 2, 2))
    inv[:, 0, 0] = f * c / s
    inv[:, 0, 1] = -f * si / s
    inv[:, 1, 0] = si / s
    inv[:, 1, 1] = c / s
    return inv


def warp(images: np.ndarray, inverse: np.ndarray, batch_size: int = 8192, padding: str = "zeros") -> np.ndarray:
    """Warp (N, H, W) images (uint8 0..255 or float) by per-image output->input
    2x2 pixel maps about the centre. Returns float32 (N, H, W) in the input's
    value scale (uint8 input gives 0..255 floats). ``padding``: what fills the
    area the source does not cover, grid_sample's "zeros", "border" or "reflection"."""
    import torch
    import torch.nn.functional as F

    images = np.asarray(images)
    n, h, w = images.shape
    inverse = np.asarray(inverse, dtype=np.float64).reshape(n, 2, 2)
    # pixel -> normalized coordinates: x_n = x_p / (w / 2), y_n = y_p / (h / 2) (align_corners=False)
    d = np.array([w / 2.0, h / 2.0])
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    theta[:, :, :2] = inverse * (d[None, None, :] / d[None, :, None])
    out = np.empty((n, h, w), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            x = torch.from_numpy(np.ascontiguousarray(images[s:e], dtype=np.float32)).unsqueeze(1)
            t = torch.from_numpy(theta[s:e])
            grid = F.affine_grid(t, [e - s, 1, h, w], align_corners=False)
            y = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)
            out[s:e] = y[:, 0].numpy()
    return out


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round and clip 0..255 floats to uint8."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)
