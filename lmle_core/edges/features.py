"""Hand-crafted low-level channel features: the prior features of LMLE's edge task (Table 1: "low-level
features in [10]", Dollar & Zitnick's structured edge forests).

Channels, as in structured edges (13): CIE-LUV colour (3); at the full and the half scale, the
gradient magnitude (the largest over the colour channels, normalised by its triangle-smoothed
local mean + 0.01) and that magnitude split into 4 orientation bins over [0, pi) (2 x 5); all
smoothed by a radius-2 triangle filter. Simplifications (recorded by the study): hard rather
than interpolated orientation bins; OpenCV's colour conversion; no self-similarity features.

A patch's descriptor is the mean of each channel over a ``grid`` x ``grid`` array of cells
tiling the 45x45 patch (default 5 x 5 cells of 9 pixels: 13 x 25 = 325 values), read at any
set of patch centres with one gather per image (no loop over patches). :func:`patch_features`
adds a finer 7 x 7 grid of 3-pixel cells over the central 21 x 21 pixels (13 x 74 = 962 values):
the input of the quick profile's descriptor network (:mod:`lmle_core.edges.descriptor_net`), fine
enough to place an edge inside the 17 x 17 label patch.
"""
from __future__ import annotations

import numpy as np

N_CHANNELS = 13
# (window side, cells per side) of the descriptor network's input: 9-px cells over the whole patch,
# 3-px cells over its centre
FEATURE_GRIDS = ((45, 5), (21, 7))
FEATURE_DIM = N_CHANNELS * sum(g * g for _, g in FEATURE_GRIDS)


def _tri_blur(x: np.ndarray, r: int) -> np.ndarray:
    """Piotr Dollar's ``convTri``: separable triangle filter [1 .. r+1 .. 1] / (r+1)^2, edges reflected."""
    import cv2

    if r <= 0:
        return x
    k = np.concatenate([np.arange(1, r + 2), np.arange(r, 0, -1)]).astype(np.float32)
    k /= k.sum()
    return cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REFLECT)


def _gradient_channels(luv: np.ndarray) -> list:
    import cv2

    gx = np.stack([cv2.Sobel(luv[..., c], cv2.CV_32F, 1, 0, ksize=1, borderType=cv2.BORDER_REFLECT) / 2
                   for c in range(3)], -1)
    gy = np.stack([cv2.Sobel(luv[..., c], cv2.CV_32F, 0, 1, ksize=1, borderType=cv2.BORDER_REFLECT) / 2
                   for c in range(3)], -1)
    mag = np.sqrt(gx ** 2 + gy ** 2)
    best = mag.argmax(-1)[..., None]
    m = np.take_along_axis(mag, best, -1)[..., 0]
    ox = np.take_along_axis(gx, best, -1)[..., 0]
    oy = np.take_along_axis(gy, best, -1)[..., 0]
    m = m / (_tri_blur(m, 4) + 0.01)
    ori = np.mod(np.arctan2(oy, ox), np.pi)
    bins = np.minimum((ori / (np.pi / 4)).astype(np.int64), 3)
    return [m] + [m * (bins == k) for k in range(4)]


def channel_features(image: np.ndarray) -> np.ndarray:
    """(13, H, W) float32 channels of a uint8 RGB image (H, W, 3)."""
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"channel_features wants a uint8 (H, W, 3) image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    luv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Luv)
    luv = (luv - np.array([0.0, -134.0, -140.0], np.float32)) / np.array([100.0, 354.0, 262.0], np.float32)
    chans = [luv[..., c] for c in range(3)] + _gradient_channels(luv)
    half = cv2.resize(luv, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    chans += [cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in _gradient_channels(half)]
    return np.stack([_tri_blur(np.ascontiguousarray(c, dtype=np.float32), 2) for c in chans])


def _cell_means(channels: np.ndarray, patch: int, grid: int):
    """The padded per-pixel cell means of one grid and the cell offsets: what every gather reads."""
    import cv2

    if patch % grid:
        raise ValueError(f"patch ({patch}) must be a multiple of grid ({grid})")
    cell, half = patch // grid, patch // 2
    means = np.stack([cv2.blur(ch, (cell, cell), borderType=cv2.BORDER_REFLECT) for ch in channels])
    padded = np.pad(means, ((0, 0), (half, half), (half, half)), mode="reflect")
    return padded, half + (np.arange(grid) - grid // 2) * cell


def _gather_cells(padded: np.ndarray, offsets: np.ndarray, ys, xs) -> np.ndarray:
    rows = np.asarray(ys)[:, None, None] + offsets[None, :, None]            # (n, g, 1)
    cols = np.asarray(xs)[:, None, None] + offsets[None, None, :]            # (n, 1, g)
    out = padded[:, rows, cols]                                              # (C, n, g, g)
    return out.transpose(1, 0, 2, 3).reshape(len(rows), -1)


def patch_descriptors(channels: np.ndarray, ys: np.ndarray, xs: np.ndarray, patch: int = 45,
                      grid: int = 5) -> np.ndarray:
    """(n, C * grid^2) cell means of ``channels`` (C, H, W) in the ``patch`` x ``patch`` windows
    centred on (ys, xs); borders reflected."""
    padded, offsets = _cell_means(channels, patch, grid)
    return np.ascontiguousarray(_gather_cells(padded, offsets, ys, xs), dtype=np.float32)


def patch_features(channels: np.ndarray, ys: np.ndarray, xs: np.ndarray, grids=FEATURE_GRIDS,
                   chunk: int = 16384) -> np.ndarray:
    """(n, FEATURE_DIM) descriptors of the patches centred on (ys, xs): the cell means of every
    (window, cells) grid of ``grids`` concatenated, gathered ``chunk`` centres at a time
    (``grids=FEATURE_GRIDS[:1]``: the 325 prior features only)."""
    ys, xs = np.asarray(ys).reshape(-1), np.asarray(xs).reshape(-1)
    dim = channels.shape[0] * sum(g * g for _, g in grids)
    grids = [_cell_means(channels, w, g) for w, g in grids]
    out = np.empty((len(ys), dim), dtype=np.float32)
    for s in range(0, len(ys), chunk):
        sl = slice(s, s + chunk)
        out[sl] = np.concatenate([_gather_cells(p, o, ys[sl], xs[sl]) for p, o in grids], 1)
    return out


def standardize(train: np.ndarray, *others: np.ndarray):
    """z-score by the training statistics, then L2-normalise each row (prior features for k-means)."""
    mu, sd = train.mean(0), train.std(0) + 1e-6
    out = []
    for x in (train,) + others:
        z = (x - mu) / sd
        out.append((z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)).astype(np.float32))
    return out
