"""Embedding networks. Each maps an image to an L2-normalised d-dim embedding (LMLE Sec. 3).

- ``face``: DeepID2-style CNN for 55x47x3 faces (Sun et al. 2014): four conv
  layers, the fully connected layer fed by both conv3 (pooled) and conv4.
  Deviation: DeepID2's locally connected conv3/conv4 are ordinary convolutions.
- ``patch``: DeepContour-style 6-layer patch CNN for 45x45x3 edge patches
  (conv-pool-conv-pool-fc-fc, Shen et al. 2015).
- ``mnist``: a small CNN for 28x28 digits (two conv+BN+pool blocks, fc 256).
- ``digits8``: a tiny CNN for scikit-learn's 8x8 digits (the no-data demo).

``EmbeddingNet`` adds the embedding layer and an optional softmax classifier
head on the raw (pre-normalisation) embedding, used for softmax training and the
softmax-pretrained prior features. ``MultiTaskEmbeddingNet`` puts one embedding
head per task (attribute) on a shared trunk.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class DeepID2Trunk(nn.Module):
    input_shape = (3, 55, 47)

    def __init__(self, width: int = 1):
        super().__init__()
        c1, c2, c3, c4 = 20 * width, 40 * width, 60 * width, 80 * width
        self.conv1 = nn.Sequential(nn.Conv2d(3, c1, 4), nn.BatchNorm2d(c1), nn.ReLU(True), nn.MaxPool2d(2))   # 26x22
        self.conv2 = nn.Sequential(nn.Conv2d(c1, c2, 3), nn.BatchNorm2d(c2), nn.ReLU(True), nn.MaxPool2d(2))  # 12x10
        self.conv3 = nn.Sequential(nn.Conv2d(c2, c3, 3), nn.BatchNorm2d(c3), nn.ReLU(True), nn.MaxPool2d(2))  # 5x4
        self.conv4 = nn.Sequential(nn.Conv2d(c3, c4, 2), nn.BatchNorm2d(c4), nn.ReLU(True))                   # 4x3
        self.out_dim = c3 * 5 * 4 + c4 * 4 * 3

    def forward(self, x):
        h3 = self.conv3(self.conv2(self.conv1(x)))
        h4 = self.conv4(h3)
        return torch.cat([h3.flatten(1), h4.flatten(1)], 1)


def _two_conv_blocks(in_ch: int, c1: int, c2: int, kernel: int, side_after: int, fc: int) -> nn.Sequential:
    """conv-BN-ReLU-pool twice, then a ReLU fully connected layer (``side_after``: map side after pool 2)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, c1, kernel), nn.BatchNorm2d(c1), nn.ReLU(True), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, kernel), nn.BatchNorm2d(c2), nn.ReLU(True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * side_after * side_after, fc), nn.ReLU(True),
    )


class DeepContourTrunk(nn.Module):
    input_shape = (3, 45, 45)

    def __init__(self, width: int = 1):
        super().__init__()
        self.body = _two_conv_blocks(3, 32 * width, 48 * width, 5, 8, 128)  # 45 -> 41 -> 20 -> 16 -> 8
        self.out_dim = 128

    def forward(self, x):
        return self.body(x)


class MnistTrunk(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self, width: int = 1):
        super().__init__()
        self.body = _two_conv_blocks(1, 32 * width, 64 * width, 5, 4, 256)  # 28 -> 24 -> 12 -> 8 -> 4
        self.out_dim = 256

    def forward(self, x):
        return self.body(x)


class Digits8Trunk(nn.Module):
    input_shape = (1, 8, 8)

    def __init__(self, width: int = 1):
        super().__init__()
        c = 32 * width
        self.body = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(True), nn.MaxPool2d(2),  # 4x4
            nn.Flatten(), nn.Linear(c * 16, 128), nn.ReLU(True),
        )
        self.out_dim = 128

    def forward(self, x):
        return self.body(x)


TRUNKS = {"face": DeepID2Trunk, "patch": DeepContourTrunk, "mnist": MnistTrunk, "digits8": Digits8Trunk}


class EmbeddingNet(nn.Module):
    """trunk -> linear d-dim embedding; ``forward`` returns it L2-normalised."""

    def __init__(self, trunk: nn.Module, embedding_dim: int = 64, n_classes: Optional[int] = None):
        super().__init__()
        self.trunk = trunk
        self.embedding = nn.Linear(trunk.out_dim, embedding_dim)
        self.classifier = nn.Linear(embedding_dim, n_classes) if n_classes else None

    @property
    def input_shape(self):
        return self.trunk.input_shape

    def raw_embedding(self, x):
        return self.embedding(self.trunk(x))

    def forward(self, x):
        return F.normalize(self.raw_embedding(x), dim=-1)

    def logits(self, x):
        if self.classifier is None:
            raise RuntimeError("this EmbeddingNet was built without a classifier head (n_classes=None)")
        return self.classifier(self.raw_embedding(x))


class MultiTaskEmbeddingNet(nn.Module):
    """Shared trunk, one embedding head (and binary classifier) per task; forward -> (B, T, d)."""

    def __init__(self, trunk: nn.Module, n_tasks: int, embedding_dim: int = 64, n_classes: int = 2):
        super().__init__()
        self.trunk = trunk
        self.embedding = nn.Linear(trunk.out_dim, n_tasks * embedding_dim)
        self.n_tasks, self.embedding_dim = n_tasks, embedding_dim
        # grouped 1x1 conv = an independent linear classifier per task
        self.classifier = nn.Conv1d(n_tasks * embedding_dim, n_tasks * n_classes, 1, groups=n_tasks)

    @property
    def input_shape(self):
        return self.trunk.input_shape

    def raw_embedding(self, x):
        return self.embedding(self.trunk(x)).view(x.shape[0], self.n_tasks, self.embedding_dim)

    def forward(self, x):
        return F.normalize(self.raw_embedding(x), dim=-1)

    def logits(self, x):
        """(B, T, n_classes)."""
        raw = self.raw_embedding(x).reshape(x.shape[0], -1, 1)
        return self.classifier(raw).view(x.shape[0], self.n_tasks, -1)


def build_net(name: str, embedding_dim: int = 64, n_classes: Optional[int] = None,
              n_tasks: Optional[int] = None, width: int = 1) -> nn.Module:
    """A network by trunk name ('face', 'patch', 'mnist', 'digits8')."""
    if name not in TRUNKS:
        raise ValueError(f"unknown network {name!r}; choose from {sorted(TRUNKS)}")
    trunk = TRUNKS[name](width=width)
    if n_tasks:
        return MultiTaskEmbeddingNet(trunk, n_tasks, embedding_dim, n_classes or 2)
    return EmbeddingNet(trunk, embedding_dim, n_classes)
