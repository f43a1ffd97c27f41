"""The softmax family: a classification objective (cross-entropy or today's imbalanced losses, by name:
:mod:`lmle_core.losses.objectives`), optionally with the Class Rectification Loss, and its methods.

Single-label data has one multi-class head (logits (B, C)); attribute data one binary logit per
attribute (logits (B, A)). CRL (Dong et al.) is a miner (class- or instance-level hard mining of the
batch's minority samples, :mod:`lmle_core.mining.crl`) plus a form (relative, absolute, distribution):
``alpha * L_crl + (1 - alpha) * L_ce`` with ``alpha = crl_eta * Omega_imb`` of the training data.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed, losses
from ..losses import crl_log
from ..losses.objectives import get_objective
from .base import PRIOR_CORRECTED, Method, PlanInput, StepInput, TrainingObjective, register_method


class CRLTerm:
    """CRL with ``level`` "class" | "instance" mining and ``form`` "relative" | "absolute" | "distribution";
    kappa (``crl_k``), the margin (``crl_margin``) and eta (``crl_eta``) come from the budget."""

    def __init__(self, level: str, form: str):
        if level not in losses.crl.LEVELS or form not in losses.crl.FORMS:
            raise ValueError(f"CRL level must be one of {losses.crl.LEVELS} and form one of {losses.crl.FORMS}")
        self.level, self.form = level, form

    def multiclass(self, raw, target, logits, counts, ce, budget) -> torch.Tensor:
        crl = losses.crl_loss(F.normalize(raw.float(), dim=-1), target, logits, level=self.level, form=self.form,
                              k=budget.crl_k, margin=budget.crl_margin)
        alpha = float(losses.crl_alpha(counts, budget.crl_eta))
        return alpha * crl + (1 - alpha) * ce

    def binary(self, raw, target, logits, alpha, budget) -> torch.Tensor:
        """raw (B, A, d), target / logits (B, A), alpha (A,): the mean over attributes of each one's objective."""
        ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(0)    # (A,)
        emb = F.normalize(raw.float(), dim=-1)
        crl = dict(level=self.level, form=self.form, k=budget.crl_k, margin=budget.crl_margin)
        log = crl_log.active_log()
        if log is not None:   # issue 19: per-attribute minority count, active share, logits, bias gradients
            log.observe(logits, target.long(), alpha, emb, **crl)
        _, info = losses.multilabel_crl_loss(emb, target.long(), logits, return_details=True, **crl)
        return losses.crl_objective(info.per_task_loss, ce, alpha)

    def key(self) -> tuple:
        return ("crl", self.level, self.form)


class SoftmaxObjective(TrainingObjective):
    """A classifier head trained with the classification objective ``objective`` (+ ``crl``)."""

    head = "classifier"

    def __init__(self, objective: str = "ce", crl: CRLTerm = None):
        self.objective, self.crl = get_objective(objective), crl

    def shares_batch(self, resample: bool, multilabel: bool) -> bool:
        return multilabel and not resample        # plain batches: one batch of images for every attribute

    def plan_round(self, plan: PlanInput) -> list:
        """The training class counts (the objectives' priors) and CRL's alpha, shared by the tasks."""
        labels = plan.labels
        if plan.multilabel:                                  # (A, 2) [negatives, positives] per attribute
            counts = np.stack([(labels == 0).sum(0), (labels == 1).sum(0)], 1)
            alpha = losses.crl_alpha(counts, plan.budget.crl_eta).float() if self.crl else None
            return [{"counts": counts, "crl_alpha": alpha}] * labels.shape[1]
        return [{"counts": np.bincount(labels[:, 0], minlength=plan.n_classes)}]

    def step(self, batch: StepInput):
        model, plan = batch.model, batch.plans[0]
        w = distributed.shard(batch.weights, axis=1)
        rows, y = distributed.shard(batch.anchors, axis=-1), distributed.shard(batch.labels, axis=1)
        if not model.multilabel:                             # one multi-class task
            raw, n_images = model.raw_rows(rows)
            logits = model.logits_from_raw(raw, task_dim=0)[0].float()   # (B, C)
            target = torch.as_tensor(y[0], device=logits.device)
            weights = None if w is None else w[0].to(logits.device)
            loss = self.objective(logits, target, plan["counts"], batch.progress, weights)
            if self.crl is not None:
                loss = self.crl.multiclass(raw[0], target, logits, plan["counts"], loss, batch.budget)
            return loss, n_images
        if rows.ndim == 2:                                   # +resample: balanced images per attribute, (A, B)
            raw, n_images = model.raw_rows(rows)
            logits = model.logits_from_raw(raw, task_dim=0)  # (A, B)
            raw = raw.transpose(0, 1)                        # (B, A, d)
        else:                                                # one shared batch, every attribute on every image
            raw, n_images = model.shared_raw(rows)           # (B, A, d)
            logits = model.logits_from_raw(raw, task_dim=1).T
        target = torch.as_tensor(y.T, device=logits.device, dtype=torch.float32)   # (B, A)
        n_attr = len(batch.plans)
        if self.crl is None:
            return self.objective(logits.float().T, target, plan["counts"], batch.progress,
                                  None if w is None else w.T.to(logits.device)), n_images
        return self.crl.binary(raw, target, logits.float().T, plan["crl_alpha"].to(logits.device),
                               batch.budget) * n_attr, n_images

    def key(self) -> tuple:
        return (type(self).__name__, self.objective.name, *(self.crl.key() if self.crl else ()))


SOFTMAX = SoftmaxObjective()
for _suffix, _resample, _cost, _how in (("", False, False, "anchors drawn with the data's class prior"),
                                        ("+resample", True, False, "class-balanced batches"),
                                        ("+resample+cost", True, True,
                                         "class-balanced batches and in-batch costs equalising class weights")):
    register_method(Method(f"Softmax{_suffix}", SOFTMAX, _resample, _cost,
                           f"cross-entropy on a linear classifier; {_how}"))
register_method(Method("Softmax (prior-corrected)", SOFTMAX, decision=PRIOR_CORRECTED,
                       description="cross-entropy; positive when the logit exceeds log(p/(1-p)) of the training "
                                   "prior p (post-hoc logit adjustment, Menon et al. 2021) instead of 0"))
# Today's imbalanced-learning losses (plain sampling, the same network and budget as Softmax)
for _name, _objective, _what in (
        ("Focal", "focal", "focal loss, gamma 2 (Lin et al. 2017)"),
        ("CB-Focal", "cb-focal", "focal loss with class-balanced weights, effective number, beta 0.9999 (Cui et al. 2019)"),
        ("LDAM-DRW", "ldam-drw", "LDAM margins with deferred class-balanced re-weighting (Cao et al. 2019)"),
        ("Logit-adjusted loss", "logit-adjusted", "cross-entropy on logits shifted by the log prior (Menon et al. 2021)"),
        ("Balanced softmax", "balanced-softmax", "cross-entropy on logits shifted by log class size (Ren et al. 2020)"),
        ("Pos-weighted CE", "pos-weighted", "cross-entropy weighted inversely to the class prior "
                                            "(binary: pos_weight = n_neg / n_pos)")):
    register_method(Method(_name, SoftmaxObjective(_objective), description=_what))
# CRL (Dong et al. 2017/2018): CE + Class Rectification Loss on hard-mined minority triplets / pairs
for _level, _tag in (("class", "C"), ("instance", "I")):
    for _form in ("relative", "absolute", "distribution"):
        register_method(Method(f"CRL({_tag}) {_form}", SoftmaxObjective("ce", CRLTerm(_level, _form)),
                               description=f"cross-entropy + CRL, {_level}-level hard mining, {_form} comparison "
                                           f"(alpha from the training imbalance)"))
