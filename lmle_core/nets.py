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
softmax-pretrained prior features. ``MultiTaskEmbeddingNet`` puts a shared feature
layer on the trunk and one two-layer embedding head with a sigmoid classifier per task
(attribute), all heads batched (``AttributeHeads``).
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


class AttributeHeads(nn.Module):
    """One two-layer embedding head (and one sigmoid classifier) per task, batched.

    Head t maps shared features f (F,) to relu(f W1_t + b1_t) W2_t + b2_t (d,), the raw embedding;
    its classifier gives one logit <raw, c_t> + c0_t. All heads run as batched matrix products
    (``baddbmm``), never one module call per task.
    """

    def __init__(self, in_dim: int, n_tasks: int, hidden: int = 128, embedding_dim: int = 64):
        super().__init__()
        self.n_tasks, self.in_dim, self.hidden, self.embedding_dim = n_tasks, in_dim, hidden, embedding_dim
        self.w1 = nn.Parameter(torch.empty(n_tasks, in_dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(n_tasks, 1, hidden))
        self.w2 = nn.Parameter(torch.empty(n_tasks, hidden, embedding_dim))
        self.b2 = nn.Parameter(torch.zeros(n_tasks, 1, embedding_dim))
        self.cls_w = nn.Parameter(torch.empty(n_tasks, embedding_dim))
        self.cls_b = nn.Parameter(torch.zeros(n_tasks))
        for w in (self.w1, self.w2):  # nn.Linear's default init, per task
            bound = 1.0 / w.shape[1] ** 0.5
            nn.init.uniform_(w, -bound, bound)
        nn.init.uniform_(self.cls_w, -1.0 / embedding_dim ** 0.5, 1.0 / embedding_dim ** 0.5)

    def raw_per_task(self, feats: torch.Tensor, tasks=None) -> torch.Tensor:
        """(T', n, F) features, row t for task ``tasks[t]`` (default: all tasks) -> (T', n, d) raw embeddings."""
        w1, b1, w2, b2 = (p if tasks is None else p[tasks] for p in (self.w1, self.b1, self.w2, self.b2))
        return torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, feats, w1)), w2)

    def raw(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, F) shared features -> (B, T, d): every task's raw embedding of every row."""
        x = feats.unsqueeze(0).expand(self.n_tasks, -1, -1)
        return self.raw_per_task(x).transpose(0, 1)

    def logits_from_raw(self, raw: torch.Tensor, task_dim: int = 1, tasks=None) -> torch.Tensor:
        """Raw embeddings with the task axis at ``task_dim`` ((B, T, d) or (T, n, d)) -> logits without d."""
        w, b = (self.cls_w, self.cls_b) if tasks is None else (self.cls_w[tasks], self.cls_b[tasks])
        shape = [1] * (raw.dim() - 1)
        shape[task_dim] = -1
        return (raw * w.view(*shape, w.shape[-1])).sum(-1) + b.view(*shape)


class MultiTaskEmbeddingNet(nn.Module):
    """Shared trunk -> shared feature layer (the prior features) -> one two-layer embedding head and
    one sigmoid classifier per task (attribute). ``forward`` -> (B, T, d) L2-normalised;
    ``logits`` -> (B, T). ``features`` is what the frozen-trunk protocol caches."""

    def __init__(self, trunk: nn.Module, n_tasks: int, embedding_dim: int = 64, feature_dim: int = 512,
                 hidden: int = 128):
        super().__init__()
        self.trunk = trunk
        self.shared = nn.Sequential(nn.Linear(trunk.out_dim, feature_dim), nn.ReLU(True))
        self.heads = AttributeHeads(feature_dim, n_tasks, hidden, embedding_dim)
        self.n_tasks, self.embedding_dim, self.feature_dim = n_tasks, embedding_dim, feature_dim

    @property
    def input_shape(self):
        return self.trunk.input_shape

    def features(self, x):
        return self.shared(self.trunk(x))

    def raw_embedding(self, x):
        return self.heads.raw(self.features(x))

    def forward(self, x):
        return F.normalize(self.raw_embedding(x), dim=-1)

    def logits(self, x):
        return self.heads.logits_from_raw(self.raw_embedding(x))


def build_net(name: str, embedding_dim: int = 64, n_classes: Optional[int] = None,
              n_tasks: Optional[int] = None, width: int = 1, feature_dim: int = 512, hidden: int = 128) -> nn.Module:
    """A network by trunk name ('face', 'patch', 'mnist', 'digits8'); ``n_tasks`` gives the
    multi-task (multi-label) net with ``feature_dim`` shared features and ``hidden``-wide heads."""
    if name not in TRUNKS:
        raise ValueError(f"unknown network {name!r}; choose from {sorted(TRUNKS)}")
    trunk = TRUNKS[name](width=width)
    if n_tasks:
        return MultiTaskEmbeddingNet(trunk, n_tasks, embedding_dim, feature_dim, hidden)
    return EmbeddingNet(trunk, embedding_dim, n_classes)
