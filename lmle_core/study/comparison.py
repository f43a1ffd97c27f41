"""The head-to-head comparison of imbalanced-learning methods: rows, the table with ties, figures.

A row is one trained method on one dataset (one seed); ``head_to_head`` ranks the methods of each
dataset by balanced accuracy and marks as ties the differences smaller than the seed-to-seed
spread of the reference method (Softmax), measured on the same dataset.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lmle_core import metrics
from lmle_core.study.paper import paper_table

__all__ = ["attribute_row", "class_row", "head_to_head", "accuracy_vs_imbalance", "precision_recall",
           "celeba_by_imbalance", "verdict"]

METRICS = ("balanced accuracy", "accuracy", "mean precision", "mean recall")
REFERENCE = "Softmax"
BANDS = ((0, 10), (10, 30), (30, 40), (40, 50))


def attribute_row(dataset: str, method: str, result, seed: int) -> dict:
    """One ``AttributeResult`` (multi-label) as a row: means over attributes (%), per-attribute balanced accuracy."""
    pa = result.per_attribute
    return {"dataset": dataset, "kind": "attributes", "level": np.nan, "method": method, "seed": seed,
            "balanced accuracy": 100 * float(np.nanmean(pa["balanced_accuracy"])),
            "accuracy": 100 * float(np.nanmean(pa["accuracy"])),
            "mean precision": 100 * float(np.nanmean(pa["precision"])),
            "mean recall": 100 * float(np.nanmean(pa["recall"])), "train seconds": result.train_seconds,
            "attributes": list(result.tasks), "per_attribute": list(100 * np.asarray(pa["balanced_accuracy"]))}


def class_row(dataset: str, method: str, result, data, seed: int) -> dict:
    """One single-label ``MethodResult`` as a row: balanced accuracy, accuracy, macro precision / recall (%)."""
    m = metrics.multiclass_metrics(data.test.labels, result.test_predictions)
    level = float(data.name.rsplit("remove", 1)[1]) if "remove" in data.name else np.nan
    return {"dataset": dataset, "kind": "classes", "level": level, "method": method, "seed": seed,
            "balanced accuracy": 100 * m["balanced_accuracy"], "accuracy": 100 * m["accuracy"],
            "mean precision": 100 * m["precision"], "mean recall": 100 * m["recall"],
            "train seconds": result.train_seconds}


def _spread(runs: pd.DataFrame) -> pd.DataFrame:
    ref = runs[runs.method == REFERENCE].groupby("dataset")["balanced accuracy"]
    return pd.DataFrame({"dataset": ref.max().index, "seeds": ref.count().values,
                         "Softmax spread (max - min)": (ref.max() - ref.min()).values})


def head_to_head(runs: pd.DataFrame, seed: int):
    """(table of the main seed with rank and tie marks, the spread per dataset)."""
    spread = _spread(runs)
    main = runs[runs.seed == seed].drop_duplicates(["dataset", "method"])
    tol = dict(zip(spread["dataset"], spread["Softmax spread (max - min)"]))
    parts = []
    for dataset, group in main.groupby("dataset", sort=False):
        g = group.sort_values("balanced accuracy", ascending=False).copy()
        best = g["balanced accuracy"].iloc[0]
        g["rank"] = np.arange(1, len(g) + 1)
        g["tie with best"] = np.where(best - g["balanced accuracy"] <= tol.get(dataset, 0.0), "=", "")
        parts.append(g)
    table = pd.concat(parts, ignore_index=True) if parts else main
    cols = ["dataset", "rank", "tie with best", "method", *METRICS, "train seconds"]
    return table[[c for c in cols if c in table]], spread


def verdict(table: pd.DataFrame, spread: pd.DataFrame) -> str:
    """One sentence per dataset naming the best method(s), plainly."""
    out = []
    tol = dict(zip(spread["dataset"], spread["Softmax spread (max - min)"]))
    for dataset, g in table.groupby("dataset", sort=False):
        best = g[g["rank"] == 1].iloc[0]
        tied = [m for m in g.loc[(g["tie with best"] == "=") & (g["rank"] > 1), "method"]]
        s = (f"{dataset}: best {best['method']} ({best['balanced accuracy']:.1f} balanced accuracy, precision "
             f"{best['mean precision']:.1f}, recall {best['mean recall']:.1f})")
        if tied:
            s += f", tied within the seed spread ({tol.get(dataset, 0):.1f} points) with " + ", ".join(tied)
        out.append(s)
    return "; ".join(out) + "."


def _levels() -> dict:
    return dict(paper_table("lmle_table2_celeba")[["attribute", "imbalance_level"]].values)


def celeba_by_imbalance(runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Mean balanced accuracy per method over the attributes of each imbalance band (the paper's levels)."""
    rows = runs[(runs.kind == "attributes") & (runs.seed == seed)].drop_duplicates("method")
    if rows.empty:
        return pd.DataFrame()
    level = _levels()
    out = []
    for _, r in rows.iterrows():
        lv = np.array([level.get(a, np.nan) for a in r["attributes"]])
        acc = np.asarray(r["per_attribute"])
        row = {"method": r["method"]}
        for lo, hi in BANDS:
            sel = (lv >= lo) & (lv < hi)
            row[f"imbalance {lo}-{hi} ({sel.sum()} attributes)"] = float(acc[sel].mean()) if sel.any() else np.nan
        out.append(row)
    return pd.DataFrame(out)


def accuracy_vs_imbalance(runs: pd.DataFrame, seed: int):
    """Balanced accuracy against removal level (MNIST) and against the attributes' imbalance band (CelebA)."""
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.2))
    cls = runs[(runs.kind == "classes") & (runs.seed == seed)]
    for method, g in cls.groupby("method", sort=False):
        g = g.sort_values("level")
        axes[0].plot(g["level"], g["balanced accuracy"], "o-", label=method)
    axes[0].set_xlabel("training data removed (%)")
    axes[0].set_title("MNIST-rot-back-image", fontsize=10)
    bands = celeba_by_imbalance(runs, seed)
    if not bands.empty:
        cols = [c for c in bands.columns if c.startswith("imbalance")]
        x = [np.mean([float(v) for v in c.split()[1].split("-")]) for c in cols]
        for _, r in bands.iterrows():
            axes[1].plot(x, [r[c] for c in cols], "o-", label=r["method"])
        axes[1].set_xticks(x, [c.split(" (")[0].replace("imbalance ", "") for c in cols])
    axes[1].set_xlabel("attribute imbalance level |positive rate - 50| (%)")
    axes[1].set_title("CelebA attributes", fontsize=10)
    for ax in axes:
        ax.set_ylabel("balanced accuracy (%)")
        ax.grid(alpha=0.3)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    return fig


def precision_recall(runs: pd.DataFrame, seed: int):
    """Mean precision against mean recall of every method (CelebA; MNIST at its largest removal)."""
    main = runs[runs.seed == seed]
    panels = [("CelebA (40 attributes)", main[main.kind == "attributes"])]
    cls = main[main.kind == "classes"]
    if not cls.empty:
        top = cls["level"].max()
        panels.append((f"MNIST-rot-back-image {top:g}% removed", cls[cls.level == top]))
    panels = [(t, g) for t, g in panels if not g.empty]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6.2 * max(1, len(panels)), 4.6), squeeze=False)
    for ax, (title, g) in zip(axes[0], panels):
        for _, r in g.drop_duplicates("method").iterrows():
            ax.scatter(r["mean recall"], r["mean precision"], s=30)
            ax.annotate(r["method"], (r["mean recall"], r["mean precision"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("mean recall (%)")
        ax.set_ylabel("mean precision (%)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
