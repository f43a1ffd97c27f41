"""The FaceNet triplet baseline (Schroff et al. 2015): semi-hard negatives mined in the batch.

For every anchor-positive pair of a mini-batch, a negative n with
D(a, p) < D(a, n) < D(a, p) + margin (farther than the positive, but inside the margin),
D the squared Euclidean distance on the embeddings; every such triplet is kept, as
pytorch-metric-learning's ``TripletMarginMiner(type_of_triplets="semihard")`` keeps them (the tests
check that both mine the same triplets; ours needs nothing beyond torch, e.g. on a bare GPU host).
The loss is our ``triplet_hinge`` over the mined triplets, each weighted by its anchor's cost.
"""
from __future__ import annotations

import torch

from ..mining.triplet import semihard_triplets
from .lmle import triplet_hinge


def semihard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                          weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean triplet hinge over the batch's semi-hard triplets (weights: per batch image, taken at
    the anchor); zero (with a gradient path) when the batch has none."""
    a, p, n = semihard_triplets(embeddings, labels, margin)
    if len(a) == 0:
        return embeddings.sum() * 0.0
    w = None if weights is None else weights[a]
    # index_select, not embeddings[a]: the backward of advanced indexing adds rows with parallel
    # atomics on CPU (non-deterministic sums once a batch holds ~500 triplets); index_select's does not
    rows = lambda i: embeddings.index_select(0, i)  # noqa: E731
    return triplet_hinge(rows(a), rows(p), rows(n), margin, weights=w)
