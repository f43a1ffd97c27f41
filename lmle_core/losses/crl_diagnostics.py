"""What CRL does to the classifier, batch by batch: the push on the minority logits and the training log.

Issue 19 traced class-level CRL's low minority recall on CelebA to kappa, eta and the margin
(documented, with the measurement, in ``lmle_core.losses.crl``). These functions measure the
mechanism on any batch of binary attributes, so the training loop can log it per step or round:

- ``minority_logit_push``: the net push of the CRL term on the minority samples' logits;
- ``crl_step_log``: per attribute, the minority count in the batch, the share of active triplets
  (pairs), the mean and spread of the logits, the pushes and the gradient on each head's bias.

Sign convention of a push: minus the gradient of the loss with respect to the minority samples'
logits, summed over those samples and oriented towards the minority class (the logit itself when
the minority is the positive class, its negative when it is the negative class). So a push > 0
means a gradient-descent step moves the minority samples towards being predicted as the minority
class; < 0, away from it. Units: loss per unit logit (the step is lr x push in logit units).

Why the sign can be negative (class level, relative form, TPAMI Eq. 9-10): with p the probability
of the anchor's class, the triplet term is [m + |p_a - p_+| - (p_a - p_-)]_+. For a positive BELOW
its anchor (p_+ < p_a) it is [m - p_+ + p_-]_+: the positive is lifted, the anchor untouched. For a
positive ABOVE its anchor it is [m + p_+ - 2 p_a + p_-]_+: the anchor is lifted twice and the
positive dragged DOWN. Every active triplet also pushes its negative down. In logits each push is
scaled by sigmoid' = p (1 - p), which vanishes on the saturated tails. With kappa = 5 the hard
positives are the lowest-scored minority samples, often on the flat tail, while the hard negatives
are the majority samples nearest the boundary, at full slope: the push summed over the whole batch
(``CRLStepLog.crl_batch_push``, minus the bias gradient) points towards the majority, and on
CelebA that is what happens (the measurement is in ``lmle_core.losses.crl``). The push on the
minority samples alone (``minority_logit_push``) turns negative when the tail anchors drag the
mid-range positives among their hard positives down more than the flat tail is lifted; the batch
of ``tests/losses/test_crl.py`` is worked by hand. When kappa covers all minority samples, the
mid-range anchors pair with the confident positives above them and are lifted twice at full slope:
both pushes turn positive.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch

from .crl import pair_distances, multilabel_crl_loss

__all__ = ["CRLStepLog", "crl_step_log", "minority_logit_push"]


def _orientation(minority: torch.Tensor) -> torch.Tensor:
    """(A,) +1 where the minority class is 1 (positives), -1 where it is 0, 0 where there is none."""
    return minority[:, 1].double() - minority[:, 0].double()


def _minority_mask(labels: torch.Tensor, minority: torch.Tensor) -> torch.Tensor:
    """(B, A) bool: sample i belongs to attribute a's batch minority class."""
    return minority.t().gather(0, labels)


def _push(grad: torch.Tensor, labels: torch.Tensor, minority: torch.Tensor) -> torch.Tensor:
    mask = _minority_mask(labels, minority)
    return -_orientation(minority) * (grad.double() * mask).sum(0)


def _crl_with_grad(scores, labels, embeddings, **crl):
    """(per-attribute CRL (A,), its gradient wrt the logits (B, A), details), on detached copies."""
    z = scores.detach().double().requires_grad_(True)
    emb = None if embeddings is None else embeddings.detach().double()
    _, info = multilabel_crl_loss(emb, labels, z, return_details=True, **crl)
    if not info.per_task_loss.requires_grad:     # instance level: CRL does not reach the logits at all
        return info.per_task_loss.detach(), torch.zeros_like(z), info
    grad, = torch.autograd.grad(info.per_task_loss.sum(), z, allow_unused=True)
    # attributes are separate tasks, so the sum's gradient in column a is attribute a's own gradient
    return info.per_task_loss.detach(), (torch.zeros_like(z) if grad is None else grad), info


def minority_logit_push(scores: torch.Tensor, labels, embeddings: Optional[torch.Tensor] = None, **crl) -> torch.Tensor:
    """(A,) net push of each attribute's CRL term on its minority samples' logits (module docstring:
    the sign convention). ``scores`` (B, A) logits, ``labels`` (B, A) in {0, 1}; ``crl``: the keyword
    arguments of ``multilabel_crl_loss`` (level, form, k, margin, ...). The term is attribute a's
    L_crl (``CRLDetails.per_task_loss[a]``), before the objective's alpha; 0 for an attribute without
    minority anchors in the batch, and 0 wherever CRL does not reach the logits (instance level, or
    Euclidean distances: CRL then moves the embedding only)."""
    labels = torch.as_tensor(labels, device=scores.device).long()
    _, grad, info = _crl_with_grad(scores, labels, embeddings, **crl)
    return _push(grad, labels, info.minority_classes)


@dataclass
class CRLStepLog:
    """One batch, per attribute (numpy (A,) arrays). Gradients are d(loss)/d(bias of the attribute's
    sigmoid classifier) = the sum over the batch of d(loss)/d(logit): a descent step moves the bias
    by -lr x gradient. Pushes: see the module docstring."""

    minority_class: np.ndarray         # 1 or 0, -1 where the batch has no minority (tie or one class)
    minority_count: np.ndarray         # samples of the minority class in the batch
    anchors: np.ndarray                # minority samples used as anchors
    active_share: np.ndarray           # relative: triplets violating the margin / all valid triplets;
                                       # absolute: negative pairs inside the margin; distribution: NaN
    logit_mean: np.ndarray
    logit_std: np.ndarray
    minority_logit_mean: np.ndarray    # NaN where there is no minority
    crl_loss: np.ndarray               # L_crl per attribute
    crl_push: np.ndarray               # push of L_crl on the minority logits
    crl_batch_push: np.ndarray         # push of L_crl on every logit of the batch (= -(orientation) x crl_bias_grad):
                                       # what moves the threshold; hard negatives pushed down count against it
    ce_push: np.ndarray                # push of the mean cross-entropy on the same logits
    crl_bias_grad: np.ndarray
    ce_bias_grad: np.ndarray
    objective_bias_grad: np.ndarray    # alpha x crl + (1 - alpha) x ce (NaN without alpha)

    def as_dict(self) -> dict:
        return {k: v.tolist() for k, v in asdict(self).items()}

    def means(self) -> dict:
        """Means over the attributes with a minority in the batch (one line of a training log)."""
        on = self.minority_class >= 0
        return {k: float(np.nanmean(v[on])) if on.any() else float("nan") for k, v in asdict(self).items()
                if k != "minority_class"}


def _active_share(info, labels, scores, embeddings, form, level, distance, margin) -> torch.Tensor:
    mined = info.hard_examples
    if form == "distribution":
        return torch.full((labels.shape[1],), float("nan"), dtype=torch.float64)
    distance = distance or ("probability" if level == "class" else "euclidean")
    z = scores.detach().double().t()
    probs = torch.stack([torch.sigmoid(-z), torch.sigmoid(z)], -1)
    emb = None
    if embeddings is not None:
        e = embeddings.detach().double()
        emb = e[None] if e.dim() == 2 else e.transpose(0, 1)
    d_pos, d_neg = pair_distances(mined, labels.t(), probs, emb, distance)
    pv, nv = mined.positive_valid, mined.negative_valid
    if form == "relative":
        valid = pv[..., :, None] & nv[..., None, :]
        active = (margin + d_pos[..., :, None] - d_neg[..., None, :] > 0) & valid
    else:
        valid, active = nv, (d_neg < margin) & nv
    n_valid = valid.flatten(1).sum(1).double()
    share = active.flatten(1).sum(1).double() / n_valid.clamp_min(1)
    return torch.where(n_valid > 0, share, torch.full_like(share, float("nan")))


def crl_step_log(scores: torch.Tensor, labels, alpha=None, embeddings: Optional[torch.Tensor] = None, *,
                 level: str = "class", form: str = "relative", k: int = 5, margin: float = 0.5,
                 distance: Optional[str] = None, **crl) -> CRLStepLog:
    """The per-attribute quantities issue 19 asks the training loop to log, for one batch: ``scores``
    (B, A) logits, ``labels`` (B, A), ``alpha`` (A,) the objective's weights (``crl_alpha``),
    ``embeddings`` (B, d) or (B, A, d) when the level or distance needs them. Evaluated on detached
    copies in float64 (the training step's graph is not touched); CE is the per-attribute mean
    binary cross-entropy, as in the objective."""
    labels = torch.as_tensor(labels, device=scores.device).long()
    kw = dict(level=level, form=form, k=k, margin=margin, distance=distance, **crl)
    loss, grad, info = _crl_with_grad(scores, labels, embeddings, **kw)
    z = scores.detach().double()
    ce_grad = (torch.sigmoid(z) - labels.double()) / len(z)     # d mean BCE / d logit
    minority = info.minority_classes
    mask = _minority_mask(labels, minority).double()
    n_min = mask.sum(0)
    crl_bias, ce_bias = grad.sum(0), ce_grad.sum(0)
    if alpha is None:
        objective = torch.full_like(crl_bias, float("nan"))
    else:
        a = torch.as_tensor(alpha, dtype=torch.float64, device=z.device)
        objective = a * crl_bias + (1 - a) * ce_bias
    has_minority = minority.any(1)
    cls = torch.where(has_minority, minority[:, 1].long(), torch.full_like(has_minority, -1, dtype=torch.long))
    out = {"minority_class": cls, "minority_count": n_min, "anchors": info.num_anchors,
           "active_share": _active_share(info, labels, scores, embeddings, form, level, distance, margin),
           "logit_mean": z.mean(0), "logit_std": z.std(0, unbiased=False),
           "minority_logit_mean": torch.where(n_min > 0, (z * mask).sum(0) / n_min.clamp_min(1),
                                              torch.full_like(n_min, float("nan"))),
           "crl_loss": loss, "crl_push": _push(grad, labels, minority),
           "crl_batch_push": -_orientation(minority) * crl_bias, "ce_push": _push(ce_grad, labels, minority),
           "crl_bias_grad": crl_bias, "ce_bias_grad": ce_bias, "objective_bias_grad": objective}
    return CRLStepLog(**{k: v.detach().cpu().numpy() for k, v in out.items()})
