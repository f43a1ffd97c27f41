"""Tables of the MNIST imbalance control (LMLE Table 5): seeds, their spread, both classifiers, the
paper's ordering read with ties, and the paper-budget run's results when they were committed."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

__all__ = ["PAPER_ORDER", "column_name", "seed_table", "both_classifiers", "ordering_verdicts",
           "load_paper_budget"]

PAPER_ORDER = ("Quintuplet+resample+cost", "Quintuplet", "Triplet+resample+cost")


def column_name(removal: float, ratio: float = 0.0) -> str:
    """Table 5's column of a removal level (the paper's names), with the steep profile's ratio."""
    return f"remove_{removal:g}" + (f"_ratio{ratio:g}" if ratio else "")


def seed_table(runs: pd.DataFrame, methods: Sequence[str], columns: Sequence[str],
               value: str = "balanced_accuracy") -> pd.DataFrame:
    """Per method: the mean over training seeds of ``value`` (%) in every column and its spread
    (max - min over the seeds, points) as '<column> spread'."""
    g = runs.groupby(["method", "column"])[value]
    mean, spread = g.mean().unstack(), (g.max() - g.min()).unstack()
    out = pd.DataFrame({"method": list(methods)})
    for c in columns:
        out[c] = [mean.loc[m, c] if m in mean.index else np.nan for m in methods]
    for c in columns:
        out[f"{c} spread"] = [spread.loc[m, c] if m in spread.index else np.nan for m in methods]
    return out


def both_classifiers(runs: pd.DataFrame, methods: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Mean over seeds (%) of each method's own classifier and of the other family's classifier
    (softmax nets: Eq. 3 kNN on their embeddings; embedding nets: a linear probe), per column."""
    rows = []
    for m in methods:
        sub = runs[runs.method == m]
        if sub.empty:
            continue
        row = {"method": m, "own classifier": sub.classifier.iloc[0], "other classifier": sub.other_classifier.iloc[0]}
        for c in columns:
            at = sub[sub.column == c]
            row[f"{c} own"] = at.balanced_accuracy.mean()
            row[f"{c} other"] = at.other_balanced_accuracy.mean()
        rows.append(row)
    return pd.DataFrame(rows)


def ordering_verdicts(table: pd.DataFrame, columns: Sequence[str], order: Sequence[str] = PAPER_ORDER) -> pd.DataFrame:
    """For each column and each adjacent pair of ``order`` (the paper's a >= b): the difference of the
    seed means and the verdict, a tie when it is within the larger of the two seed spreads."""
    t = table.set_index("method")
    rows = []
    for c in columns:
        for a, b in zip(order, order[1:]):
            if a not in t.index or b not in t.index:
                continue
            d = t.loc[a, c] - t.loc[b, c]
            tol = max(t.loc[a, f"{c} spread"], t.loc[b, f"{c} spread"])
            verdict = "tie" if abs(d) <= tol else ("holds" if d > 0 else "reversed")
            rows.append({"column": c, "paper says": f"{a} >= {b}", "difference (points)": d,
                         "tolerance (larger spread)": tol, "verdict": verdict})
    return pd.DataFrame(rows)


def load_paper_budget(folder: Path) -> Optional[dict]:
    """The committed paper-budget run (``scripts/mnist_paper_budget.py``'s report): its tables by name
    and its run.json / metrics, or None when the folder holds none."""
    folder = Path(folder)
    tables = folder / "tables"
    if not tables.is_dir():
        return None
    out = {"tables": {p.stem: pd.read_csv(p) for p in sorted(tables.glob("*.csv"))}}
    for name in ("run.json", "metrics.json"):
        if (folder / name).is_file():
            import json

            out[name] = json.loads((folder / name).read_text())
    return out
