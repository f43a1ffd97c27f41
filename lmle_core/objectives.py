"""Classification objectives by name: the one place that turns a method's ``objective`` into a loss.

Both training paths (single-label ``training`` and multi-label ``multilabel``) call
:func:`classification_loss`, so every imbalanced-learning loss of ``lmle_core.losses.modern``
is available to every dataset under one name:

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
Multi-label losses are returned as the SUM over attributes of each attribute's mean, like the
other multi-label losses (each head gets the gradient of its own loss).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .losses import modern
from .losses.lmle import cost_sensitive_cross_entropy

OBJECTIVES = ("ce", "focal", "cb-focal", "ldam-drw", "logit-adjusted", "balanced-softmax", "pos-weighted")
FOCAL_GAMMA = 2.0
CB_BETA = 0.9999
DRW_AT = 0.8           # Cao et al. defer re-weighting to the last 20 % of training (epoch 160 of 200)
LDAM_MAX_MARGIN = 0.5
LDAM_SCALE = 1.0       # the logits here are not cosine logits: no rescaling (Cao et al. use s = 30 with norms)


def check_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose from {OBJECTIVES}")
    return name


def classification_loss(objective: str, logits: torch.Tensor, targets: torch.Tensor, counts,
                        progress: float = 0.0, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The ``objective`` on a batch: multi-class when ``targets`` is (B,), binary attributes when it is
    (B, A) like ``logits``. ``weights``: per-sample (B,) or per-element (B, A) in-batch costs (``ce`` only)."""
    check_objective(objective)
    if targets.dim() == 2:
        return _binary(objective, logits, targets.float(), torch.as_tensor(counts), progress, weights)
    return _multiclass(objective, logits, targets, torch.as_tensor(counts), progress, weights)


def _multiclass(objective, logits, targets, counts, progress, weights):
    if objective == "ce":
        return cost_sensitive_cross_entropy(logits, targets, weights)
    if weights is not None:
        raise ValueError(f"in-batch costs are defined for the 'ce' objective only, not {objective!r}")
    if objective == "focal":
        return modern.focal_loss(logits, targets, gamma=FOCAL_GAMMA)
    if objective == "cb-focal":
        return modern.focal_loss(logits, targets, gamma=FOCAL_GAMMA,
                                 class_weights=modern.class_balanced_weights(counts, CB_BETA))
    if objective == "ldam-drw":
        w = modern.deferred_reweighting_weights(counts, progress, DRW_AT, CB_BETA)
        return modern.ldam_loss(logits, targets, counts, LDAM_MAX_MARGIN, LDAM_SCALE, class_weights=w)
    if objective == "logit-adjusted":
        return modern.logit_adjusted_cross_entropy(logits, targets, counts)
    if objective == "balanced-softmax":
        return modern.balanced_softmax_cross_entropy(logits, targets, counts)
    prior = modern.class_prior(counts)   # pos-weighted: inverse-frequency class weights, mean 1
    w = (1.0 / prior) / (1.0 / prior).mean()
    return modern.class_weighted_cross_entropy(logits, targets, class_weights=w)


def _binary(objective, logits, labels, counts, progress, weights):
    n_attr = logits.shape[1]
    neg, pos = counts[:, 0], counts[:, 1]
    if objective == "ce":
        per = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return (per if weights is None else per * weights).mean() * n_attr
    if weights is not None:
        raise ValueError(f"in-batch costs are defined for the 'ce' objective only, not {objective!r}")
    if objective == "focal":
        loss = modern.sigmoid_focal_loss(logits, labels, gamma=FOCAL_GAMMA)
    elif objective == "cb-focal":
        loss = modern.sigmoid_focal_loss(logits, labels, gamma=FOCAL_GAMMA,
                                         class_weights=modern.class_balanced_weights(counts, CB_BETA))
    elif objective == "ldam-drw":
        w = modern.deferred_reweighting_weights(counts, progress, DRW_AT, CB_BETA)
        loss = modern.binary_ldam_loss(logits, labels, pos, neg, LDAM_MAX_MARGIN, LDAM_SCALE, class_weights=w)
    elif objective == "logit-adjusted":
        loss = modern.binary_logit_adjusted_loss(logits, labels, pos, neg)
    elif objective == "balanced-softmax":
        loss = modern.binary_balanced_softmax_loss(logits, labels, pos, neg)
    else:
        loss = modern.positive_weighted_sigmoid_cross_entropy(logits, labels, pos, neg)
    return loss * n_attr
