"""A method = what one training step optimises (an objective: a loss and its miner) + how batches are drawn
(plain or class-balanced, in-batch costs) + how the trained network decides (a decision rule, an estimator
of :mod:`lmle_core.classifiers`). Methods are objects registered where they are defined
(``register_method``, as timm's ``register_model``); :data:`METHODS` maps names to them.

A new embedding loss is one class (:class:`lmle_core.methods.embedding.EmbeddingObjective` with a loss
and a miner) and one ``register_method`` call; nothing else changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch

from .. import classifiers


@dataclass
class StepInput:
    """One training step as an objective sees it: A tasks (attributes; 1 for single-label data) x B anchors."""

    model: object                     # the model adapter (raw embeddings / logits of training rows)
    anchors: np.ndarray               # (A, B) training rows per task, or (B,) rows shared by every task
    labels: np.ndarray                # (A, B) the anchors' labels per task
    weights: Optional[torch.Tensor]   # (A, B) in-batch costs, or None
    plans: list                       # per task: what plan_round prepared (tables, counts, ...)
    bounds: list                      # per task: losses.MarginBounds (embedding objectives), else None
    rngs: list                        # per task: a numpy Generator (random positives)
    budget: object                    # methods.Budget
    progress: float                   # fraction of the whole training done before this step


@dataclass
class PlanInput:
    """What an objective may use to prepare a round (offline mining), per task."""

    features: Optional[list]          # per task (N, d) embeddings of the training rows (embedding heads)
    labels: np.ndarray                # (N, A) training labels
    multilabel: bool                  # A binary attributes (else one multi-class task)
    n_classes: int                    # classes of a multi-class task (2 per attribute)
    budget: object
    round: int
    seeds: List[int]                  # per task: the seed of this round's clustering and mining
    groups: Optional[np.ndarray]      # (N,) source image of each row: no member from the anchor's own image
    anchors: Optional[list]           # per task: the rows the round will draw as anchors (mine only those)
    clusters: Optional[list]          # per task: a clustering of these features with this seed, if one exists
    bounds: Optional[list] = None     # per task: losses.MarginBounds (embedding objectives), else None


class TrainingObjective:
    """What one step optimises. Subclasses: classification (softmax family) and embedding objectives."""

    head = "classifier"               # "classifier": logits, decided by argmax; "embedding": Eq. 3 kNN

    def anchors_per_step(self, budget) -> int:
        return budget.softmax_batch_size if self.head == "classifier" else budget.batch_size

    def shares_batch(self, resample: bool, multilabel: bool) -> bool:
        """True: one batch of images serves every task (plain sampling of a multi-label task)."""
        return False

    def plan_round(self, plan: PlanInput) -> list:
        """Per task, what the round's steps need (tables, counts); default: nothing."""
        return [{} for _ in range(plan.labels.shape[1])]

    def step(self, batch: StepInput):
        """(loss, images through the network) of one step."""
        raise NotImplementedError

    def own_rule(self, budget, seed: int):
        """The decision rule of a network trained with this objective, unfitted."""
        if self.head == "embedding":
            return classifiers.LMLEKNNClassifier(k=budget.knn_k, cluster_size=budget.cluster_size, seed=seed)
        return classifiers.ArgmaxClassifier()

    def key(self) -> tuple:
        """What the trained network depends on (a run cache's identity of the objective)."""
        return (type(self).__name__,)


@dataclass(frozen=True)
class DecisionRule:
    """How a trained network classifies the test set when not by its objective's own rule."""

    name: str
    description: str
    head: str                         # the head it reads: "classifier" (logits) or "embedding"

    def build(self, budget, seed: int):
        if self.name == "prior-corrected":
            return classifiers.PriorCorrectedClassifier()
        if self.name == "instance-knn":
            return classifiers.InstanceKNNClassifier(k=budget.knn_k)
        raise ValueError(f"unknown decision rule {self.name!r}")


PRIOR_CORRECTED = DecisionRule("prior-corrected", "sigmoid threshold corrected by the training prior "
                                                  "(post-hoc logit adjustment)", "classifier")
INSTANCE_KNN = DecisionRule("instance-knn", "instance-wise majority kNN over all training embeddings", "embedding")


@dataclass(frozen=True)
class Method:
    name: str
    objective: TrainingObjective
    resample: bool = False            # class-balanced batches
    cost: bool = False                # in-batch costs equalising the classes' weights
    description: str = ""
    decision: Optional[DecisionRule] = None   # None: the objective's own rule

    def __post_init__(self):
        if self.decision is not None and self.decision.head != self.objective.head:
            raise ValueError(f"method {self.name!r}: decision {self.decision.name!r} reads a {self.decision.head} "
                             f"head, the objective trains a {self.objective.head} head")

    @property
    def head(self) -> str:
        return self.objective.head

    @property
    def classifier(self) -> str:
        if self.decision is not None:
            return self.decision.description
        return "softmax argmax" if self.head == "classifier" else "large-margin cluster kNN (Eq. 3)"

    @property
    def training(self) -> tuple:
        """What training depends on: methods that differ only in their decision share one trained network."""
        return (*self.objective.key(), self.resample, self.cost)

    def test_rule(self, budget, seed: int):
        """The decision rule applied to the test set, unfitted (None: the one fitted during training)."""
        return None if self.decision is None else self.decision.build(budget, seed)


METHODS: Dict[str, Method] = {}


def register_method(method: Method, replace: bool = False) -> Method:
    """Add ``method`` to :data:`METHODS` under its name (an existing name needs ``replace``)."""
    if method.name in METHODS and not replace:
        raise ValueError(f"a method named {method.name!r} is registered already")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(METHODS)}") from None
