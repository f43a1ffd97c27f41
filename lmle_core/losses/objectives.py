"""Classification objectives by name: one small class each, registered where it is defined.

Every softmax-family method takes one of these (``SoftmaxObjective(objective=NAME)``), on any dataset:

=================== ===================================================== ================================
name                multi-class (logits (B, C), targets (B,))             binary attributes (logits (B, A))
=================== ===================================================== ================================
``ce``              cross-entropy (with the in-batch costs, if any)       sigmoid cross-entropy
``focal``           focal loss, gamma 2                                   sigmoid focal loss
``cb-focal``        focal loss with class-balanced weights (Cui et al.)   sigmoid focal, class-balanced
``ldam-drw``        LDAM, deferred re-weighting after 80 % of training    binary LDAM, DRW
``logit-adjusted``  CE(z + log prior) (Menon et al.)                      logit shifted by log(p / (1 - p))
``balanced-softmax`` CE(z + log n_c) (Ren et al.)                          the same shift (tau = 1)
``pos-weighted``    class-weighted CE, weights 1 / prior (normalised)     pos_weight = n_neg / n_pos
=================== ===================================================== ================================

``counts``: the training set's class counts, (C,) for multi-class, (A, 2) [negatives, positives]
per attribute for binary attributes. ``progress``: the fraction of training done (for DRW).
Multi-label losses are the SUM over attributes of each attribute's mean (each head gets the
gradient of its own loss). A new objective: subclass :class:`ClassificationLoss`, decorate it with
``@register_objective("name")``.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from . import modern
from .lmle import cost_sensitive_cross_entropy

FOCAL_GAMMA = 2.0
CB_BETA = 0.9999
DRW_AT = 0.8           # Cao et al. defer re-weighting to the last 20 % of training (epoch 160 of 200)
LDAM_MAX_MARGIN = 0.5
LDAM_SCALE = 1.0       # the logits here are not cosine logits: no rescaling (Cao et al. use s = 30 with norms)

OBJECTIVES: Dict[str, "ClassificationLoss"] = {}


def register_objective(name: str):
    def add(cls):
        cls.name = name
        OBJECTIVES[name] = cls()
        return cls
    return add


class ClassificationLoss:
    """A classification loss on a batch: ``multiclass`` (logits (B, C), targets (B,)) and ``binary``
    (logits (B, A), labels (B, A) in {0, 1}). Only ``ce`` takes in-batch costs."""

    name = ""
    takes_costs = False

    def __call__(self, logits, targets, counts, progress: float = 0.0, weights=None) -> torch.Tensor:
        if weights is not None and not self.takes_costs:
            raise ValueError(f"in-batch costs are defined for the 'ce' objective only, not {self.name!r}")
        counts = torch.as_tensor(counts)
        if targets.dim() == 2:
            return self.binary(logits, targets.float(), counts, progress, weights) * logits.shape[1]
        return self.multiclass(logits, targets, counts, progress, weights)

    def multiclass(self, logits, targets, counts, progress, weights):
        raise NotImplementedError

    def binary(self, logits, labels, counts, progress, weights):
        """The mean over the batch and the attributes (the caller multiplies by the attributes)."""
        raise NotImplementedError


@register_objective("ce")
class CrossEntropy(ClassificationLoss):
    takes_costs = True

    def multiclass(self, logits, targets, counts, progress, weights):
        return cost_sensitive_cross_entropy(logits, targets, weights)

    def binary(self, logits, labels, counts, progress, weights):
        per = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return (per if weights is None else per * weights).mean()


@register_objective("focal")
class Focal(ClassificationLoss):
    def multiclass(self, logits, targets, counts, progress, weights):
        return modern.focal_loss(logits, targets, gamma=FOCAL_GAMMA)

    def binary(self, logits, labels, counts, progress, weights):
        return modern.sigmoid_focal_loss(logits, labels, gamma=FOCAL_GAMMA)


@register_objective("cb-focal")
class ClassBalancedFocal(ClassificationLoss):
    def multiclass(self, logits, targets, counts, progress, weights):
        return modern.focal_loss(logits, targets, gamma=FOCAL_GAMMA,
                                 class_weights=modern.class_balanced_weights(counts, CB_BETA))

    def binary(self, logits, labels, counts, progress, weights):
        return modern.sigmoid_focal_loss(logits, labels, gamma=FOCAL_GAMMA,
                                         class_weights=modern.class_balanced_weights(counts, CB_BETA))


@register_objective("ldam-drw")
class LDAMDeferredReweighting(ClassificationLoss):
    def multiclass(self, logits, targets, counts, progress, weights):
        w = modern.deferred_reweighting_weights(counts, progress, DRW_AT, CB_BETA)
        return modern.ldam_loss(logits, targets, counts, LDAM_MAX_MARGIN, LDAM_SCALE, class_weights=w)

    def binary(self, logits, labels, counts, progress, weights):
        w = modern.deferred_reweighting_weights(counts, progress, DRW_AT, CB_BETA)
        return modern.binary_ldam_loss(logits, labels, counts[:, 1], counts[:, 0], LDAM_MAX_MARGIN, LDAM_SCALE,
                                       class_weights=w)


@register_objective("logit-adjusted")
class LogitAdjusted(ClassificationLoss):
    def multiclass(self, logits, targets, counts, progress, weights):
        return modern.logit_adjusted_cross_entropy(logits, targets, counts)

    def binary(self, logits, labels, counts, progress, weights):
        return modern.binary_logit_adjusted_loss(logits, labels, counts[:, 1], counts[:, 0])


@register_objective("balanced-softmax")
class BalancedSoftmax(ClassificationLoss):
    def multiclass(self, logits, targets, counts, progress, weights):
        return modern.balanced_softmax_cross_entropy(logits, targets, counts)

    def binary(self, logits, labels, counts, progress, weights):
        return modern.binary_balanced_softmax_loss(logits, labels, counts[:, 1], counts[:, 0])


@register_objective("pos-weighted")
class PositiveWeighted(ClassificationLoss):
    def multiclass(self, logits, targets, counts, progress, weights):
        prior = modern.class_prior(counts)   # inverse-frequency class weights, mean 1
        w = (1.0 / prior) / (1.0 / prior).mean()
        return modern.class_weighted_cross_entropy(logits, targets, class_weights=w)

    def binary(self, logits, labels, counts, progress, weights):
        return modern.positive_weighted_sigmoid_cross_entropy(logits, labels, counts[:, 1], counts[:, 0])


def get_objective(name: str) -> ClassificationLoss:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; choose from {tuple(OBJECTIVES)}") from None


def classification_loss(objective: str, logits: torch.Tensor, targets: torch.Tensor, counts,
                        progress: float = 0.0, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The objective ``objective`` on a batch: multi-class when ``targets`` is (B,), binary attributes when
    it is (B, A) like ``logits``. ``weights``: per-sample (B,) or per-element (B, A) in-batch costs."""
    return get_objective(objective)(logits, targets, counts, progress, weights)
