"""CRL's kappa, eta and margin searched on validation, as the method intends (issue 19).

The TPAMI text estimates eta "by cross-validation"; kappa and the margin are the method's other free
values, and on CelebA the three decide whether class-level CRL helps or hurts (``lmle_core.losses.crl``,
"What decides the outcome"). ``crl_search`` is a coarse, staged search shared across the attributes,
per CRL method (mining level x form):

1. kappa x eta at one margin (``first_margin``, 0.5 by default: the implementation's default);
2. the margins at the best (kappa, eta); skipped for the distribution form, which has no margin.

Criterion: the mean over the attributes of the VALIDATION balanced accuracy at the method's own rule
(threshold 0.5, at the round the training loop keeps); ties go to the earlier setting (grid order).
The test split is never read. The table also gives validation AUC (ranking, from the same validation
scores) so a reader sees whether a setting moved the ranking or only the threshold. Each run goes
through ``experiments.run_method`` and its run cache, so the final rows with the chosen values are
cache hits when the search ran on the same attributes.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from lmle_core import experiments, metrics
from lmle_core.methods import get_method

__all__ = ["crl_search", "kappa_label", "search_spread"]


def kappa_label(k) -> str:
    """"all" for kappa 0 (every other sample of the anchor's class), else the number."""
    return "all" if k in (0, "all") else str(int(k))


def _check_grid(name: str, values: Sequence, positive: bool = True) -> list:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)) or (isinstance(v, str) and v != "all"):
            raise ValueError(f"{name} holds {v!r}; numbers only (kappa: 0 or 'all' = every minority sample)")
        if not isinstance(v, str) and (v < 0 or (positive and v == 0 and name != "kappas")):
            raise ValueError(f"{name} holds {v!r}; values must be > 0 (kappa: 0 = all)")
    return values


def crl_search(data, budget, methods: Sequence[str], kappas: Sequence, etas: Sequence[float],
               margins: Sequence[float], first_margin: Optional[float] = None, attributes: Optional[List[str]] = None,
               progress: bool = False, cache=None) -> Tuple[pd.DataFrame, Dict[str, dict]]:
    """Search ``methods`` (registered CRL methods) on attribute data; returns (the table of every run,
    {method: {"crl_k", "crl_eta", "crl_margin"} chosen on validation}). See the module docstring."""
    kappas, etas, margins = _check_grid("kappas", kappas), _check_grid("etas", etas), _check_grid("margins", margins)
    first = first_margin if first_margin is not None else (0.5 if 0.5 in margins else max(margins))
    for m in methods:
        if "crl" not in get_method(m).training:
            raise ValueError(f"method {m!r} is not a CRL method (no kappa, eta or margin to search)")
    rows, chosen = [], {}

    def run(method: str, stage: str, k, eta, margin) -> dict:
        b = dataclasses.replace(budget, crl_k=0 if k == "all" else int(k), crl_eta=float(eta),
                                crl_margin=float(margin))
        t = time.perf_counter()
        r = experiments.run_method(method, data, b, progress=progress, cache=cache, attributes=attributes)
        row = {"method": method, "stage": stage, "kappa": kappa_label(k), "eta": float(eta), "margin": float(margin),
               "validation BA (criterion)": 100 * float(np.mean(r.val_balanced_accuracy)),
               "validation AUC": 100 * float(np.nanmean(metrics.roc_auc(r.val_labels, r.val_scores))),
               "train seconds": r.train_seconds, "wall seconds": time.perf_counter() - t,
               "from run cache": r.from_cache, "crl_k": b.crl_k}
        rows.append(row)
        return row

    for method in methods:
        stage1 = [run(method, "1: kappa x eta", k, eta, first) for k in kappas for eta in etas]
        best = max(stage1, key=lambda r: r["validation BA (criterion)"])   # first of equals: grid order
        best_margin = first
        if "distribution" not in method:     # the histogram loss has no margin
            stage2 = [best] + [run(method, "2: margin", best["crl_k"], best["eta"], m) for m in margins if m != first]
            best = max(stage2, key=lambda r: r["validation BA (criterion)"])
            best_margin = best["margin"]
        chosen[method] = {"crl_k": best["crl_k"], "crl_eta": best["eta"], "crl_margin": best_margin}
    table = pd.DataFrame(rows)
    table["chosen"] = [chosen[r.method] == {"crl_k": r.crl_k, "crl_eta": r.eta, "crl_margin": r.margin}
                       for r in table.itertuples()]
    return table.drop(columns="crl_k"), chosen


def search_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per method, the range over its searched settings of validation BA (threshold 0.5) and of
    validation AUC: the evidence for what kappa, eta and the margin move (the threshold or the ranking)."""
    g = table.groupby("method", sort=False)
    out = pd.DataFrame({"settings": g.size(),
                        "val BA min": g["validation BA (criterion)"].min(),
                        "val BA max": g["validation BA (criterion)"].max(),
                        "val AUC min": g["validation AUC"].min(), "val AUC max": g["validation AUC"].max()})
    out["val BA range"] = out["val BA max"] - out["val BA min"]
    out["val AUC range"] = out["val AUC max"] - out["val AUC min"]
    return out.reset_index()
