"""One training run's bookkeeping: the round logs, the best round on validation (its weights, its fitted
decision rules, its training embeddings), early stopping, and checkpoint / resume."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch


@dataclass
class RoundLog:
    round: int
    iterations: int
    mean_loss: float
    val_balanced_accuracy: float        # mean over the tasks (attributes) with the method's own rule
    train_seconds: float
    images_per_second: float
    cluster_seconds: float = 0.0
    mining_seconds: float = 0.0
    eval_seconds: float = 0.0
    images_per_step: float = 0.0        # images through the network (trunk) per step, mean over the round
    collapse: Optional[dict] = None     # embedding runs: collapse diagnostics of the round (collapse_summary)


@dataclass
class TrainResult:
    model: object
    history: List[RoundLog] = field(default_factory=list)
    best_round: int = -1
    rules: Optional[list] = None                 # per task: the decision rule fitted at the best round
    train_features: Optional[list] = None        # per task: (N, d) training embeddings at the best round
    val_balanced_accuracy: Optional[np.ndarray] = None   # (A,) per task at the best round

    @property
    def iterations(self) -> int:
        return sum(r.iterations for r in self.history)


# the numbers of the per-task collapse reports a round log keeps (their mean over the tasks)
COLLAPSE_FIELDS = ("within_class_distance", "between_class_distance", "random_distance", "reversed_any",
                   "hub_p--", "hub_n", "mined_rows")


def collapse_summary(reports: list, loss: float, end_distances: list, references: list, rule=None) -> dict:
    """One round's collapse diagnostics over its tasks (attributes; one for single-label data).

    ``reports``: per task, :func:`lmle_core.diagnostics.collapse_report` at mining time (the embeddings the
    round's table was mined from; no observed loss). ``loss``: the round's mean training loss (the sum over
    the tasks of each task's mean, as the loop optimises it), read beside ``collapsed_loss``, the sum of
    the tasks' hinges at an embedding collapsed to one point (the active margins, class-weighted as the
    batches are). ``end_distances``: per task, ``class_pair_distances`` of the round's end embeddings
    (the collapse a round's own training caused shows here before the next round's mining).
    ``references``: per task, the run's first report (the shrink rule). A task is collapsed when its
    mining-time report says so or its end distances meet the rule's floor / shrink criteria; the round
    when a task is or the loss sits at the collapsed value (``rule.loss_tolerance``)."""
    from ..diagnostics import CollapseRule

    rule = rule or CollapseRule()
    out = {"loss": float(loss)}
    for name in COLLAPSE_FIELDS:
        values = [r[name] for r in reports if name in r and np.isfinite(r[name])]
        out[name] = float(np.mean(values)) if values else float("nan")
    have_table = all("collapsed_loss" in r for r in reports)
    out["collapsed_loss"] = float(sum(r["collapsed_loss"] for r in reports)) if have_table else float("nan")
    out["end_within_class_distance"] = float(np.mean([d["within_class_distance"] for d in end_distances]))
    out["end_between_class_distance"] = float(np.mean([d["between_class_distance"] for d in end_distances]))
    collapsed_tasks, reasons = 0, set()
    for report, end, ref in zip(reports, end_distances, references):
        why = [x for x in report["collapse_reasons"].split("; ") if x]
        if end["between_class_distance"] < rule.floor * end["random_distance"]:
            why.append("between-class distance at the floor (round end)")
        if end["between_class_distance"] < rule.shrink * ref["between_class_distance"]:
            why.append("between-class distance shrunk from the start (round end)")
        collapsed_tasks += bool(why)
        reasons.update(why)
    c = out["collapsed_loss"]
    if c > 0 and abs(loss - c) <= rule.loss_tolerance * c:
        reasons.add("round loss at the collapsed value")
    out["collapsed_tasks"] = collapsed_tasks
    out["collapsed"] = bool(reasons)
    out["collapse_reasons"] = "; ".join(sorted(reasons))
    return out


class RunState:
    """Keeps the best round (strictly better validation score), counts the rounds without a gain."""

    def __init__(self, result: TrainResult, patience: int):
        self.result, self.patience = result, patience
        self.best_score, self.best_state, self.best_extra = -1.0, None, None
        self.bad_rounds, self.next_round, self.features = 0, 0, None

    def record(self, log: RoundLog, model, features, rules, per_task) -> bool:
        """Log a round; True when training should stop (``patience`` rounds without a gain)."""
        self.result.history.append(log)
        self.next_round = log.round
        if log.val_balanced_accuracy > self.best_score:
            self.best_score, self.bad_rounds = log.val_balanced_accuracy, 0
            self.best_state = model.state_dict()
            self.best_extra = (features, rules, per_task)
            self.result.best_round = log.round
        else:
            self.bad_rounds += 1
        self.features = features
        return self.bad_rounds >= self.patience

    def finish(self, model) -> TrainResult:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        if self.best_extra is not None:
            self.result.train_features, self.result.rules, self.result.val_balanced_accuracy = self.best_extra
        return self.result

    def save(self, path: Path, identity: dict, model, opt, features) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"identity": identity, "model": model.state_dict(), "opt": opt.state_dict(),
                    "history": [dataclasses.asdict(h) for h in self.result.history],
                    "best_score": self.best_score, "best_state": self.best_state,
                    "best_round": self.result.best_round, "bad_rounds": self.bad_rounds,
                    "features": None if features is None else [f.cpu() for f in features]}, tmp)
        tmp.replace(path)

    def load(self, path: Path, identity: dict, model, opt, device) -> None:
        """Resume from ``path`` if it exists (a run with another identity is an error); the best round's
        decision rules are refitted by the caller when the checkpoint's best round is not the last."""
        path = Path(path)
        if not path.exists():
            return
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if ckpt.get("identity") != identity:
            raise ValueError(f"checkpoint {path} was written by another method or budget; "
                             f"delete it or use another checkpoint path")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        self.result.history = [RoundLog(**h) for h in ckpt["history"]]
        self.best_score, self.best_state = ckpt["best_score"], ckpt["best_state"]
        self.result.best_round, self.bad_rounds = ckpt["best_round"], ckpt["bad_rounds"]
        self.next_round = len(self.result.history)
        self.features = None if ckpt["features"] is None else [f.to(device) for f in ckpt["features"]]
        if self.bad_rounds >= self.patience:
            self.next_round = 1 << 30  # it had already stopped
