"""Each method's gain over Softmax read twice: at its own decision rule and by ranking (issue 19).

A method can beat Softmax at threshold 0.5 because it ranks the classes better, or only because it
moves the threshold. ``ranking_gains`` sets the two side by side for every method: the gain in
balanced accuracy at each method's own rule, at a threshold tuned on validation (for both the
method and the baseline), and in AUC and AP, plus the share of the own-rule gain that survives
tuning. ``gain_scatter`` draws one point per method: x = AUC gain, y = balanced-accuracy gain at
the own rule. A point far above the diagonal gained by moving the threshold; on or below it, by
ranking. Inputs come from ``lmle_core.metrics.read_twice`` (``RankingReport.row`` per method).
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lmle_core.metrics import MEAN_COLUMNS

__all__ = ["means_table", "ranking_gains", "gain_scatter"]


def means_table(reports: Mapping[str, object], percent: bool = True) -> pd.DataFrame:
    """{method: RankingReport} -> DataFrame indexed by method with the columns BA own, BA tuned,
    AUC, AP (means over attributes or classes; ``percent``: x 100)."""
    return pd.DataFrame([r.row(m, percent) for m, r in reports.items()]).set_index("method")


def ranking_gains(means: pd.DataFrame, baseline: str = "Softmax", min_gain: float = 0.0) -> pd.DataFrame:
    """Gains over ``baseline`` (its own rule: Softmax at 0.5) of every method in ``means`` (indexed by
    method, columns BA own, BA tuned, AUC, AP, in the same units).

    Columns: "BA gain" (own rule minus the baseline's own rule), "tuned-BA gain" (tuned minus the
    baseline's tuned: both thresholds chosen on validation), "AUC gain", "AP gain", and two shares of
    the own-rule BA gain: "tuned share" = tuned-BA gain / BA gain (1: the whole gain survives a
    fair threshold for both; 0 or below: it was the threshold) and "AUC share" = AUC gain / BA gain
    (a ratio of two scales, read as a sign and an order of magnitude). Shares are NaN where
    |BA gain| <= ``min_gain`` (the baseline's own row, and gains too small to divide by)."""
    missing = [c for c in MEAN_COLUMNS if c not in means.columns]
    if missing:
        raise ValueError(f"means needs the columns {list(MEAN_COLUMNS)}; missing {missing}")
    if baseline not in means.index:
        raise ValueError(f"baseline {baseline!r} is not a method of the table ({list(means.index)})")
    base = means.loc[baseline]
    out = pd.DataFrame({"BA gain": means["BA own"] - base["BA own"],
                        "tuned-BA gain": means["BA tuned"] - base["BA tuned"],
                        "AUC gain": means["AUC"] - base["AUC"], "AP gain": means["AP"] - base["AP"]},
                       index=means.index)
    divisible = out["BA gain"].abs() > min_gain
    with np.errstate(divide="ignore", invalid="ignore"):
        out["tuned share"] = np.where(divisible, out["tuned-BA gain"] / out["BA gain"], np.nan)
        out["AUC share"] = np.where(divisible, out["AUC gain"] / out["BA gain"], np.nan)
    return out


def gain_scatter(gains: pd.DataFrame, baseline: str = "Softmax", title: str = "", units: str = "points"):
    """Scatter of ``ranking_gains``: x = AUC gain, y = BA gain at the own rule, one labelled point per
    method (the baseline, at the origin, left out), the diagonal y = x and both axes at 0."""
    rows = gains.drop(index=baseline, errors="ignore")
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    x, y = rows["AUC gain"].to_numpy(float), rows["BA gain"].to_numpy(float)
    ax.scatter(x, y, s=36, zorder=3)
    for name, xi, yi in zip(rows.index, x, y):
        ax.annotate(str(name), (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7)
    finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)], [0.0]])
    lim = 1.1 * max(1e-9, float(np.abs(finite).max()))
    ax.plot([-lim, lim], [-lim, lim], "--", color="grey", lw=0.8, label="y = x")
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel(f"AUC gain over {baseline} ({units})")
    ax.set_ylabel(f"balanced accuracy gain, own rule ({units})")
    ax.set_title(title or f"Gain over {baseline}: own decision rule (y) vs ranking (x)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
