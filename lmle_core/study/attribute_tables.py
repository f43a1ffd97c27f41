"""Tables and figures of the attribute studies (LMLE Table 2, Fig. 4, Table 4; the CRL comparison).

Every function takes ``results``: {method name: ``AttributeResult``} trained on the same
attributes, and returns a DataFrame (or a Figure) ready for ``StudyReport``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lmle_core.study.paper import paper_table

__all__ = ["PAPER_TABLE2_METHODS", "table2", "metric_summary", "per_attribute_metrics", "gains",
           "gain_figure", "gain_trend"]

PAPER_TABLE2_METHODS = ("Triplet-kNN", "PANDA", "ANet", "LMLE-kNN")


def _per_attribute(results: Mapping, metric: str) -> pd.DataFrame:
    tasks = next(iter(results.values())).tasks
    for name, r in results.items():
        if r.tasks != tasks:
            raise ValueError(f"{name} was trained on other attributes than the rest")
    return pd.DataFrame({name: 100 * np.asarray(r.per_attribute[metric]) for name, r in results.items()},
                        index=pd.Index(tasks, name="attribute"))


def table2(results: Mapping, train_positive_rate: Optional[Mapping[str, float]] = None) -> pd.DataFrame:
    """Balanced accuracy (%) per attribute, ours beside the paper's rows, sorted by the paper's imbalance
    level (ties: the paper's order), with the mean over the attributes shown as a last row."""
    ours = _per_attribute(results, "balanced_accuracy")
    paper = paper_table("lmle_table2_celeba").set_index("attribute")
    order = [a for a in paper.index if a in ours.index] + [a for a in ours.index if a not in paper.index]
    out = pd.DataFrame(index=pd.Index(order, name="attribute"))
    out["imbalance level (paper)"] = paper["imbalance_level"].reindex(order)
    if train_positive_rate is not None:
        out["imbalance level (our train set)"] = [abs(100 * train_positive_rate[a] - 50) for a in order]
    for name in ours.columns:
        out[f"{name} (ours)"] = ours[name].reindex(order)
    for name in PAPER_TABLE2_METHODS:
        out[f"{name} (paper{', quoted' if name in ('PANDA', 'ANet') else ''})"] = paper[name].reindex(order)
    mean = out.mean(numeric_only=True).to_frame("mean").T
    mean.index.name = "attribute"
    return pd.concat([out, mean]).reset_index()


def metric_summary(results: Mapping, paper_means: Optional[Mapping[str, float]] = None) -> pd.DataFrame:
    """Mean over attributes of balanced accuracy, accuracy, precision and recall (%), per method."""
    rows = []
    for name, r in results.items():
        row = {"method": name, "classifier": r.classifier}
        row.update({f"mean {k.replace('_', ' ')}": 100 * float(np.nanmean(v)) for k, v in r.per_attribute.items()})
        if paper_means is not None:
            row["mean balanced accuracy (paper)"] = paper_means.get(name, np.nan)
        row["train seconds"] = r.train_seconds
        rows.append(row)
    return pd.DataFrame(rows)


def per_attribute_metrics(results: Mapping, metrics: Sequence[str] = ("accuracy", "precision", "recall")) -> pd.DataFrame:
    """One row per attribute, one column per (method, metric), in %."""
    tables = [_per_attribute(results, m).add_suffix(f" {m}") for m in metrics]
    out = pd.concat(tables, axis=1)
    cols = [f"{name} {m}" for name in results for m in metrics]
    return out[cols].reset_index()


def gains(table: pd.DataFrame, method: str, competitors: Sequence[str]) -> pd.DataFrame:
    """Per attribute: the imbalance level and ``method``'s gain in points over each competitor column of
    a :func:`table2` table (its ``mean`` row dropped)."""
    body = table[table["attribute"] != "mean"]
    out = body[["attribute", "imbalance level (paper)"]].copy()
    for c in competitors:
        out[f"gain over {c}"] = body[method] - body[c]
    return out.reset_index(drop=True)


def gain_trend(gain: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation of each gain column with the imbalance level, and the mean gain on the
    more and the less imbalanced half of the attributes."""
    from scipy.stats import spearmanr

    level = gain["imbalance level (paper)"].to_numpy(float)
    median = np.median(level)
    rows = []
    for c in [c for c in gain.columns if c.startswith("gain over")]:
        g = gain[c].to_numpy(float)
        ok = np.isfinite(g) & np.isfinite(level)
        rho, p = spearmanr(level[ok], g[ok]) if ok.sum() > 2 else (np.nan, np.nan)
        rows.append({"competitor": c[len("gain over "):], "mean gain": float(np.nanmean(g)),
                     "mean gain, imbalance <= median": float(np.nanmean(g[level <= median])),
                     "mean gain, imbalance > median": float(np.nanmean(g[level > median])),
                     "Spearman rho (gain, imbalance)": float(rho), "p-value": float(p)})
    return pd.DataFrame(rows)


def gain_figure(panels: Mapping[str, pd.DataFrame], title: str = ""):
    """Fig. 4 style: gain (points) against imbalance level, one panel per {title: gains table}."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.0), squeeze=False, sharey=True)
    for ax, (name, gain) in zip(axes[0], panels.items()):
        level = gain["imbalance level (paper)"].to_numpy(float)
        for c in [c for c in gain.columns if c.startswith("gain over")]:
            g = gain[c].to_numpy(float)
            ax.plot(level, g, "o", alpha=0.75, label=c[len("gain over "):])
            ok = np.isfinite(g)
            if ok.sum() > 2:
                k, b = np.polyfit(level[ok], g[ok], 1)
                xs = np.array([level.min(), level.max()])
                ax.plot(xs, k * xs + b, "-", color=ax.lines[-1].get_color(), alpha=0.6)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("imbalance level |positive rate - 50| (%)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="gain over", title_fontsize=8)
    axes[0][0].set_ylabel("balanced accuracy gain (points)")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def seed_spread(mean_by_seed: Mapping[str, Mapping[int, float]], reference: str = "LMLE-kNN") -> pd.DataFrame:
    """Mean balanced accuracy of every method per training seed, the mean over seeds and the spread
    (max - min), and ``reference`` minus each method's mean with the verdict: a difference within the
    larger of the two methods' spreads is a tie (the project's rule for single-seed comparisons)."""
    seeds = sorted({s for by_seed in mean_by_seed.values() for s in by_seed})
    rows = []
    for method, by_seed in mean_by_seed.items():
        vals = np.array([by_seed[s] for s in seeds if s in by_seed], float)
        rows.append({"method": method, **{f"seed {s}": by_seed.get(s, np.nan) for s in seeds},
                     "mean": float(vals.mean()), "spread (max - min)": float(vals.max() - vals.min())})
    table = pd.DataFrame(rows)
    if reference in mean_by_seed:
        ref = table.set_index("method").loc[reference]
        diff, verdict = [], []
        for _, row in table.iterrows():
            d = ref["mean"] - row["mean"]
            tol = max(ref["spread (max - min)"], row["spread (max - min)"])
            diff.append(np.nan if row["method"] == reference else d)
            verdict.append("" if row["method"] == reference else
                           "tie" if abs(d) <= tol else (f"{reference} better" if d > 0 else f"{reference} worse"))
        table[f"{reference} minus method"] = diff
        table["verdict"] = verdict
    return table
