"""Every method of a study read twice, in one call per study (issue 19).

A study's trained methods (``MethodResult`` of single-label data, ``AttributeResult`` of CelebA
attributes) carry their decision rule's scores on validation AND test (the same
``decision_function``). ``read_methods`` reads them with :func:`lmle_core.metrics.read_twice`:

- "BA own": mean balanced accuracy at the method's own rule (threshold 0.5, Eq. 3 kNN, argmax, ...);
- "BA tuned": at a threshold per attribute (attributes) or a bias per class (multi-class) chosen on
  the VALIDATION split, applied unchanged to test;
- "AUC", "AP": ranking of the test scores (multi-class: macro one-vs-rest);
- "BA prior-corrected" (attributes, softmax-family methods whose rule is logit > 0): logit > log(p /
  (1 - p)) with p the training positive share, the one-line correction of Softmax's threshold.

``read_study`` adds the table, the gains over the baseline (``ranking_gains``), the gain scatter and a
reading computed from those numbers to a :class:`StudyReport`, so a notebook adds one cell.
Several seeds of one method (a list of results) are averaged, with their standard deviation.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from lmle_core.metrics import MEAN_COLUMNS, attribute_metrics, read_twice
from lmle_core.study.ranking_gains import gain_scatter, ranking_gains

__all__ = ["read_result", "read_methods", "gains_reading", "read_study", "PRIOR_COLUMN"]

PRIOR_COLUMN = "BA prior-corrected"


def _scores(result, split: str) -> np.ndarray:
    scores, labels = getattr(result, f"{split}_scores", None), getattr(result, f"{split}_labels", None)
    if scores is None or labels is None:
        raise ValueError(f"result of {getattr(result, 'method', '?')!r} carries no {split} scores/labels; "
                         "train it with this version of lmle_core (run_method fills val_scores and test_scores)")
    return np.asarray(scores), np.asarray(labels)


def _prior_corrected_ba(result) -> float:
    """Mean balanced accuracy of logit > log(p / (1 - p)) for an attribute result whose rule is the raw
    logit (softmax family, own rule); NaN where it does not apply."""
    from lmle_core.methods import get_method

    try:
        method = get_method(result.method)
    except KeyError:
        return float("nan")
    labels = getattr(result, "train_labels", None)
    if method.head != "classifier" or method.decision is not None or labels is None or result.test_scores.ndim != 2:
        return float("nan")
    p = np.clip(np.asarray(labels, float).mean(0), 1e-6, 1 - 1e-6)
    pred = (np.asarray(result.test_scores) > np.log(p / (1 - p))).astype(np.int64)
    return float(np.mean(attribute_metrics(np.asarray(result.test_labels), pred)["balanced_accuracy"]))


def read_result(result):
    """(:class:`RankingReport`, prior-corrected mean BA or NaN) of one trained method: tuned on its
    validation scores only, read on its test scores."""
    val_s, val_y = _scores(result, "val")
    test_s, test_y = _scores(result, "test")
    names = getattr(result, "tasks", None)
    report = read_twice(val_y, val_s, test_y, test_s, result.test_predictions, names=names)
    return report, _prior_corrected_ba(result)


def read_methods(results: Mapping[str, Union[object, Sequence[object]]], percent: bool = True) -> pd.DataFrame:
    """{method: result, or a list of results (seeds)} -> DataFrame indexed by method: BA own, BA tuned,
    AUC, AP, BA prior-corrected (means over attributes / classes, then over seeds; ``percent``: x 100),
    "seeds", and the standard deviation over seeds of BA own, BA tuned and AUC ("... sd", NaN for one)."""
    if not results:
        raise ValueError("results is empty: no method to read")
    scale = 100.0 if percent else 1.0
    rows = []
    for name, runs in results.items():
        runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
        per_seed = []
        for r in runs:
            report, prior = read_result(r)
            per_seed.append({**{k: scale * float(report.mean[k]) for k in MEAN_COLUMNS}, PRIOR_COLUMN: scale * prior})
        seeds = pd.DataFrame(per_seed)
        row = {"method": name, **seeds.mean().to_dict(), "seeds": len(runs)}
        for k in ("BA own", "BA tuned", "AUC"):
            row[f"{k} sd"] = float(seeds[k].std(ddof=1)) if len(runs) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def gains_reading(gains: pd.DataFrame, baseline: str = "Softmax") -> str:
    """One sentence per method, from a ``ranking_gains`` table: its own-rule BA gain over ``baseline``,
    how much of it survives at validation-tuned thresholds, and its AUC gain."""
    parts = []
    for name, g in gains.drop(index=baseline, errors="ignore").iterrows():
        ba, tuned, auc = g["BA gain"], g["tuned-BA gain"], g["AUC gain"]
        if np.isfinite(g["tuned share"]) and ba > 0:
            share = g["tuned share"]
            survives = ("all of it survives" if share >= 1 else "none of it survives" if share <= 0 else
                        f"{100 * share:.0f} % of it survives") + f" after validation tuning ({tuned:+.1f})"
        else:
            survives = f"{tuned:+.1f} after validation tuning"
        parts.append(f"{name}: {ba:+.1f} points of balanced accuracy at its own rule, {survives}, AUC {auc:+.1f}")
    if not parts:
        return f"No method besides {baseline} to compare."
    return (f"Gains over {baseline} (points; 'validation tuning': a threshold per attribute, or a bias per class, "
            "chosen on validation for every method): " + "; ".join(parts) + ".")


def read_study(report, results: Mapping, name: str, baseline: Optional[str] = None, what: str = "",
               units: str = "points") -> tuple:
    """Add to ``report`` the table ``<name>_ranking`` (every method read twice), ``<name>_ranking_gains``,
    the figure ``<name>_gain_scatter`` and a note reading them. ``baseline``: a key of ``results``
    (None: "Softmax" when there is one, else the first method). Returns (means, gains)."""
    if not results:
        raise ValueError("results is empty: no method to read")
    if baseline is None:
        baseline = "Softmax" if "Softmax" in results else next(iter(results))
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the methods read ({list(results)})")
    means = read_methods(results)
    gains = ranking_gains(means, baseline=baseline, min_gain=0.05)
    what = what or name
    report.table(f"{name}_ranking", means.reset_index(), float_format=".2f",
                 caption=f"{what}: every method read twice (%): balanced accuracy at its own rule (BA own), at a "
                         "threshold per attribute (bias per class) tuned on VALIDATION (BA tuned), ROC AUC and average "
                         "precision of the test scores, and the prior-corrected rule where it applies (softmax-family "
                         "attributes). Scores: logits (softmax family), s_1 - s_0 of Eq. 3 (kNN); means over seeds "
                         "with their standard deviation (sd).")
    report.table(f"{name}_ranking_gains", gains.reset_index(), float_format=".2f",
                 caption=f"{what}: gains over {baseline} (points) at the own rule, at tuned thresholds (both tuned on "
                         "validation), in AUC and AP; shares = tuned-BA gain / BA gain and AUC gain / BA gain.")
    report.figure(f"{name}_gain_scatter", gain_scatter(gains, baseline, title=f"{what}: gain over {baseline}",
                                                       units=units),
                  caption=f"{what}: each method's AUC gain (x) against its own-rule balanced-accuracy gain (y) over "
                          f"{baseline}; far above the diagonal = a moved threshold, on or below it = better ranking.")
    report.note(f"Read twice ({what}): " + gains_reading(gains, baseline))
    return means, gains
