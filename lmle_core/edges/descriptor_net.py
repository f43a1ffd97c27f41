"""The edge network of the CPU profiles: an MLP on the hand-crafted channel descriptors of each patch.

Why: the paper's 6-layer patch CNN learns nothing in the minutes of CPU a ``quick`` run has (2 cores:
~500 patches/s; after a few epochs its patch-level balanced accuracy over the 151 classes is still
near chance). The descriptors of :func:`lmle_core.edges.features.patch_features` (SE-style colour,
gradient-magnitude and orientation channels, cell means at two resolutions; LMLE Table 1 names such
low-level features as the edge task's prior features) are computed once per image; every method then
trains its own MLP on them (``Linear(962, 512) - ReLU - Linear(512, 256) - ReLU``, then the embedding
and classifier layers of :class:`lmle_core.nets.EmbeddingNet`), from the shared softmax prior, with its
own loss, sampling and costs, exactly as the CNN would. ``full`` keeps the CNN on 45x45 pixels.

- :class:`FeatureSet`: precomputed descriptors with their labels, standardised per batch (duck-types
  :class:`lmle_core.imageset.ImageSet`, as :class:`~lmle_core.edges.patchset.PatchSet` does);
- :class:`DescriptorTrunk`: the MLP, registered in ``lmle_core.nets.TRUNKS`` as ``"edge-descriptor"``;
- :func:`dense_descriptor_outputs`: embeddings and logits at every grid point of a whole image.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import nets
from .features import FEATURE_DIM, channel_features, patch_features

NET_NAME = "edge-descriptor"


class FeatureSet:
    """(N, D) float32 descriptors with (N,) labels; ``batch`` standardises by ``mean`` / ``std`` (D,).

    Duck-types :class:`lmle_core.imageset.ImageSet` (``labels``, ``mean``, ``std``, ``name``,
    ``__len__``, ``device``, ``batch``, ``subset``, ``class_counts``); ``images`` is the raw array.
    """

    def __init__(self, features: torch.Tensor, labels, mean: Sequence[float], std: Sequence[float], name: str = ""):
        features = torch.as_tensor(features)
        if features.dtype != torch.float32 or features.dim() != 2:
            raise ValueError(f"FeatureSet wants float32 (N, D) features, got {features.dtype} {tuple(features.shape)}")
        self.labels = np.asarray(labels)
        if len(self.labels) != features.shape[0]:
            raise ValueError(f"{features.shape[0]} feature rows but {len(self.labels)} labels")
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != (features.shape[1],) or self.std.shape != (features.shape[1],):
            raise ValueError(f"mean / std must have {features.shape[1]} values, got {self.mean.shape} / {self.std.shape}")
        self.features, self.name = features, name
        self._mean_t = torch.from_numpy(self.mean).to(features.device)
        self._std_t = torch.from_numpy(self.std).to(features.device)

    @property
    def images(self) -> torch.Tensor:
        return self.features

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def device(self) -> torch.device:
        return self.features.device

    def batch(self, index, dtype=torch.float32) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(index), device=self.device, dtype=torch.long)
        return ((self.features.index_select(0, idx) - self._mean_t) / self._std_t).to(dtype)

    def subset(self, index) -> "FeatureSet":
        idx = np.asarray(index)
        return FeatureSet(self.features[torch.as_tensor(idx, device=self.device)], self.labels[idx], self.mean,
                          self.std, self.name)

    def class_counts(self, n_classes: Optional[int] = None) -> np.ndarray:
        return np.bincount(self.labels.astype(np.int64), minlength=n_classes or 0)


class DescriptorTrunk(nn.Module):
    """MLP on a patch's standardised descriptor: Linear(FEATURE_DIM, 512 w) - ReLU - Linear(., 256) - ReLU."""

    input_shape = (FEATURE_DIM,)

    def __init__(self, width: int = 1):
        super().__init__()
        hidden = 512 * width
        self.body = nn.Sequential(nn.Linear(FEATURE_DIM, hidden), nn.ReLU(True), nn.Linear(hidden, 256), nn.ReLU(True))
        self.out_dim = 256

    def forward(self, x):
        return self.body(x)


nets.TRUNKS.setdefault(NET_NAME, DescriptorTrunk)


def is_descriptor_net(net: nn.Module) -> bool:
    return isinstance(getattr(net, "trunk", None), DescriptorTrunk)


@torch.no_grad()
def dense_descriptor_outputs(net: nn.Module, image: np.ndarray, mean, std, stride: int = 2, device=None,
                             chunk: int = 16384):
    """Embeddings (h*w, d), logits (h*w, C) or None and the grid (h, w) = (ceil(H/stride), ceil(W/stride))
    of the patches centred at (stride*i, stride*j) of a uint8 (H, W, 3) image."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    h, w = image.shape[:2]
    ys, xs = np.meshgrid(np.arange(0, h, stride), np.arange(0, w, stride), indexing="ij")
    feats = torch.from_numpy(patch_features(channel_features(image), ys.ravel(), xs.ravel())).to(device)
    mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32), device=device)
    std_t = torch.as_tensor(np.asarray(std, dtype=np.float32), device=device)
    was_training = net.training
    net.eval()
    emb, logits = [], []
    for s in range(0, len(feats), chunk):
        raw = net.raw_embedding((feats[s:s + chunk] - mean_t) / std_t).float()
        emb.append(F.normalize(raw, dim=1))
        if net.classifier is not None:
            logits.append(net.classifier(raw).float())
    net.train(was_training)
    return torch.cat(emb), (torch.cat(logits) if logits else None), ys.shape
