"""Miners as small objects, the way pytorch-metric-learning pairs a loss with a miner.

A *table miner* works offline, once per round and per task, on the embeddings of the whole training
set (LMLE's quintuplet table; the triplet baseline's nearest negatives): ``mine`` returns its state,
``tuples`` turns a batch of anchors into rows of the training set, one tuple per anchor (-1 filled
with the anchor and masked). A *batch miner* works inside a batch of embeddings (FaceNet's semi-hard
negatives): ``mine_batch`` returns (anchor, positive, negative) positions in the batch.
A miner whose settings come from the budget implements ``for_budget`` (the default returns itself).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..clustering import ClusterResult, cluster_per_class
from ..sampling import ClassMembers
from .quintuplet import build_quintuplets, nearest_other_class, quintuplet_term_mask
from .triplet import semihard_triplets


@dataclass
class MiningContext:
    """One task's round: the seed of its clustering and mining, the settings, and what is known already."""

    seed: int
    subset_fraction: float = 0.5
    cluster_size: int = 200
    groups: Optional[np.ndarray] = None        # (N,) source image per row: no member from the anchor's own
    anchors: Optional[np.ndarray] = None       # rows the round draws as anchors (None: every row)
    clusters: Optional[ClusterResult] = None   # a clustering of these features with ``seed``, if one exists
    selection: str = "hardest"                 # quintuplet members (build_quintuplets' ``selection``)
    margins: Optional[np.ndarray] = None       # (N, 3) the hinge's margins per row (the semi-hard band)
    distance: str = "squared"                  # the hinge's D, the units of ``margins``


class TableMiner:
    in_batch = False
    tuple_size = 1

    def for_budget(self, budget) -> "TableMiner":
        return self

    def mine(self, features, labels: np.ndarray, ctx: MiningContext) -> dict:
        raise NotImplementedError

    def tuples(self, state: dict, anchors: np.ndarray, anchor_labels: np.ndarray, rng):
        """(rows (B, m) with no -1 left, valid (B, terms) mask of the loss terms whose members exist)."""
        raise NotImplementedError

    def mined_table(self, state: dict, labels: np.ndarray, seed: int) -> np.ndarray:
        """(N, m) the round's table as mined ([anchor, members...], -1 missing; unmined rows without
        members), for the collapse diagnostics (:func:`lmle_core.diagnostics.collapse_report`)."""
        raise NotImplementedError


class QuintupletMiner(TableMiner):
    """LMLE's table (Sec. 3.1): per-class clusters of the current embeddings, then for every anchor
    [anchor, p+, p-, p--, n] among a random ``subset_fraction`` of the data (:func:`build_quintuplets`)."""

    tuple_size = 5

    def mine(self, features, labels, ctx: MiningContext) -> dict:
        t = time.perf_counter()
        clusters = ctx.clusters or cluster_per_class(features, labels, ctx.cluster_size, seed=ctx.seed)
        t_cluster = time.perf_counter() - t
        table = build_quintuplets(features, labels, clusters.assignments, ctx.subset_fraction, seed=ctx.seed,
                                  groups=ctx.groups, anchors=ctx.anchors, selection=ctx.selection,
                                  margins=ctx.margins, distance=ctx.distance)
        return {"table": table, "n_clusters": clusters.n_clusters, "cluster_seconds": t_cluster,
                "mining_seconds": time.perf_counter() - t - t_cluster}

    def tuples(self, state, anchors, anchor_labels, rng):
        rows = state["table"][anchors]
        valid = quintuplet_term_mask(rows)
        return np.where(rows >= 0, rows, rows[:, :1]), valid   # a missing member: the anchor, masked

    def mined_table(self, state, labels, seed):
        return state["table"]


class NearestNegativeMiner(TableMiner):
    """The triplet baseline's table: each anchor's nearest other-class candidate (a random
    ``subset_fraction`` of the data), with a random positive of its class drawn at every step."""

    tuple_size = 3

    def mine(self, features, labels, ctx: MiningContext) -> dict:
        t = time.perf_counter()
        negatives = nearest_other_class(features, labels, ctx.subset_fraction, seed=ctx.seed, anchors=ctx.anchors)
        return {"negatives": negatives, "members": ClassMembers(labels), "mining_seconds": time.perf_counter() - t}

    def tuples(self, state, anchors, anchor_labels, rng):
        positives = state["members"].draw(anchor_labels, rng)
        negatives = state["negatives"][anchors]
        valid = negatives >= 0
        return np.stack([anchors, positives, np.where(valid, negatives, anchors)], 1), valid[:, None]

    def mined_table(self, state, labels, seed):
        """[anchor, p, n]: the mined nearest negatives with one random positive each (training draws a
        new positive at every step; this draw stands for them)."""
        negatives = state["negatives"]
        rows = np.arange(len(negatives))
        positives = state["members"].draw(np.asarray(labels), np.random.default_rng(seed))
        mined = negatives >= 0
        return np.stack([rows, np.where(mined, positives, -1), negatives], 1)


class SemiHardMiner:
    """FaceNet's semi-hard negatives inside the batch: every (a, p, n) with
    0 < D(a, n) - D(a, p) <= margin (:func:`lmle_core.mining.triplet.semihard_triplets`)."""

    in_batch = True
    tuple_size = 1

    def for_budget(self, budget) -> "SemiHardMiner":
        return self

    def mine_batch(self, embeddings: torch.Tensor, labels: torch.Tensor, margin: float):
        return semihard_triplets(embeddings, labels, margin)


class BudgetChoice:
    """A miner chosen by a budget field (e.g. ``triplet_mining``: the table or the in-batch semi-hard miner)."""

    def __init__(self, field: str, options: dict):
        self.field, self.options = field, dict(options)

    def for_budget(self, budget):
        value = getattr(budget, self.field)
        try:
            return self.options[value]
        except KeyError:
            raise ValueError(f"budget.{self.field}={value!r}; expected one of {sorted(self.options)}") from None

    def key(self) -> tuple:
        return (self.field, *sorted(self.options))
