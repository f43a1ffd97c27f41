"""The attribute model: one two-layer embedding head (and sigmoid classifier) per attribute on shared
features, and where the features come from.

Feature sources:

- :class:`CachedFeatures`, the frozen-trunk protocol (CPU): the prior network's shared features of every
  training image and of its mirror image, computed once; the heads train on them. Mirror rows share their
  source image's group, so a mirror is never a member of its own image's quintuplet.
- :class:`TrunkFeatures`, end to end (GPU): the trunk runs on the images of the step's union (random
  horizontal flips), and trains with the heads.

:class:`AttributeModel` is what the training loop trains (the adapter interface of
:mod:`lmle_core.training.models`): every attribute is one task; one step sends the UNION of all
attributes' rows through the feature source once, and each head embeds its own attribute's rows.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed
from ..training.inference import autocast


class CachedFeatures:
    """Frozen trunk: precomputed shared features. Train rows are the images then their mirrors."""

    trainable = False

    def __init__(self, train: torch.Tensor, val: torch.Tensor, test: torch.Tensor, n_images: int):
        self.splits = {"train": train, "val": val, "test": test}
        self.n_images = n_images                       # train rows = n_images originals + n_images mirrors

    def rows(self, split: str) -> int:
        return int(self.splits[split].shape[0])

    def groups(self) -> np.ndarray:
        return np.tile(np.arange(self.n_images), self.rows("train") // self.n_images)

    def train_features(self, idx: torch.Tensor) -> torch.Tensor:
        return self.splits["train"].index_select(0, idx)

    def all_features(self, split: str, batch_size: int = 8192):
        feats = self.splits[split]
        for s in range(0, feats.shape[0], batch_size):
            yield feats[s:s + batch_size]

    def parameters(self):
        return []

    def train(self, mode: bool = True):
        return self


class TrunkFeatures:
    """End to end: ``net.features`` (trunk + shared layer) on the images, trained with the heads."""

    trainable = True

    def __init__(self, net, sets: dict, flip: bool = True, seed: int = 0):
        self.net, self.sets, self.flip = distributed.sync_batch_norm(net), sets, flip
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.n_images = len(sets["train"])

    def rows(self, split: str) -> int:
        return len(self.sets[split])

    def groups(self) -> np.ndarray:
        return np.arange(self.n_images)

    def train_features(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.sets["train"].batch(idx)
        if self.flip:  # random horizontal flips: the mirror images of the frozen protocol, drawn on the fly
            flip = (torch.rand(len(idx), generator=self.gen) < 0.5).to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.features(x)

    @torch.no_grad()
    def all_features(self, split: str, batch_size: int = 1024, mirror: bool = False):
        """Features of every image of ``split`` in eval mode (``mirror``: of their mirror images)."""
        was = self.net.training
        self.net.eval()
        data = self.sets[split]
        with autocast(data.device):
            for s in range(0, len(data), batch_size):
                x = data.batch(np.arange(s, min(s + batch_size, len(data))))
                yield self.net.features(x.flip(-1) if mirror else x).float()
        self.net.train(was)

    def parameters(self):
        return list(self.net.trunk.parameters()) + list(self.net.shared.parameters())

    def train(self, mode: bool = True):
        self.net.trunk.train(mode)
        self.net.shared.train(mode)
        return self


@torch.no_grad()
def attribute_embeddings(heads, source, split: str, attribute: int) -> torch.Tensor:
    """(N, d) L2-normalised embeddings of one attribute's head for every row of ``split``."""
    out = [F.normalize(heads.raw_per_task(f[None], tasks=[attribute])[0].float(), dim=-1)
           for f in source.all_features(split)]
    return torch.cat(out)


@torch.no_grad()
def attribute_logits(heads, source, split: str) -> torch.Tensor:
    """(N, A) classifier logits of every attribute for every row of ``split``."""
    return torch.cat([heads.logits_from_raw(heads.raw(f)).float() for f in source.all_features(split)])


class AttributeModel:
    """A heads (``nets.AttributeHeads``) on a feature source, as the training loop sees it."""

    multilabel = True

    def __init__(self, heads, source):
        self.heads, self.source = heads, source
        self.device = heads.w1.device

    def raw_rows(self, rows: np.ndarray):
        """(A, M) row ids, row a for attribute a -> ((A, M, d) raw embeddings, rows sent through the source):
        the union of all rows goes through the feature source once."""
        union, inverse = np.unique(rows, return_inverse=True)
        feats = self.source.train_features(torch.as_tensor(union, device=self.device))
        gathered = feats.index_select(0, torch.as_tensor(inverse.reshape(-1), device=self.device))
        return self.heads.raw_per_task(gathered.view(rows.shape[0], rows.shape[1], -1)), len(union)

    def shared_raw(self, rows: np.ndarray):
        """(B,) rows shared by every attribute -> ((B, A, d) raw embeddings, B)."""
        return self.heads.raw(self.source.train_features(torch.as_tensor(rows, device=self.device))), len(rows)

    def logits_from_raw(self, raw: torch.Tensor, task_dim: int = 0) -> torch.Tensor:
        return self.heads.logits_from_raw(raw, task_dim=task_dim)

    def embeddings(self, split: str, task: int) -> torch.Tensor:
        return attribute_embeddings(self.heads, self.source, split, task)

    def logits(self, split: str) -> torch.Tensor:
        return attribute_logits(self.heads, self.source, split)

    def parameters(self):
        return list(self.heads.parameters()) + list(self.source.parameters())

    def train(self, mode: bool = True):
        self.heads.train(mode)
        self.source.train(mode)
        return self

    def state_dict(self) -> dict:
        copy = lambda m: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}  # noqa: E731
        return {"heads": copy(self.heads), "source": copy(self.source.net) if self.source.trainable else None}

    def load_state_dict(self, state: dict) -> None:
        self.heads.load_state_dict(state["heads"])
        if state.get("source") is not None:
            self.source.net.load_state_dict(state["source"])
