"""Embedding objectives (a loss fed by a miner) and the embedding methods of the papers' tables.

One step, for every task (attribute; one for single-label data): the miner turns the task's anchors into
tuples of training rows (a table miner) or the batch itself is mined (a batch miner); the rows of all
tasks go through the network together; the L2-normalised embeddings go to the loss with per-anchor
margins (scale x the geometric bounds of Sec. 3.2), in-batch costs and the mask of the terms whose
members exist. The loss of A tasks is A times the mean over their tuples (each task's mean, summed).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed
from ..losses.lmle import TripleHeaderHingeLoss, TripletHingeLoss
from ..losses.semihard import semihard_triplet_loss
from ..mining.miners import BudgetChoice, MiningContext, NearestNegativeMiner, QuintupletMiner, SemiHardMiner
from .base import INSTANCE_KNN, METHODS, Method, PlanInput, StepInput, TrainingObjective, register_method


class EmbeddingObjective(TrainingObjective):
    """``loss`` (tuple embeddings (n, m, d), margins, weights, valid, distance -> scalar, ``distance``
    the budget's ``margin_distance``; with ``tuple_size`` and ``margins(bounds, scale, anchor_labels)``,
    ``scale`` the budget's ``margin_scales()``) fed by ``miner`` (a table miner, a batch miner, or a
    :class:`~lmle_core.mining.miners.BudgetChoice` of them)."""

    head = "embedding"

    def __init__(self, loss, miner, name: str = ""):
        self.loss, self.miner, self.name = loss, miner, name or type(loss).__name__

    def miner_for(self, budget):
        return self.miner.for_budget(budget)

    def anchors_per_step(self, budget) -> int:
        # a batch miner sees as many images per step as a table miner's tuples send through the network
        return budget.batch_size * (5 if self.miner_for(budget).in_batch else 1)

    def plan_round(self, plan: PlanInput) -> list:
        miner = self.miner_for(plan.budget)
        if miner.in_batch:
            return super().plan_round(plan)
        out, budget = [], plan.budget
        for a in range(plan.labels.shape[1]):
            semi_hard = budget.selection == "semi-hard"   # the band's margins: the hinge's, per row
            ctx = MiningContext(seed=plan.seeds[a], subset_fraction=budget.subset_fraction,
                                cluster_size=budget.cluster_size, groups=plan.groups,
                                anchors=None if plan.anchors is None else plan.anchors[a],
                                clusters=None if plan.clusters is None else plan.clusters[a],
                                selection=budget.selection, distance=budget.margin_distance,
                                margins=self.loss.margins(plan.bounds[a], budget.margin_scales(), plan.labels[:, a])
                                if semi_hard else None)
            out.append(miner.mine(plan.features[a], plan.labels[:, a], ctx))
        return out

    def collapse(self, plan: PlanInput, plans: list, balance_classes: bool, references=None,
                 n_pairs: int = 2000) -> list:
        """Per task, :func:`lmle_core.diagnostics.collapse_report` of the round's table on the embeddings it
        was mined from (random-pair distances from ``n_pairs`` pairs; no linear probe: it is per round).
        A batch miner has no table: distances only. ``references``: the run's first reports (the shrink rule)."""
        from .. import diagnostics

        miner, budget = self.miner_for(plan.budget), plan.budget
        out = []
        for a in range(plan.labels.shape[1]):
            y = plan.labels[:, a]
            table = margins = None
            if not miner.in_batch:
                table = miner.mined_table(plans[a], y, plan.seeds[a])
                margins = self.loss.margins(plan.bounds[a], budget.margin_scales(), y).reshape(len(y), -1)
            out.append(diagnostics.collapse_report(
                plan.features[a], y, table, margins, distance=budget.margin_distance, balance_classes=balance_classes,
                reference=None if references is None else references[a], probe=False, n_pairs=n_pairs,
                seed=plan.seeds[a]))
        return out

    def step(self, batch: StepInput):
        miner, budget = self.miner_for(batch.budget), batch.budget
        n_tasks = len(batch.plans)
        if miner.in_batch:
            w = distributed.shard(batch.weights, axis=1)       # costs of the whole batch, then this process's share
            anchors, y = distributed.shard(batch.anchors, axis=1), distributed.shard(batch.labels, axis=1)
            return self._in_batch_step(miner, batch, anchors, y, w, n_tasks)
        # tuples drawn on the whole batch (random positives too), then this process's share
        rows, valid = zip(*[miner.tuples(batch.plans[a], batch.anchors[a], batch.labels[a], batch.rngs[a])
                            for a in range(n_tasks)])
        rows, valid = distributed.shard(np.stack(rows), axis=1), distributed.shard(np.stack(valid), axis=1)
        w, y = distributed.shard(batch.weights, axis=1), distributed.shard(batch.labels, axis=1)
        valid = valid.reshape(-1, valid.shape[-1])             # (A*B', terms); rows (A, B', m)
        raw, n_images = batch.model.raw_rows(rows.reshape(n_tasks, -1))
        emb = F.normalize(raw.float(), dim=-1).reshape(-1, rows.shape[-1], raw.shape[-1])
        margins = np.concatenate([self.loss.margins(batch.bounds[a], budget.margin_scales(), y[a])
                                  for a in range(n_tasks)])
        loss = self.loss(emb, torch.as_tensor(margins, device=emb.device, dtype=emb.dtype),
                         weights=None if w is None else w.reshape(-1).to(emb.device),
                         valid=torch.as_tensor(valid, device=emb.device), distance=budget.margin_distance)
        return loss * n_tasks, n_images

    def _in_batch_step(self, miner, batch, anchors, y, w, n_tasks):
        if batch.budget.margin_distance != "squared":
            raise ValueError(f"budget.margin_distance={batch.budget.margin_distance!r}: the in-batch semi-hard "
                             f"triplet miner mines on squared distances only; use triplet_mining='table'")
        raw, n_images = batch.model.raw_rows(anchors)
        emb = F.normalize(raw.float(), dim=-1)                  # (A, B, d): each task's batch mined alone
        total = 0.0
        for a in range(n_tasks):
            margin = float(self.loss.margins(batch.bounds[a], batch.budget.margin_scales(), y[a][:1])[0])
            total = total + semihard_triplet_loss(emb[a], torch.as_tensor(y[a], device=emb.device), margin,
                                                  None if w is None else w[a].to(emb.device))
        return total, n_images

    def key(self) -> tuple:
        miner_key = self.miner.key() if hasattr(self.miner, "key") else (type(self.miner).__name__,)
        return (type(self).__name__, self.name, *miner_key)


QUINTUPLET = EmbeddingObjective(TripleHeaderHingeLoss(), QuintupletMiner(), "quintuplet")
# the triplet baseline: random positive + nearest negative of the round's table, or FaceNet's in-batch semi-hard
TRIPLET = EmbeddingObjective(TripletHingeLoss(), BudgetChoice(
    "triplet_mining", {"table": NearestNegativeMiner(), "semi-hard": SemiHardMiner()}), "triplet")

_SCHEMES = (("", False, False, "anchors drawn with the data's class prior"),
            ("+resample", True, False, "class-balanced batches"),
            ("+resample+cost", True, True, "class-balanced batches and in-batch costs equalising class weights"))
for _label, _objective, _what in (("Triplet", TRIPLET, "triplet hinge (random positive, nearest negative)"),
                                  ("Quintuplet", QUINTUPLET, "LMLE quintuplets + triple-header hinge")):
    for _suffix, _resample, _cost, _how in _SCHEMES:
        register_method(Method(f"{_label}{_suffix}", _objective, _resample, _cost, f"{_what}; {_how}"))
# the names of LMLE Table 2 for the same methods
for _alias, _of in (("LMLE", "Quintuplet+resample+cost"), ("LMLE-kNN", "Quintuplet+resample+cost"),
                    ("Triplet-kNN", "Triplet+resample+cost")):
    register_method(dataclasses.replace(METHODS[_of], name=_alias))
register_method(dataclasses.replace(
    METHODS["Quintuplet+resample+cost"], name="LMLE (instance-wise kNN)", decision=INSTANCE_KNN,
    description="the full method's embeddings classified by instance-wise kNN (LMLE Sec. 5.2 ablation)"))
