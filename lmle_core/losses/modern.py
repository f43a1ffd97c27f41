"""Today's imbalanced-learning losses, multi-class and per binary attribute.

- focal loss (Lin et al., ICCV 2017): -alpha_t (1 - p_t)^gamma log p_t;
- class-balanced weights by the effective number of samples (Cui et al., CVPR 2019):
  w_c = (1 - beta) / (1 - beta^n_c), normalised to sum C; usable with CE, focal and sigmoid CE;
- LDAM (Cao et al., NeurIPS 2019): CE on s * (z - Delta_y 1_y), Delta_c proportional to
  n_c^(-1/4) with the largest margin ``max_margin``; with deferred re-weighting (DRW): plain
  weights before the deferral point, class-balanced weights after it;
- logit adjustment (Menon et al., ICLR 2021): the loss CE(z + tau log pi, y), and the post-hoc
  correction argmax_y z_y - tau log pi_y;
- balanced softmax (Ren et al., NeurIPS 2020): CE(z + log n, y);
- positive-weighted sigmoid cross-entropy: pos_weight = n_neg / n_pos per attribute.

Conventions. Multi-class functions take logits (B, C), integer targets (B,) and per-class
statistics (C,). Multi-label functions take logits (B, A), labels (B, A) in {0, 1} and
per-attribute statistics (A,): ``pos_counts`` and ``neg_counts``; per-attribute class weights are
(A, 2) tables with columns [negative class, positive class] (column = label value). Reduction: the
mean over samples (and attributes) of w * loss; PyTorch's ``weight=`` (used in the LDAM-DRW code)
divides by the batch's sum of weights instead, which only rescales each batch. A class with no
training sample is counted as one sample, so weights, margins and log-priors stay finite.

Binary attributes use each method's sigmoid form, written as the two-logit softmax with logits
(0, z) (which is exactly the sigmoid: p(1) = sigmoid(z)):
- focal: p = sigmoid(z), p_t = p for positives and 1 - p for negatives, alpha_t = alpha for
  positives and 1 - alpha for negatives (Lin et al.'s own binary form);
- LDAM: the true class's logit is lowered by its margin in the two-logit form, i.e. the single
  logit becomes s * (z - Delta_pos) for a positive and s * (z + Delta_neg) for a negative, with
  Delta from the attribute's (n_neg, n_pos) and max(Delta_neg, Delta_pos) = max_margin;
- logit adjustment: the single logit is shifted by tau * log(pi / (1 - pi)), pi = n_pos / n;
  post hoc the shift is subtracted (predict positive when z - tau log(pi / (1 - pi)) > 0);
- balanced softmax: the shift log(n_pos / n_neg), i.e. logit adjustment with tau = 1;
- class-balanced: each element weighted by its attribute's class weight w[a, y].
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .lmle import weighted_mean

__all__ = ["balanced_softmax_cross_entropy", "binary_balanced_softmax_loss", "binary_class_counts",
           "binary_ldam_loss", "binary_logit_adjusted_loss", "binary_posthoc_logit_adjustment",
           "class_balanced_weights", "class_prior", "class_weighted_cross_entropy",
           "class_weighted_sigmoid_cross_entropy", "deferred_reweighting_weights", "focal_loss",
           "ldam_loss", "ldam_margins", "logit_adjusted_cross_entropy", "positive_weighted_sigmoid_cross_entropy",
           "positive_weights", "posthoc_logit_adjustment", "sigmoid_focal_loss"]


# ------------------------------------------------------------------------ class statistics
def _counts(class_counts, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.float64
    counts = torch.as_tensor(class_counts, dtype=dtype, device=None if like is None else like.device)
    if (counts < 0).any():
        raise ValueError("class counts must be non-negative")
    return counts.clamp_min(1)   # an absent class counts as one sample (finite weights and priors)


def binary_class_counts(pos_counts, neg_counts) -> torch.Tensor:
    """(A, 2) table [negatives, positives] from per-attribute counts (A,)."""
    return torch.stack([torch.as_tensor(neg_counts, dtype=torch.float64),
                        torch.as_tensor(pos_counts, dtype=torch.float64)], -1)


def class_prior(class_counts) -> torch.Tensor:
    """pi_c = n_c / sum n over the last dim."""
    counts = _counts(class_counts)
    return counts / counts.sum(-1, keepdim=True)


def class_balanced_weights(class_counts, beta: float = 0.9999) -> torch.Tensor:
    """Cui et al.: w_c = (1 - beta) / (1 - beta^n_c), normalised to sum C over the last dim."""
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = _counts(class_counts)
    w = (1 - beta) / (1 - torch.pow(torch.as_tensor(beta, dtype=counts.dtype), counts))
    return w * counts.shape[-1] / w.sum(-1, keepdim=True)


def deferred_reweighting_weights(class_counts, progress: float, defer_at: float, beta: float = 0.9999):
    """DRW (Cao et al.): all-ones class weights before ``defer_at``, class-balanced weights from it
    on. ``progress`` and ``defer_at`` share a unit (epochs or iterations; the paper defers at 160
    of 200 CIFAR epochs)."""
    counts = _counts(class_counts)
    if progress < defer_at:
        return torch.ones_like(counts)
    return class_balanced_weights(counts, beta)


def ldam_margins(class_counts, max_margin: float = 0.5) -> torch.Tensor:
    """Delta_c = C / n_c^(1/4) with C chosen so that the largest margin is ``max_margin``."""
    m = _counts(class_counts).pow(-0.25)
    return m * (max_margin / m.max(-1, keepdim=True).values)


def positive_weights(pos_counts, neg_counts) -> torch.Tensor:
    """pos_weight = n_neg / n_pos per attribute."""
    return _counts(neg_counts) / _counts(pos_counts)


# ----------------------------------------------------------------------------- multi-class
def _per_sample_class_weight(class_weights, targets, like):
    if class_weights is None:
        return None
    return torch.as_tensor(class_weights, dtype=like.dtype, device=like.device)[targets]


def class_weighted_cross_entropy(logits, targets, class_weights=None) -> torch.Tensor:
    """mean_i w_{y_i} CE(z_i, y_i); with class-balanced or DRW weights, the CB / DRW softmax loss."""
    per = F.cross_entropy(logits, targets, reduction="none")
    return weighted_mean(per, _per_sample_class_weight(class_weights, targets, logits))


def focal_loss(logits, targets, gamma: float = 2.0, alpha=None, class_weights=None) -> torch.Tensor:
    """Softmax focal loss: mean_i -alpha_{y_i} w_{y_i} (1 - p_{y_i})^gamma log p_{y_i};
    ``alpha`` (C,) per-class factors (None: 1), ``class_weights`` e.g. class-balanced (C,)."""
    log_p = F.log_softmax(logits, -1).gather(1, targets[:, None])[:, 0]
    per = -(1 - log_p.exp()).pow(gamma) * log_p
    if alpha is not None:
        per = per * _per_sample_class_weight(alpha, targets, logits)
    return weighted_mean(per, _per_sample_class_weight(class_weights, targets, logits))


def ldam_loss(logits, targets, class_counts, max_margin: float = 0.5, scale: float = 30.0,
              class_weights=None) -> torch.Tensor:
    """mean_i w_{y_i} CE(s * (z_i - Delta_{y_i} e_{y_i}), y_i). ``scale`` s = 30 as in Cao et al.,
    whose logits are cosines (normalised features and weights); use s = 1 for plain logits.
    LDAM-DRW: ``class_weights=deferred_reweighting_weights(class_counts, epoch, defer_at)``."""
    margins = ldam_margins(class_counts, max_margin).to(logits)
    shifted = logits - F.one_hot(targets, logits.shape[1]).to(logits) * margins[targets][:, None]
    return class_weighted_cross_entropy(scale * shifted, targets, class_weights)


def logit_adjusted_cross_entropy(logits, targets, class_counts, tau: float = 1.0) -> torch.Tensor:
    """Menon et al.'s logit-adjusted loss: CE(z + tau log pi, y), pi the training class prior."""
    return F.cross_entropy(logits + tau * class_prior(class_counts).to(logits).log(), targets)


def posthoc_logit_adjustment(logits, class_counts, tau: float = 1.0) -> torch.Tensor:
    """Post-hoc logit adjustment: z - tau log pi (predict with argmax over the last dim)."""
    return logits - tau * class_prior(class_counts).to(logits).log()


def balanced_softmax_cross_entropy(logits, targets, class_counts) -> torch.Tensor:
    """Ren et al.: -log(n_y e^{z_y} / sum_j n_j e^{z_j}) = CE(z + log n, y)."""
    return F.cross_entropy(logits + _counts(class_counts, logits).log(), targets)


# ----------------------------------------------------------------- binary attributes (sigmoid)
def _element_class_weight(class_weights, labels, like):
    """w[a, y_ia] as (B, A) from an (A, 2) table [negative, positive]."""
    if class_weights is None:
        return None
    w = torch.as_tensor(class_weights, dtype=like.dtype, device=like.device)
    return torch.where(labels.bool(), w[:, 1], w[:, 0])


def class_weighted_sigmoid_cross_entropy(logits, labels, class_weights=None) -> torch.Tensor:
    """mean_{i,a} w[a, y_ia] BCE(z_ia, y_ia); ``class_weights`` (A, 2) e.g. class-balanced."""
    per = F.binary_cross_entropy_with_logits(logits, labels.to(logits), reduction="none")
    return weighted_mean(per, _element_class_weight(class_weights, labels, logits))


def positive_weighted_sigmoid_cross_entropy(logits, labels, pos_counts, neg_counts) -> torch.Tensor:
    """mean_{i,a} -[p_a y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))], p_a = n_neg / n_pos."""
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits),
                                              pos_weight=positive_weights(pos_counts, neg_counts).to(logits))


def sigmoid_focal_loss(logits, labels, gamma: float = 2.0, alpha=None, class_weights=None) -> torch.Tensor:
    """mean_{i,a} -alpha_t w[a, y] (1 - p_t)^gamma log p_t with p = sigmoid(z); ``alpha`` a scalar
    or (A,) in (0, 1) (alpha_t = alpha for positives, 1 - alpha for negatives; None: 1)."""
    y = labels.to(logits)
    signed = logits * (2 * y - 1)            # log p_t = logsigmoid(+z) for positives, (-z) for negatives
    log_pt = F.logsigmoid(signed)
    per = -torch.sigmoid(-signed).pow(gamma) * log_pt
    if alpha is not None:
        a = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
        per = per * (a * y + (1 - a) * (1 - y))
    return weighted_mean(per, _element_class_weight(class_weights, labels, logits))


def binary_ldam_loss(logits, labels, pos_counts, neg_counts, max_margin: float = 0.5, scale: float = 30.0,
                     class_weights=None) -> torch.Tensor:
    """Two-logit LDAM per attribute: BCE(s * (z - Delta_pos), 1) for positives and
    BCE(s * (z + Delta_neg), 0) for negatives; ``class_weights`` (A, 2) for DRW."""
    margins = ldam_margins(binary_class_counts(pos_counts, neg_counts), max_margin).to(logits)
    y = labels.to(logits)
    shifted = logits - y * margins[:, 1] + (1 - y) * margins[:, 0]
    return class_weighted_sigmoid_cross_entropy(scale * shifted, labels, class_weights)


def _log_prior_odds(pos_counts, neg_counts, like):
    return (_counts(pos_counts, like) / _counts(neg_counts, like)).log()


def binary_logit_adjusted_loss(logits, labels, pos_counts, neg_counts, tau: float = 1.0) -> torch.Tensor:
    """BCE(z + tau log(pi / (1 - pi)), y) per attribute, pi = n_pos / (n_pos + n_neg)."""
    return F.binary_cross_entropy_with_logits(logits + tau * _log_prior_odds(pos_counts, neg_counts, logits),
                                              labels.to(logits))


def binary_posthoc_logit_adjustment(logits, pos_counts, neg_counts, tau: float = 1.0) -> torch.Tensor:
    """z - tau log(pi / (1 - pi)): predict the positive class where the result is > 0."""
    return logits - tau * _log_prior_odds(pos_counts, neg_counts, logits)


def binary_balanced_softmax_loss(logits, labels, pos_counts, neg_counts) -> torch.Tensor:
    """Balanced softmax of the two-logit form: BCE(z + log(n_pos / n_neg), y)."""
    return binary_logit_adjusted_loss(logits, labels, pos_counts, neg_counts, tau=1.0)
