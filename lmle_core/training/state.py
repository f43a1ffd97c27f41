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
