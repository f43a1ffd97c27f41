"""The embedding figure (LMLE Fig. 3): 2-D UMAP maps of embeddings with a few clusters highlighted,
and the local class purity that the figure illustrates (measured in the full space)."""
from __future__ import annotations

from typing import Mapping, Tuple

import matplotlib.pyplot as plt
import numpy as np

from lmle_core import clustering, search

__all__ = ["highlighted_clusters", "local_purity", "embedding_grid"]

POSITIVE_COLOURS = ("#d62728", "#ff7f0e")
NEGATIVE_COLOURS = ("#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b")


def highlighted_clusters(x: np.ndarray, labels: np.ndarray, minority: int, cluster_size: int, seed: int = 0,
                         n_positive: int = 2, n_negative: int = 5) -> Tuple[np.ndarray, list, list]:
    """(cluster id of every row, the ``n_positive`` largest minority clusters, the ``n_negative``
    other-class clusters whose centroids are nearest to those)."""
    cl = clustering.cluster_per_class(x, labels, cluster_size, seed=seed)
    sizes = cl.sizes()
    pos = [int(c) for c in np.argsort(-sizes) if cl.centroid_labels[c] == minority][:n_positive]
    others = np.flatnonzero(cl.centroid_labels != minority)
    d = ((cl.centroids[others][:, None] - cl.centroids[pos][None]) ** 2).sum(-1).min(1)
    neg = [int(others[i]) for i in np.argsort(d)[:n_negative]]
    return cl.assignments, pos, neg


def local_purity(x: np.ndarray, labels: np.ndarray, minority: int, k: int = 20) -> dict:
    """Share of the ``k`` nearest neighbours (squared Euclidean, itself excluded) of every minority
    sample that belong to the minority class, averaged over the minority samples."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    idx = np.flatnonzero(labels == minority)
    _, nn = search.nearest(x[idx], x, k=k + 1)
    nn = nn.cpu().numpy()[:, 1:]
    return {"minority samples": int(len(idx)), "minority neighbourhood purity": float((labels[nn] == minority).mean())}


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    import umap  # noqa: PLC0415 -- umap-learn is slow to import; only this figure needs it

    return umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=seed).fit_transform(x)


def embedding_grid(panels: Mapping[str, tuple], cluster_size: int, n_points: int = 6000, seed: int = 0):
    """Rows: {row title: ({space title: (N, d) array}, labels (N,), minority class)}; one UMAP panel per space."""
    n_rows = len(panels)
    n_cols = max(len(spaces) for spaces, _, _ in panels.values())
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.4 * n_cols, 4.2 * n_rows), squeeze=False)
    rng = np.random.default_rng(seed)
    for r, (row, (spaces, labels, minority)) in enumerate(panels.items()):
        for c, (title, x) in enumerate(spaces.items()):
            ax = axes[r][c]
            assign, pos, neg = highlighted_clusters(x, labels, minority, cluster_size, seed)
            shown = np.flatnonzero(np.isin(assign, pos + neg))
            rest = np.setdiff1d(np.arange(len(x)), shown)
            extra = rng.choice(rest, size=min(len(rest), max(0, n_points - len(shown))), replace=False)
            pick = np.concatenate([shown, extra])
            xy = _umap(np.asarray(x)[pick], seed)
            a = assign[pick]
            grey = ~np.isin(a, pos + neg)
            ax.scatter(xy[grey, 0], xy[grey, 1], s=2, c="#c8c8c8", alpha=0.5, linewidths=0, label="other samples")
            for k, cid in enumerate(pos):
                m = a == cid
                ax.scatter(xy[m, 0], xy[m, 1], s=9, c=POSITIVE_COLOURS[k % 2], marker="o", linewidths=0,
                           label=f"minority cluster {k + 1}")
            for k, cid in enumerate(neg):
                m = a == cid
                ax.scatter(xy[m, 0], xy[m, 1], s=9, c=NEGATIVE_COLOURS[k % 5], marker="^", linewidths=0,
                           label=f"other-class cluster {k + 1}")
            ax.set_title(f"{row}: {title}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].legend(fontsize=7, markerscale=2, loc="best", framealpha=0.8)
    fig.tight_layout()
    return fig
