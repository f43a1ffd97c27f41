"""Figures of the edge-detection study: precision-recall curves with iso-F lines (the BSDS500
benchmark's plot) and a Fig. 5-style visual comparison (maps as the benchmark sees them, one zoomed
box per image, the same on every column)."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["pr_curves", "edge_comparison", "most_different_box", "benchmark_view"]


def pr_curves(curves: Mapping[str, Tuple[np.ndarray, np.ndarray]], ods_points: Optional[Mapping[str, tuple]] = None,
              title: str = "", iso_f: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)):
    """Precision (y) against recall (x) per method, with iso-F contours; ``ods_points`` marks each
    method's ODS point {name: (recall, precision, F)}."""
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    r = np.linspace(0.01, 1, 400)
    for f in iso_f:
        p = f * r / (2 * r - f)
        ok = (p > 0) & (p <= 1) & (2 * r > f)
        ax.plot(r[ok], p[ok], color="0.8", lw=0.7, zorder=0)
        k = np.flatnonzero(ok)
        if k.size:
            ax.text(r[k[-1]] - 0.02, p[k[-1]] + 0.005, f"F={f:.1f}", fontsize=6, color="0.55", ha="right")
    for name, (rec, prec) in curves.items():
        rec, prec = np.asarray(rec), np.asarray(prec)
        keep = rec > 0
        line, = ax.plot(rec[keep], prec[keep], lw=1.6, label=name)
        if ods_points and name in ods_points:
            rr, pp, ff = ods_points[name]
            ax.plot([rr], [pp], "o", color=line.get_color(), ms=5)
            line.set_label(f"{name} [F={ff:.3f}]")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_aspect("equal")
    ax.grid(alpha=0.2)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def most_different_box(a: np.ndarray, b: np.ndarray, size: int) -> Tuple[int, int, int, int]:
    """(top, left, height, width) of the ``size`` x ``size`` window where two maps differ most."""
    from scipy import ndimage

    size = int(min(size, *a.shape))
    diff = ndimage.uniform_filter(np.abs(a - b).astype(np.float64), size, mode="constant")
    h, w = a.shape
    half = size // 2
    inner = diff[half:h - size + half + 1, half:w - size + half + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(y), int(x), size, size


def benchmark_view(edge_map: np.ndarray, threshold: float) -> np.ndarray:
    """What the benchmark matches at ``threshold``: the map thresholded (``>= threshold``) and thinned."""
    from pyEdgeEval.preprocess import binary_thin

    return binary_thin(np.asarray(edge_map) >= threshold)


def edge_comparison(images: Mapping[str, np.ndarray], columns: Mapping[str, Mapping[str, np.ndarray]],
                    boxes: Mapping[str, tuple], size: float = 2.6, widen: int = 1):
    """The Fig. 5 layout: for each image a row of full panels (the image, then one per column
    {title: {id: boolean edge map}}, e.g. ground truth, a classic detector, Softmax, LMLE-kNN, as the
    benchmark sees them: thresholded and thinned) and below it the same red box (top, left, h, w)
    enlarged from every panel at its native pixels. Edges are dark on white; in the full panels they are
    widened by ``widen`` px for display only (a one-pixel line vanishes when the panel is shrunk)."""
    from scipy import ndimage

    ids, names = list(images), list(columns)
    n_cols = 1 + len(names)
    fig, axes = plt.subplots(2 * len(ids), n_cols, figsize=(size * n_cols, 2 * size * 0.72 * len(ids) + 0.3),
                             squeeze=False, gridspec_kw={"hspace": 0.08, "wspace": 0.04})
    for r, iid in enumerate(ids):
        t, lft, hh, ww = boxes[iid]
        panels = [("image", np.asarray(images[iid]))] + [(n, np.asarray(columns[n][iid], dtype=bool)) for n in names]
        for c, (title, img) in enumerate(panels):
            full, zoom = axes[2 * r, c], axes[2 * r + 1, c]
            if img.ndim == 3:
                full.imshow(img)
                zoom.imshow(img[t:t + hh, lft:lft + ww], interpolation="nearest")
            else:
                shown = ndimage.binary_dilation(img, iterations=widen) if widen else img
                full.imshow(shown, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                zoom.imshow(img[t:t + hh, lft:lft + ww], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            full.add_patch(Rectangle((lft, t), ww, hh, fill=False, ec="red", lw=1.2))
            for ax in (full, zoom):
                ax.set_xticks([])
                ax.set_yticks([])
            for side in zoom.spines.values():
                side.set_edgecolor("red")
            if r == 0:
                full.set_title(title, fontsize=9)
        axes[2 * r, 0].set_ylabel(iid, fontsize=8)
        axes[2 * r + 1, 0].set_ylabel("red box", fontsize=8)
    return fig
