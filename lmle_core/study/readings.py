"""The quintuplet members' readings side by side (issue 18): per run, the collapse columns read from its
round logs; per (method, reading, column), the seeds' mean, spread and collapse; the validation-best
reading; and the sentence a report prints about which readings collapse.

A run's ``history`` is its list of round-log dicts (``TrainResult.history`` as ``dataclasses.asdict``);
embedding runs carry ``collapse`` (:func:`lmle_core.training.state.collapse_summary`) in every round.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import pandas as pd

COLLAPSE_COLUMNS = ("collapsed", "collapsed rounds", "reversed when mined (%)", "hub p--/n (%)",
                    "loss (last round)", "collapsed value", "within D (end)", "between D (end)")


def collapse_columns(history: Sequence[dict]) -> dict:
    """One run's collapse: any round collapsed, how many; round 1's share of tables rows reversed at mining
    and its hub concentration (the larger of the p-- and n columns'); the last round's loss beside its
    collapsed value (the hinge at one point: the active margins), and its end within-/between-class D."""
    logs = [h["collapse"] for h in history if h.get("collapse")]
    if not logs:
        return {k: np.nan for k in COLLAPSE_COLUMNS}
    first, last = logs[0], logs[-1]
    hubs = [first.get(k, np.nan) for k in ("hub_p--", "hub_n")]
    return {"collapsed": bool(any(c["collapsed"] for c in logs)),
            "collapsed rounds": int(sum(c["collapsed"] for c in logs)),
            "reversed when mined (%)": 100 * first.get("reversed_any", np.nan),
            "hub p--/n (%)": 100 * np.nanmax(hubs) if np.isfinite(hubs).any() else np.nan,
            "loss (last round)": last["loss"], "collapsed value": last.get("collapsed_loss", np.nan),
            "within D (end)": last["end_within_class_distance"],
            "between D (end)": last["end_between_class_distance"]}


def readings_table(runs: pd.DataFrame, by: Sequence[str] = ("method", "reading", "column")) -> pd.DataFrame:
    """Per group of ``by``: test and validation balanced accuracy (means over the seeds, %), the test
    spread (max - min), the collapsed runs ("k of n") and the means of the other collapse columns.
    ``runs``: one row per run with ``balanced_accuracy``, ``val_balanced_accuracy`` (%) and
    :func:`collapse_columns`."""
    rows = []
    if runs.empty:
        return pd.DataFrame(columns=[*by, "test balanced accuracy", "spread", "validation", "seeds", "collapsed runs",
                                     *[c for c in COLLAPSE_COLUMNS if c != "collapsed"]])
    for key, g in runs.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update({"test balanced accuracy": g.balanced_accuracy.mean(),
                    "spread": g.balanced_accuracy.max() - g.balanced_accuracy.min(),
                    "validation": g.val_balanced_accuracy.mean(), "seeds": len(g),
                    "collapsed runs": f"{int(g.collapsed.fillna(False).astype(bool).sum())} of {len(g)}"})
        row.update({c: g[c].astype(float).mean() for c in COLLAPSE_COLUMNS if c != "collapsed"})
        rows.append(row)
    return pd.DataFrame(rows)


def best_readings(table: pd.DataFrame, column=None) -> Dict[str, str]:
    """Per method: the reading with the best mean validation balanced accuracy (at ``column`` when the
    table has columns)."""
    t = table if column is None or "column" not in table else table[table.column == column]
    return {m: g.loc[g.validation.idxmax(), "reading"] for m, g in t.groupby("method", sort=False)}


def readings_note(table: pd.DataFrame, best: Dict[str, str]) -> str:
    """What the table says, in words: per row, the numbers and whether it collapsed; the chosen readings."""
    parts = []
    for _, r in table.iterrows():
        where = f" at {r['column']}" if "column" in r else ""
        parts.append(f"{r['method']} [{r['reading']}]{where}: test {r['test balanced accuracy']:.1f} "
                     f"(spread {r['spread']:.1f}), validation {r['validation']:.1f}; collapsed in "
                     f"{r['collapsed runs']} runs; last-round loss {r['loss (last round)']:.3f} vs collapsed value "
                     f"{r['collapsed value']:.3f}; end D within/between {r['within D (end)']:.3f}/"
                     f"{r['between D (end)']:.3f}; rows reversed when mined {r['reversed when mined (%)']:.0f}%")
    collapsed = sorted({f"{r['method']} [{r['reading']}]" for _, r in table.iterrows()
                        if not str(r["collapsed runs"]).startswith("0 ")})
    chosen = ", ".join(f"{m}: {s}" for m, s in best.items())
    return ("Readings of the quintuplet members (issue 18): " + "; ".join(parts) + ". Collapsing in at least one run: "
            + (", ".join(collapsed) if collapsed else "none") + f". Validation-best reading (used for the main table): {chosen}.")
