"""The ONE training loop, for single-label data (one multi-class task) and attribute data (A binary tasks).

LMLE (Sec. 3.2), in rounds: (1) the objective prepares the round from the current embeddings (per task:
per-class clusters and the quintuplet table, or the triplet baseline's nearest negatives; round 0 uses the
prior's embeddings, or given prior features), (2) ``iters_per_round`` steps on (optionally class-balanced)
mini-batches drawn per task, every task's rows through the network together, with in-batch costs,
(3) validation with the method's own decision rule fitted on the training embeddings (Eq. 3 over the
re-clustered embeddings, or the softmax rule); the best round on validation is kept and training stops
after ``patience`` rounds without a gain (the paper: within 4 rounds of 5,000 iterations).

A single-label task and an attribute differ only in the adapter the loop trains (``ImageModel`` here,
the attribute model of :mod:`lmle_core.attributes`) and in :class:`TrainTask`'s seeding conventions
(kept from the two loops this one replaces, so every number stayed as it was).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .. import distributed, losses, metrics, sampling
from ..methods.base import PlanInput, StepInput
from .inference import autocast, deterministic_algorithms, progress_bar
from .state import RoundLog, RunState, TrainResult, collapse_summary
from .batches import rotating_schedule


@dataclass
class TrainTask:
    """The labels a model trains on and how its randomness is seeded.

    ``labels`` (N, A) and ``val_labels`` (N_val, A): A = 1 multi-class column (single-label data) or one
    binary column per attribute (``task_ids`` given: a stable id per attribute, so that an attribute
    trains the same alone or among others). ``groups`` (N,): the source image of every training row.
    """

    labels: np.ndarray
    val_labels: np.ndarray
    n_classes: int = 2
    task_ids: Optional[Sequence[int]] = None
    groups: Optional[np.ndarray] = None
    negative_class: Optional[int] = None       # edges: the non-edge class of the positive-sharing costs

    def __post_init__(self):
        self.labels = np.asarray(self.labels).astype(np.int64)
        self.val_labels = np.asarray(self.val_labels).astype(np.int64)
        if self.labels.ndim == 1:
            self.labels, self.val_labels = self.labels[:, None], self.val_labels.reshape(-1, 1)
        if self.task_ids is not None and len(self.task_ids) != self.labels.shape[1]:
            raise ValueError(f"{len(self.task_ids)} task_ids for {self.labels.shape[1]} label columns")

    @property
    def multilabel(self) -> bool:
        return self.task_ids is not None

    @property
    def n_tasks(self) -> int:
        return self.labels.shape[1]

    def ids(self) -> list:
        return [int(i) for i in self.task_ids] if self.multilabel else [0]

    # seeding conventions (per round ``rnd`` and task id ``i``)
    def sampler_seed(self, seed: int, rnd: int, i: int) -> int:
        return seed + 1000 * rnd + 7 * i

    def plan_seed(self, seed: int, rnd: int, i: int) -> int:
        return seed + rnd + i

    def rng(self, seed: int, rnd: int, i: int) -> np.random.Generator:
        return np.random.default_rng([seed + 17 * rnd, i] if self.multilabel else seed + 17 * rnd)

    def eval_seed(self, seed: int, rnd: int, i: int) -> int:
        """Seed of the validation rule's clustering: attributes re-cluster with the next round's plan seed
        (so the next round's quintuplets reuse these clusters); single-label data with the run's seed."""
        return self.plan_seed(seed, rnd + 1, i) if self.multilabel else seed


def _costs(task: TrainTask, budget, anchor_labels: np.ndarray) -> Optional[torch.Tensor]:
    """(A, B) in-batch costs of the anchors' labels (edges: with DeepContour's positive sharing)."""
    if task.negative_class is not None and budget.positive_sharing > 0:
        rows = [sampling.positive_sharing_costs(y, task.negative_class, budget.positive_sharing) for y in anchor_labels]
    else:
        rows = [sampling.batch_costs(y) for y in anchor_labels]
    return torch.as_tensor(np.stack(rows))


def _schedule(method, task: TrainTask, budget, rnd: int) -> np.ndarray:
    """Every batch of the round, drawn upfront: (A, iters, B) anchors per task, or (iters, B) images shared
    by every task (plain softmax on attributes). Knowing the round's anchors lets the tables be mined for
    them only."""
    size = method.objective.anchors_per_step(budget)
    if task.multilabel and method.resample and budget.attribute_batches == "rotating":
        return rotating_schedule(task.labels, size, budget.iters_per_round, rnd,
                                 [task.sampler_seed(budget.seed, rnd, i) for i in task.ids()])
    if method.objective.shares_batch(method.resample, task.multilabel):
        sampler = sampling.BatchSampler(np.zeros(len(task.labels), np.int64), size, False,
                                        seed=task.sampler_seed(budget.seed, rnd, 0))
        return np.stack([sampler.next() for _ in range(budget.iters_per_round)])
    samplers = [sampling.BatchSampler(task.labels[:, a], size, method.resample,
                                      seed=task.sampler_seed(budget.seed, rnd, i)) for a, i in enumerate(task.ids())]
    return np.stack([np.stack([s.next() for _ in range(budget.iters_per_round)]) for s in samplers])


class _Evaluator:
    """Validation of a round with the method's own rule; its fitted rules and embeddings are kept."""

    def __init__(self, model, method, task: TrainTask, budget):
        self.model, self.method, self.task, self.budget = model, method, task, budget

    def features(self, split: str) -> Optional[list]:
        if self.method.head != "embedding":
            return None
        return [self.model.embeddings(split, a) for a in range(self.task.n_tasks)]

    def __call__(self, rnd: int, train_features: Optional[list]):
        """(per-task rules, per-task validation balanced accuracy, mean)."""
        self.model.train(False)
        task, objective = self.task, self.method.objective
        if self.method.head == "embedding":
            rules = [objective.own_rule(self.budget, task.eval_seed(self.budget.seed, rnd, i)).fit(
                train_features[a], task.labels[:, a]) for a, i in enumerate(task.ids())]
            pred = [rule.predict(self.model.embeddings("val", a)) for a, rule in enumerate(rules)]
        else:
            val_logits = self.model.logits("val")
            rules = [objective.own_rule(self.budget, 0).fit(None, task.labels[:, a]) for a in range(task.n_tasks)]
            pred = [rule.predict(val_logits if not task.multilabel else val_logits[:, a])
                    for a, rule in enumerate(rules)]
        per_task = np.array([metrics.balanced_accuracy(task.val_labels[:, a], p) for a, p in enumerate(pred)])
        return rules, per_task, float(np.mean(per_task))


def train(model, task: TrainTask, method, budget, progress: bool = True, desc: str = "",
          checkpoint: Optional[Path] = None, initial_features=None, curve_iters=(), on_curve=None) -> TrainResult:
    """Train ``model`` in place with ``method`` for ``budget``; returns the best-on-validation state.

    ``initial_features`` (N, d): prior features for the first round's tables instead of the model's
    embeddings (the edge task's hand-crafted features). ``on_curve(iteration, model)`` is called after each
    global iteration listed in ``curve_iters`` (a budget curve from one run; it must leave the model as it
    found it). ``checkpoint``: a file to resume from and to save every round to.
    """
    device = model.device
    torch.manual_seed(budget.seed)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=budget.lr, momentum=budget.momentum, weight_decay=budget.weight_decay)
    state = RunState(TrainResult(model=model), budget.patience)
    identity = {"method": method.name, "training": repr(method.training), "budget": dataclasses.asdict(budget)}
    if checkpoint is not None:
        state.load(checkpoint, identity, model, opt, device)
    evaluate = _Evaluator(model, method, task, budget)
    embedding = method.head == "embedding"
    bounds = [losses.margin_upper_bounds(np.bincount(task.labels[:, a], minlength=2), budget.cluster_size,
                                         budget.sphere_fraction, squared=budget.margin_bounds == "squared",
                                         cap_half=budget.cap_g2) for a in range(task.n_tasks)] if embedding else None
    if state.features is not None or not embedding:
        features = state.features
    elif initial_features is not None:
        features = [torch.as_tensor(np.asarray(initial_features), dtype=torch.float32, device=device)]
    else:
        features = evaluate.features("train")
    rules, first_plans, references, reports, diag_s = None, None, None, None, 0.0
    diagnose = getattr(method.objective, "collapse", None) if embedding else None
    curve_iters, done = {int(i) for i in curve_iters}, budget.iters_per_round * min(state.next_round, budget.max_rounds)
    for rnd in range(state.next_round, budget.max_rounds):
        t0 = time.perf_counter()
        schedule = _schedule(method, task, budget, rnd)
        if first_plans is not None and not budget.recluster:
            plans = first_plans                          # the control: round 1's tables all along
        else:
            seeds = [task.plan_seed(budget.seed, rnd, i) for i in task.ids()]
            reuse = rules is not None and all(getattr(r, "seed", None) == s for r, s in zip(rules, seeds))
            plans = method.objective.plan_round(PlanInput(
                features=features, labels=task.labels, multilabel=task.multilabel, n_classes=task.n_classes,
                budget=budget, round=rnd, seeds=seeds, groups=task.groups,
                anchors=None if (schedule.ndim == 2 or not budget.recluster) else [np.unique(s) for s in schedule],
                clusters=[r.clusters_ for r in rules] if reuse else None, bounds=bounds))
            first_plans = plans
            if diagnose is not None:   # collapse measured on the embeddings the table was mined from
                t_diag = time.perf_counter()
                reports = diagnose(PlanInput(features=features, labels=task.labels, multilabel=task.multilabel,
                                             n_classes=task.n_classes, budget=budget, round=rnd, seeds=seeds,
                                             groups=task.groups, anchors=None, clusters=None, bounds=bounds),
                                   plans, balance_classes=method.resample, references=references)
                references = references or reports
                diag_s = time.perf_counter() - t_diag
                t0 += diag_s                             # not mining time: the round log keeps it apart
        plan_s = time.perf_counter() - t0
        for group in opt.param_groups:
            group["lr"] = budget.lr * budget.lr_decay ** rnd
        rngs = [task.rng(budget.seed, rnd, i) for i in task.ids()]
        progress_done = rnd / budget.max_rounds
        model.train(True)
        seen, n_images = [], 0
        bar = progress_bar(range(budget.iters_per_round), progress, f"{desc} round {rnd + 1}/{budget.max_rounds}")
        t_train = time.perf_counter()
        for it in bar:
            anchors = schedule[..., it, :]
            labels = task.labels[anchors].T if anchors.ndim == 1 else \
                np.stack([task.labels[anchors[a], a] for a in range(task.n_tasks)])
            weights = _costs(task, budget, labels) if method.cost else None
            batch = StepInput(model=model, anchors=anchors, labels=labels, weights=weights, plans=plans,
                              bounds=bounds, rngs=rngs, budget=budget, progress=progress_done)
            with deterministic_algorithms(device):
                with autocast(device):   # under torchrun each process takes its share of the batch
                    loss, imgs = method.objective.step(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            distributed.average_gradients(params)
            opt.step()
            progress_done += 1.0 / (budget.iters_per_round * budget.max_rounds)
            seen.append(distributed.average_scalar(float(loss.detach())))
            n_images += imgs * distributed.world()[1]
            if progress and it % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(seen[-20:]):.4f}")
            done += 1
            if done in curve_iters and on_curve is not None:
                on_curve(done, model)
        train_s = time.perf_counter() - t_train
        t_eval = time.perf_counter()
        features = evaluate.features("train")
        rules, per_task, score = evaluate(rnd, features)
        collapse = None
        if reports is not None:
            from ..diagnostics import class_pair_distances
            t_end = time.perf_counter()
            ends = [class_pair_distances(f, task.labels[:, a], 2000, seed=budget.seed + rnd)
                    for a, f in enumerate(features)]
            collapse = collapse_summary(reports, float(np.mean(seen)), ends, references)
            collapse["seconds"] = diag_s + time.perf_counter() - t_end
        log = RoundLog(round=rnd + 1, iterations=budget.iters_per_round, mean_loss=float(np.mean(seen)),
                       val_balanced_accuracy=score, train_seconds=train_s,
                       images_per_second=n_images / max(train_s, 1e-9),
                       cluster_seconds=sum(p.get("cluster_seconds", 0.0) for p in plans),
                       mining_seconds=plan_s - sum(p.get("cluster_seconds", 0.0) for p in plans),
                       eval_seconds=time.perf_counter() - t_eval,
                       images_per_step=n_images / budget.iters_per_round, collapse=collapse)
        stop = state.record(log, model, features, rules, per_task)
        if checkpoint is not None:
            state.save(checkpoint, identity, model, opt, features)
        if stop:
            break
    result = state.finish(model)
    if result.rules is None and result.history:      # resumed: refit the best round's rules on its weights
        best = result.best_round - 1
        result.train_features = evaluate.features("train")
        result.rules, result.val_balanced_accuracy, _ = evaluate(best, result.train_features)
    return result
