"""Decoded images held once in memory (uint8, on the training device) with their labels, and the
train / validation / test sets of one prepared task (:class:`PreparedData`).

Training and feature extraction index this tensor directly: no per-step image
decoding and no second copy of the dataset. Normalisation to float happens on
the device, per batch.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .runcache import array_fingerprint


@dataclass
class ImageSet:
    images: torch.Tensor            # uint8 (N, C, H, W)
    labels: np.ndarray              # (N,) int classes, or (N, A) binary attributes
    mean: Sequence[float] = (0.5,)
    std: Sequence[float] = (0.5,)
    name: str = ""

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"ImageSet wants uint8 (N, C, H, W) images, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        self.labels = np.asarray(self.labels)
        if self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(f"{self.images.shape[0]} images but {self.labels.shape[0]} labels")

    @classmethod
    def from_numpy(cls, images: np.ndarray, labels, device=None, mean=None, std=None, name=""):
        """(N, H, W) or (N, H, W, C) uint8 -> ImageSet on ``device``; mean/std measured if not given."""
        arr = np.asarray(images)
        if arr.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {arr.dtype}")
        arr = arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if device is not None:
            t = t.to(device)
        if mean is None or std is None:
            sample = t[: min(len(t), 5000)].float() / 255.0
            dims = (0, 2, 3)
            mean = tuple(sample.mean(dims).tolist())
            std = tuple(sample.std(dims).clamp_min(1e-3).tolist())
        return cls(t, np.asarray(labels), tuple(mean), tuple(std), name)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def subset(self, index) -> "ImageSet":
        idx = np.asarray(index)
        return ImageSet(self.images[torch.as_tensor(idx, device=self.device)], self.labels[idx],
                        self.mean, self.std, self.name)

    def batch(self, index, dtype=torch.float32) -> torch.Tensor:
        """Normalised float batch of the given indices (numpy or torch), on the images' device."""
        idx = torch.as_tensor(index, device=self.device, dtype=torch.long)
        x = self.images.index_select(0, idx).to(dtype)
        mean = torch.tensor(self.mean, device=self.device, dtype=dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=self.device, dtype=dtype).view(1, -1, 1, 1)
        return (x / 255.0 - mean) / std

    def class_counts(self, n_classes: Optional[int] = None) -> np.ndarray:
        if self.labels.ndim != 1:
            raise ValueError("class_counts is for single-label data")
        return np.bincount(self.labels.astype(np.int64), minlength=n_classes or 0)


@dataclass
class PreparedData:
    """Train / validation / test image sets of one task, with the network that fits them.

    Single-label data has (N,) class labels; multi-label data (attributes) has (N, A) binary
    labels and the attribute names in ``tasks``.
    """

    name: str
    net: str                       # trunk name in nets.TRUNKS
    n_classes: int
    train: ImageSet
    val: ImageSet
    test: ImageSet
    description: Dict[str, str] = field(default_factory=dict)
    tasks: Optional[List[str]] = None
    prior_features: Optional[np.ndarray] = None   # (N_train, d) hand-crafted prior features (edges), else None
    negative_class: Optional[int] = None          # the non-edge class of the edge task (positive-sharing costs)
    train_groups: Optional[np.ndarray] = None     # (N_train,) source image of each augmented training image
    _fingerprint: Optional[str] = field(default=None, repr=False)

    @property
    def multilabel(self) -> bool:
        return self.train.labels.ndim == 2

    def counts(self) -> Dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def fingerprint(self) -> str:
        """Hash of the content: every split's image bytes and labels (and the attribute names)."""
        if self._fingerprint is None:
            parts = [x for s in (self.train, self.val, self.test) for x in (s.images, s.labels)]
            h = hashlib.sha1((self.name + repr(self.tasks)).encode())
            h.update(array_fingerprint(*parts).encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint
