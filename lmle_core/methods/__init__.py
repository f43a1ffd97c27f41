"""Methods as registered objects, and the budget they train with.

- ``base``: :class:`Method` (objective + sampling + costs + decision rule), :data:`METHODS`,
  :func:`register_method`, :func:`get_method`, the objective interface (:class:`TrainingObjective`,
  :class:`StepInput`, :class:`PlanInput`) and the test-time decision rules;
- ``softmax``: the classification objectives (cross-entropy, today's losses, + CRL) and their methods;
- ``embedding``: embedding objectives (a loss fed by a miner: LMLE's quintuplets, the triplet baseline)
  and their methods;
- ``budget``: :class:`Budget` (every training setting) and its named presets.

A new method: build an objective (e.g. ``EmbeddingObjective(MyLoss(), QuintupletMiner())``), then
``register_method(Method("My method", objective, resample=True, cost=True))``; ``run_method`` trains it.
"""
from .base import (INSTANCE_KNN, METHODS, PRIOR_CORRECTED, DecisionRule, Method, PlanInput, StepInput,
                   TrainingObjective, get_method, register_method)
from .budget import PRESETS, Budget
from .softmax import SOFTMAX, CRLTerm, SoftmaxObjective  # noqa: E402 (registers the softmax-family methods)
from .embedding import QUINTUPLET, TRIPLET, EmbeddingObjective  # noqa: E402 (registers the embedding methods)

__all__ = ["Budget", "CRLTerm", "DecisionRule", "EmbeddingObjective", "INSTANCE_KNN", "METHODS", "Method",
           "PRESETS", "PRIOR_CORRECTED", "PlanInput", "QUINTUPLET", "SOFTMAX", "SoftmaxObjective", "StepInput",
           "TRIPLET", "TrainingObjective", "get_method", "register_method"]
