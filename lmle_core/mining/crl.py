"""Batch-wise minority class profiling and hard mining for the Class Rectification Loss.

The choices (and where the papers leave them open) are documented in ``lmle_core.losses.crl``.
Every function works on T tasks at once: T = 1 for one multi-class problem, T = A for A binary
attributes. Shapes: ``labels`` (T, B) integer classes, ``probabilities`` (T, B, C),
``embeddings`` (E, B, d) with E = 1 (shared by all tasks) or E = T (one embedding per task).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def batch_class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(T, C) number of samples of each class in the batch, per task."""
    return F.one_hot(labels, num_classes).sum(1)


def minority_classes(class_counts, rho: float = 0.5) -> torch.Tensor:
    """Boolean (..., C): the batch's minority classes (TPAMI Eq. 3), per row of ``class_counts``.

    The smallest classes whose total count is at most ``rho`` times the batch size. Classes tied
    with the first class left out are left out too (the result must not depend on class order);
    absent classes are never minorities. For two classes this is: the smaller class, none on a tie
    or when the batch holds a single class.
    """
    counts = torch.as_tensor(class_counts).to(torch.float64)
    n_classes = counts.shape[-1]
    sorted_counts, order = counts.sort(dim=-1, stable=True)
    # counts are >= 0, so the cumulative sum rises and ``inside`` is a prefix of the sorted classes
    inside = sorted_counts.cumsum(-1) <= rho * sorted_counts.sum(-1, keepdim=True)
    n_inside = inside.sum(-1, keepdim=True)
    first_outside = sorted_counts.gather(-1, n_inside.clamp(max=n_classes - 1))
    first_outside = first_outside.masked_fill(n_inside == n_classes, float("inf"))
    keep = inside & (sorted_counts != first_outside) & (sorted_counts > 0)
    return torch.zeros_like(keep).scatter(-1, order, keep)


def minority_anchors(labels: torch.Tensor, num_classes: int, rho: float = 0.5, min_samples: int = 2):
    """(anchors (T, B) bool, minority (T, C) bool): anchors are the samples of a minority class
    with at least ``min_samples`` samples in the batch (one sample has no positive to pair with)."""
    counts = batch_class_counts(labels, num_classes)
    minority = minority_classes(counts, rho).to(labels.device)
    eligible = minority & (counts >= min_samples)
    return eligible.gather(1, labels), minority


@dataclass
class HardExamples:
    """The top-k hard examples of every anchor, as batch indices.

    ``positives`` / ``negatives`` (T, B, k): row [t, a] lists anchor a's hard positives /
    negatives for task t, hardest first; ``positive_valid`` / ``negative_valid`` mark the entries
    that exist (fewer than k candidates, or a sample that is not an anchor, give False).
    """

    anchors: torch.Tensor
    positives: torch.Tensor
    positive_valid: torch.Tensor
    negatives: torch.Tensor
    negative_valid: torch.Tensor


def _top_k(hardness: torch.Tensor, allowed: torch.Tensor, k: int):
    """Indices of the k largest ``hardness`` among ``allowed`` entries of the last dim."""
    k = min(k, hardness.shape[-1])
    idx = hardness.masked_fill(~allowed, float("-inf")).topk(k, dim=-1).indices
    return idx, allowed.gather(-1, idx)


def _mine(labels, anchors, positive_hardness, negative_hardness, k: int) -> HardExamples:
    b = labels.shape[1]
    same = labels[:, :, None] == labels[:, None, :]
    is_anchor = anchors[:, :, None]
    not_self = ~torch.eye(b, dtype=torch.bool, device=labels.device)
    pos, pos_ok = _top_k(positive_hardness, same & not_self & is_anchor, k)
    neg, neg_ok = _top_k(negative_hardness, ~same & is_anchor, k)
    return HardExamples(anchors, pos, pos_ok, neg, neg_ok)


def anchor_class_probability(probabilities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(T, B, B): entry [t, a, j] is the probability sample j gives to anchor a's class (task t)."""
    t, b, _ = probabilities.shape
    return probabilities.transpose(1, 2).gather(1, labels[:, :, None].expand(t, b, b))


ALL_MINORITY = 0
"""kappa value (``k`` of the miners and losses, ``Budget.crl_k``; also written "all") meaning: every
other sample of the anchor's class in the batch is a hard positive, and as many hardest negatives."""


def kappa_is_all(k) -> bool:
    """True for :data:`ALL_MINORITY` (0) or "all"; a ValueError for anything but those and k >= 1."""
    if isinstance(k, str):
        if k != "all":
            raise ValueError(f"kappa (k) must be a positive integer, 0 or 'all', got {k!r}")
        return True
    if isinstance(k, bool) or int(k) != k or k < 0:
        raise ValueError(f"kappa (k) must be a positive integer, 0 or 'all', got {k!r}")
    return k == ALL_MINORITY


def _all_minority(mine, labels, anchors) -> HardExamples:
    """``mine(k)`` with kappa = (the anchor's class count in the batch) - 1 per anchor: all its class's
    other samples as positives, and that many hardest negatives (the lists are hardest first)."""
    same = (labels[:, :, None] == labels[:, None, :]).sum(-1) - 1                # (T, B) own class, self excluded
    kappa = torch.where(anchors, same, torch.zeros_like(same))
    width = max(1, int(kappa.max()))
    mined = mine(width)
    keep = torch.arange(width, device=labels.device) < kappa[..., None]
    return HardExamples(mined.anchors, mined.positives, mined.positive_valid & keep, mined.negatives,
                        mined.negative_valid & keep)


def mine_class_level(labels, probabilities, anchors, k: int) -> HardExamples:
    """Class-level hard mining: for an anchor of class c, hard positives are the other class-c
    samples with the LOWEST probability of c, hard negatives the other-class samples with the
    HIGHEST probability of c. ``k``: kappa, or :data:`ALL_MINORITY` / "all". Selection only: no
    gradient flows through it."""
    p = anchor_class_probability(probabilities.detach(), labels)
    if kappa_is_all(k):
        return _all_minority(lambda width: _mine(labels, anchors, -p, p, width), labels, anchors)
    return _mine(labels, anchors, -p, p, k)


def pairwise_distances(embeddings: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """(T, B, B) Euclidean distances; computed once when the embedding is shared (E = 1)."""
    return torch.cdist(embeddings, embeddings).expand(num_tasks, -1, -1)


def mine_instance_level(labels, embeddings, anchors, k: int) -> HardExamples:
    """Instance-level hard mining: hard positives are the farthest same-class samples, hard
    negatives the nearest other-class samples (Euclidean). Selection only: no gradient."""
    d = pairwise_distances(embeddings.detach(), labels.shape[0])
    if kappa_is_all(k):
        return _all_minority(lambda width: _mine(labels, anchors, d, -d, width), labels, anchors)
    return _mine(labels, anchors, d, -d, k)
