"""The model adapter of single-label data: one network (trunk -> embedding -> optional classifier) on its
image sets, seen by the training loop as one task.

The loop and the objectives talk to a model only through this interface (the attribute model of
:mod:`lmle_core.attributes` implements it for A heads on shared features):

- ``raw_rows(rows (A, M))`` -> (raw embeddings (A, M, d) with gradients, images sent through the network);
- ``logits_from_raw(raw, task_dim)`` -> the classifier's logits of raw embeddings;
- ``embeddings(split, task)`` -> (N, d) L2-normalised embeddings of a whole split (eval mode);
- ``logits(split)`` -> (N, C) logits (multi-class) or (N, A) (attributes) of a whole split;
- ``parameters()``, ``train(mode)``, ``state_dict()``, ``load_state_dict(state)``.
"""
from __future__ import annotations

import copy

import torch

from ..imageset import ImageSet
from .inference import embed, layout, logits


class ImageModel:
    multilabel = False

    def __init__(self, net, train: ImageSet, val: ImageSet, test: ImageSet = None, eval_batch_size: int = 2048):
        self.net, self.eval_batch_size = net, eval_batch_size
        self.sets = {"train": train, "val": val, "test": test}
        self.device = train.device
        self.net.to(self.device)
        if self.device.type == "cuda":
            self.net.to(memory_format=torch.channels_last)

    def raw_rows(self, rows):
        """rows (1, M): the task's rows, duplicates included (batch norm sees the batch as drawn)."""
        x = layout(self.sets["train"].batch(rows[0]))
        return self.net.raw_embedding(x)[None], int(rows.size)

    def logits_from_raw(self, raw, task_dim: int = 0):
        return self.net.classifier(raw[0])[None]

    def embeddings(self, split: str, task: int = 0) -> torch.Tensor:
        return embed(self.net, self.sets[split], self.eval_batch_size)

    def logits(self, split: str) -> torch.Tensor:
        return logits(self.net, self.sets[split], self.eval_batch_size)

    def parameters(self):
        return self.net.parameters()

    def train(self, mode: bool = True):
        self.net.train(mode)
        return self

    def state_dict(self) -> dict:
        return copy.deepcopy(self.net.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state)
