"""Patches cut on demand from images held once in memory: the ``ImageSet`` interface for patch tasks.

Edge detection trains on millions of 45x45 patches (LMLE Sec. 5: 2 million); stored one by one
they would take 12 GB. A :class:`PatchSet` keeps the padded source images once, as one uint8
canvas (n_images, C, H, W) on the training device, plus each patch's image index and top-left
corner, and cuts a batch of patches with one gather (no Python loop over patches).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch


def gather_patches(canvas: torch.Tensor, image: torch.Tensor, top: torch.Tensor, left: torch.Tensor,
                   size: int) -> torch.Tensor:
    """(B, C, size, size) patches of ``canvas`` (n, C, H, W) or (B, size, size) of (n, H, W), cut at
    ``canvas[image[b], :, top[b]:top[b]+size, left[b]:left[b]+size]`` by one advanced-indexing gather."""
    ar = torch.arange(size, device=canvas.device)
    rows = (top.to(canvas.device)[:, None] + ar)[:, :, None]     # (B, S, 1)
    cols = (left.to(canvas.device)[:, None] + ar)[:, None, :]    # (B, 1, S)
    img = image.to(canvas.device)[:, None, None]
    if canvas.dim() == 3:
        return canvas[img, rows, cols]
    ch = torch.arange(canvas.shape[1], device=canvas.device)[None, :, None, None]
    return canvas[img[:, None], ch, rows[:, None], cols[:, None]]


class PatchSet:
    """``size`` x ``size`` patches of a canvas of padded images, with their labels.

    Duck-types :class:`lmle_core.imageset.ImageSet` (``labels``, ``mean``, ``std``, ``name``,
    ``__len__``, ``device``, ``batch``, ``subset``, ``class_counts``); ``images`` is the canvas.
    """

    def __init__(self, canvas: torch.Tensor, image: np.ndarray, top: np.ndarray, left: np.ndarray, labels,
                 size: int, mean: Sequence[float], std: Sequence[float], name: str = ""):
        if canvas.dtype != torch.uint8 or canvas.dim() != 4:
            raise ValueError(f"PatchSet wants a uint8 (n, C, H, W) canvas, got {canvas.dtype} {tuple(canvas.shape)}")
        image, top, left = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (image, top, left))
        self.labels = np.asarray(labels)
        n = len(self.labels)
        if not (len(image) == len(top) == len(left) == n):
            raise ValueError(f"{n} labels but {len(image)} / {len(top)} / {len(left)} patch coordinates")
        if n and (top.min() < 0 or left.min() < 0 or top.max() + size > canvas.shape[2]
                  or left.max() + size > canvas.shape[3] or image.max() >= canvas.shape[0] or image.min() < 0):
            raise ValueError("a patch lies outside the canvas")
        self.canvas, self.size, self.name = canvas, int(size), name
        self.mean, self.std = tuple(mean), tuple(std)
        dev = canvas.device
        self.image, self.top, self.left = (torch.as_tensor(a, device=dev) for a in (image, top, left))

    @property
    def images(self) -> torch.Tensor:
        return self.canvas

    def __len__(self) -> int:
        return int(len(self.labels))

    @property
    def device(self) -> torch.device:
        return self.canvas.device

    def coordinates(self) -> np.ndarray:
        """(N, 3) int64: image index, top, left of every patch."""
        return torch.stack([self.image, self.top, self.left], 1).cpu().numpy()

    def uint8_batch(self, index) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(index), device=self.device, dtype=torch.long)
        return gather_patches(self.canvas, self.image[idx], self.top[idx], self.left[idx], self.size)

    def batch(self, index, dtype=torch.float32) -> torch.Tensor:
        """Normalised float patches of the given indices, on the canvas's device."""
        x = self.uint8_batch(index).to(dtype)
        mean = torch.tensor(self.mean, device=self.device, dtype=dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=self.device, dtype=dtype).view(1, -1, 1, 1)
        return (x / 255.0 - mean) / std

    def subset(self, index) -> "PatchSet":
        idx = np.asarray(index)
        c = self.coordinates()[idx]
        return PatchSet(self.canvas, c[:, 0], c[:, 1], c[:, 2], self.labels[idx], self.size, self.mean, self.std,
                        self.name)

    def class_counts(self, n_classes: Optional[int] = None) -> np.ndarray:
        return np.bincount(self.labels.astype(np.int64), minlength=n_classes or 0)
