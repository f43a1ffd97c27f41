"""Best-on-validation bookkeeping, early stopping and checkpoint/resume of one training run."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import torch


class RunState:
    """Best-on-validation bookkeeping, early stopping and checkpoint/resume."""

    def __init__(self, result: TrainResult):
        self.result = result
        self.best_score, self.best_state, self.best_features, self.best_predictor = -1.0, None, None, None
        self.bad_rounds, self.next_round, self.features = 0, 0, None

    def record(self, log: RoundLog, net, features, predictor) -> bool:
        self.result.history.append(log)
        self.next_round = log.round
        if log.val_balanced_accuracy > self.best_score:
            self.best_score, self.bad_rounds = log.val_balanced_accuracy, 0
            self.best_state = copy.deepcopy(net.state_dict())
            self.best_features, self.best_predictor = features, predictor
            self.result.best_round = log.round
        else:
            self.bad_rounds += 1
        self.features = features
        return self.bad_rounds >= self.result.config.patience

    def finish(self, net, train_set):
        cfg = self.result.config
        if self.best_state is not None:
            net.load_state_dict(self.best_state)
        from .training import embed, make_predictor

        if self.best_features is None and cfg.loss != "softmax":  # resumed: recompute for the best net
            self.best_features = embed(net, train_set, cfg.eval_batch_size)
        self.result.train_features = self.best_features
        self.result.predictor = self.best_predictor or make_predictor(
            net, cfg, self.best_features, train_set.labels.astype(np.int64))
        return self.result

    def save(self, path: Path, cfg, net, opt, features):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"config": dataclasses.asdict(cfg), "net": net.state_dict(), "opt": opt.state_dict(),
                    "history": [dataclasses.asdict(h) for h in self.result.history],
                    "best_score": self.best_score, "best_state": self.best_state,
                    "best_round": self.result.best_round, "bad_rounds": self.bad_rounds,
                    "features": None if features is None else features.cpu()}, tmp)
        tmp.replace(path)

    def load(self, path: Path, cfg, net, opt):
        path = Path(path)
        if not path.exists():
            return
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        if ckpt["config"] != dataclasses.asdict(cfg):
            raise ValueError(f"checkpoint {path} was written with a different TrainConfig; "
                             f"delete it or use another checkpoint path")
        net.load_state_dict(ckpt["net"])
        opt.load_state_dict(ckpt["opt"])
        from .training import RoundLog

        self.result.history = [RoundLog(**h) for h in ckpt["history"]]
        self.best_score, self.best_state = ckpt["best_score"], ckpt["best_state"]
        self.result.best_round, self.bad_rounds = ckpt["best_round"], ckpt["bad_rounds"]
        self.next_round = len(self.result.history)
        device = next(net.parameters()).device
        self.features = None if ckpt["features"] is None else ckpt["features"].to(device)
        if self.best_state is not None and self.result.best_round == self.next_round:
            self.best_features = self.features
        if self.bad_rounds >= cfg.patience:
            self.next_round = cfg.max_rounds  # it had already stopped
