#!/usr/bin/env python
"""CRL(C) relative on attributes: the effect of kappa, eta and the margin, read twice (issue 19).

    python scripts/crl_choices.py celeba --data-root DIR --out OUT      # CelebA, the quick profile's budget
    python scripts/crl_choices.py synthetic --out OUT                   # Gaussian features, seconds per run

One axis at a time from the default (kappa 5, eta 1, margin 0.5): kappa in {5, 10, 25, all}, eta in
{0.01, 0.1, 0.3, 1}, margin in {0.1, 0.25, 0.5}; then the combination of each axis's value with the
best VALIDATION mean balanced accuracy (threshold 0.5). Every run is read by ``metrics.read_twice``:
mean balanced accuracy at 0.5 and at a threshold tuned on validation, AUC and AP on test; Softmax
is the baseline. It also measures the net push of the CRL term on the minority logits
(``losses.minority_logit_push``) on training batches scored by the trained Softmax heads, kappa 5
against kappa = all. Writes OUT/crl_choices.csv, OUT/crl_choices.md and OUT/crl_push.csv.

CelebA: ``experiments.run_method`` with the frozen-trunk protocol and the quick profile's CRL budget
(prior 800 iterations, 2 rounds x 300 iterations, batches of 200 images, seed 0), one seed.
Synthetic: the same training loop (``training.train`` with ``attributes.AttributeModel``) on cached Gaussian features
(10 attributes, positive rates 1-45 %), so it runs without images.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmle_core import experiments, losses, metrics, nets, runcache  # noqa: E402
from lmle_core.attributes.model import AttributeModel, CachedFeatures, attribute_logits  # noqa: E402
from lmle_core.methods import Budget  # noqa: E402
from lmle_core.training import TrainTask, train  # noqa: E402

QUICK_BUDGET = dict(prior_iters=800, prior_batch_size=128, prior_lr=0.01, iters_per_round=300, max_rounds=2,
                    patience=2, batch_size=40, softmax_batch_size=200, lr=0.01, cluster_size=200, knn_k=20,
                    subset_fraction=0.5, trunk="frozen")
DEFAULT = dict(crl_k=5, crl_eta=1.0, crl_margin=0.5)
AXES = {"crl_k": [5, 10, 25, "all"], "crl_eta": [0.01, 0.1, 0.3, 1.0], "crl_margin": [0.1, 0.25, 0.5]}


SUBSET = ["Smiling", "Heavy_Makeup", "Wavy_Hair", "Arched_Eyebrows", "Brown_Hair", "Bangs", "5_o_Clock_Shadow",
          "Goatee", "Pale_Skin", "Bald"]


def _k(value, batch: int) -> int:
    """kappa "all": half the batch, the most samples a batch's minority class can hold."""
    return batch // 2 if value == "all" else int(value)


class CelebARunner:
    """Runs a method on CelebA through ``experiments.run_method`` (frozen trunk, one process, run cache)."""

    def __init__(self, data_root: str, cache_dir: str, attributes=None):
        from lmle_core import tasks

        self.data = tasks.CelebATasks(data_root, device="cpu", progress=False).attributes()
        self.attributes = list(attributes or self.data.tasks)
        self.sel = [self.data.tasks.index(a) for a in self.attributes]
        self.budget = experiments.Budget.from_dict(QUICK_BUDGET)
        self.cache = runcache.RunCache(directory=cache_dir)
        self.batch = self.budget.softmax_batch_size
        self.describe = (f"CelebA aligned images present: train {len(self.data.train)} / val {len(self.data.val)} / "
                         f"test {len(self.data.test)}; {len(self.attributes)} of the 40 attributes ({', '.join(self.attributes)}; "
                         f"each attribute trains the same alone or among others); frozen trunk (the prior trained on "
                         f"all 40), the quick profile's CRL budget {QUICK_BUDGET}, seed 0")

    def run(self, method: str, crl: dict):
        r = experiments.run_method(method, self.data, dataclasses.replace(self.budget, **crl), progress=False,
                                   cache=self.cache, attributes=self.attributes)
        val = attribute_logits(r.heads, r.source, "val").numpy()
        return {"val_labels": self.data.val.labels[:, self.sel], "val_scores": val, "test_labels": r.test_labels,
                "test_scores": r.test_scores, "own": r.test_predictions, "seconds": r.train_seconds,
                "train_logits": attribute_logits(r.heads, r.source, "train").numpy()[:len(self.data.train)],
                "train_labels": self.data.train.labels[:, self.sel]}


class SyntheticRunner:
    """Cached Gaussian features: attribute a's positives are shifted along a random direction."""

    def __init__(self, seed: int = 0, n_train: int = 6000, n_eval: int = 3000, dim: int = 64, n_attr: int = 10):
        rng = np.random.default_rng(seed)
        self.rates = np.geomspace(0.01, 0.45, n_attr)
        directions = rng.normal(size=(n_attr, dim)) / np.sqrt(dim) * 1.5

        def split(n):
            y = (rng.random((n, n_attr)) < self.rates).astype(np.int64)
            return y, rng.normal(size=(n, dim)) + y @ directions

        (self.y_train, x_train), (self.y_val, x_val), (self.y_test, x_test) = split(n_train), split(n_eval), split(n_eval)
        t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
        mirror = x_train + rng.normal(scale=0.1, size=x_train.shape)
        self.source = CachedFeatures(t(np.concatenate([x_train, mirror])), t(x_val), t(x_test), n_train)
        self.dim, self.batch = dim, 200
        self.describe = (f"synthetic: {n_attr} attributes, positive rates {self.rates.min():.2f}-{self.rates.max():.2f} "
                         f"(geometric), Gaussian features d={dim}, train {n_train} (+ mirrors) / val {n_eval} / "
                         f"test {n_eval}; heads: 2 layers, 128 hidden, 64-d; 2 rounds x 300 iterations, batch 200, "
                         f"lr 0.01, seed 0")

    def run(self, method: str, crl: dict):
        torch.manual_seed(0)
        heads = nets.AttributeHeads(self.dim, self.y_train.shape[1], hidden=128, embedding_dim=64)
        budget = Budget(iters_per_round=300, max_rounds=2, patience=2, softmax_batch_size=self.batch, lr=0.01, seed=0,
                        **crl)
        task = TrainTask(np.concatenate([self.y_train, self.y_train]), self.y_val,
                         task_ids=range(self.y_train.shape[1]), groups=self.source.groups())
        t = time.perf_counter()
        train(AttributeModel(heads, self.source), task, experiments.get_method(method), budget, progress=False)
        seconds = time.perf_counter() - t
        test = attribute_logits(heads, self.source, "test").numpy()
        return {"val_labels": self.y_val, "val_scores": attribute_logits(heads, self.source, "val").numpy(),
                "test_labels": self.y_test, "test_scores": test, "own": (test > 0).astype(np.int64),
                "seconds": seconds, "train_logits": attribute_logits(heads, self.source, "train").numpy()[
                    :len(self.y_train)], "train_labels": self.y_train}


def _row(name: str, crl: dict, out: dict) -> dict:
    rep = metrics.read_twice(out["val_labels"], out["val_scores"], out["test_labels"], out["test_scores"], out["own"])
    val_ba = metrics.attribute_metrics(out["val_labels"], (out["val_scores"] > 0).astype(int))["balanced_accuracy"]
    test = metrics.attribute_metrics(out["test_labels"], out["own"])
    return {"run": name, **crl, "val BA at 0.5": 100 * float(np.mean(val_ba)), **rep.row(name),
            "recall at 0.5": 100 * float(np.nanmean(test["recall"])),
            "attributes at 50.0": int(np.sum(np.isclose(test["balanced_accuracy"], 0.5))),
            "train s": round(out["seconds"], 1)}


def push_table(state: str, out: dict, batch: int, n_batches: int = 20, seed: int = 0) -> pd.DataFrame:
    """The CRL(C) relative term (margin 0.5) on random training batches of 200 images scored by a trained
    network (``state``), per kappa, means over batches and attributes (losses.crl_step_log):
    "minority push" on the minority samples' logits; "whole-batch push", the same summed over every
    sample of the batch (minus the bias gradient, oriented towards the minority: what moves the
    threshold); the shares of batch-attribute pairs where each is negative; the active-triplet share."""
    rng = np.random.default_rng(seed)
    z, y = torch.as_tensor(out["train_logits"], dtype=torch.float64), torch.as_tensor(out["train_labels"])
    batches = [torch.as_tensor(rng.choice(len(z), batch, replace=False)) for _ in range(n_batches)]
    rows = []
    for kappa in (5, 10, 25, "all"):
        logs = [losses.crl_step_log(z[idx], y[idx], k=_k(kappa, batch), margin=0.5) for idx in batches]
        on = np.stack([g.minority_class >= 0 for g in logs])
        orient = np.stack([np.where(g.minority_class == 1, 1.0, -1.0) for g in logs])
        minority = np.where(on, np.stack([g.crl_push for g in logs]), np.nan)
        whole = np.where(on, -orient * np.stack([g.crl_bias_grad for g in logs]), np.nan)
        active = np.where(on, np.stack([g.active_share for g in logs]), np.nan)
        neg = lambda v: 100 * float(np.nanmean(np.where(np.isnan(v), np.nan, v < 0)))  # noqa: E731
        rows.append({"state": state, "kappa": kappa, "minority push": float(np.nanmean(minority)),
                     "minority push < 0 (%)": neg(minority), "whole-batch push": float(np.nanmean(whole)),
                     "whole-batch push < 0 (%)": neg(whole), "active triplets (%)": 100 * float(np.nanmean(active))})
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", choices=["celeba", "synthetic"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache-dir", default=None, help="run cache folder (default: OUT/cache)")
    ap.add_argument("--attributes", default=",".join(SUBSET),
                    help="CelebA: comma-separated attributes, or 'all' (default: 10 spanning the imbalance levels)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    names = None if args.attributes == "all" else args.attributes.split(",")
    runner = CelebARunner(args.data_root, args.cache_dir or str(out_dir / "cache"), names) if args.data == "celeba" \
        else SyntheticRunner()
    print(runner.describe, flush=True)
    rows, per_attr, done = [], [], {}

    def run(label, method, settings):
        key = (method, tuple(sorted(settings.items())))
        if key in done:
            return done[key]
        crl = {**settings, "crl_k": _k(settings.get("crl_k", 5), runner.batch)} if settings else {}
        out = runner.run(method, crl)
        row = _row(label, {k: settings.get(k, "") for k in DEFAULT}, out)
        rows.append(row)
        per_attr.append(pd.DataFrame({"run": label, "attribute": getattr(runner, "attributes", range(out["own"].shape[1])),
                                      **metrics.read_twice(out["val_labels"], out["val_scores"], out["test_labels"],
                                                           out["test_scores"], out["own"]).per_task.reset_index(drop=True)}))
        print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        done[key] = (row, out)
        return done[key]

    _, softmax = run("Softmax", "Softmax", {})
    best = {}
    for axis, values in AXES.items():
        scored = []
        for v in values:
            settings = {**DEFAULT, axis: v}
            row, _ = run(f"CRL(C) relative {axis}={v}", "CRL(C) relative", settings)
            scored.append((row["val BA at 0.5"], v))
        best[axis] = max(scored)[1]
    run(f"CRL(C) relative, validation-best per axis {best}", "CRL(C) relative", best)
    states = {"Softmax": softmax, "CRL(C) relative, kappa 5": run("", "CRL(C) relative", DEFAULT)[1],
              "CRL(C) relative, kappa all": run("", "CRL(C) relative", {**DEFAULT, "crl_k": "all"})[1]}
    push = pd.concat([push_table(name, out, runner.batch) for name, out in states.items()], ignore_index=True)
    table = pd.DataFrame(rows)
    hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    table.to_csv(out_dir / "crl_choices.csv", index=False)
    push.to_csv(out_dir / "crl_push.csv", index=False)
    pd.concat(per_attr, ignore_index=True).to_csv(out_dir / "crl_choices_per_attribute.csv", index=False)
    (out_dir / "crl_choices.md").write_text(
        f"{runner.describe}\nhardware: {hardware}\n\n" + table.to_markdown(index=False, floatfmt=".2f")
        + "\n\nThe CRL(C) relative term (margin 0.5) on 20 random training batches of the trained networks (push: "
          "minus the gradient on the logits, towards the minority, means over batches and attributes):\n\n"
        + push.to_markdown(index=False, floatfmt=".4g") + "\n")
    print((out_dir / "crl_choices.md").read_text())


if __name__ == "__main__":
    main()
