"""Figures of the edge-detection study: precision-recall curves with iso-F lines (the BSDS500
benchmark's plot) and a Fig. 5-style visual comparison with a zoomed box."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["pr_curves", "edge_comparison", "most_different_box"]


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


def _display_max(m: np.ndarray) -> float:
    nz = np.asarray(m)[np.asarray(m) > 0]
    return float(np.percentile(nz, 99)) if nz.size else 1.0


def edge_comparison(images: Mapping[str, np.ndarray], columns: Mapping[str, Mapping[str, np.ndarray]],
                    boxes: Optional[Mapping[str, tuple]] = None, size: float = 2.0):
    """One row per image: the image, then one panel per column {title: {id: map}} (e.g. ground truth,
    Softmax, LMLE-kNN), edges dark on white, each map's grey scale up to its 99th percentile of
    non-zero values; a red box (top, left, h, w) per image, shown enlarged in a last panel per map
    (the paper's Fig. 5 red boxes)."""
    ids = list(images)
    names = list(columns)
    n_cols = 1 + len(names) * (2 if boxes else 1)
    fig, axes = plt.subplots(len(ids), n_cols, figsize=(size * n_cols, size * 0.75 * len(ids) + 0.4),
                             squeeze=False)
    for r, iid in enumerate(ids):
        box = boxes.get(iid) if boxes else None
        panels = [("image", images[iid], None)]
        for name in names:
            panels.append((name, columns[name][iid], "gray_r"))
        c = 0
        top = {title: _display_max(img) for title, img, cmap in panels if cmap}
        for title, img, cmap in panels:
            ax = axes[r, c]
            ax.imshow(img, cmap=cmap, vmin=0 if cmap else None, vmax=top.get(title))
            if box is not None:
                ax.add_patch(Rectangle((box[1], box[0]), box[3], box[2], fill=False, ec="red", lw=1.2))
            ax.set_title(title if r == 0 else "", fontsize=8)
            ax.axis("off")
            c += 1
        if boxes:
            for title, img, cmap in panels[1:]:
                ax = axes[r, c]
                t, lft, hh, ww = box
                ax.imshow(img[t:t + hh, lft:lft + ww], cmap=cmap, vmin=0, vmax=top[title], interpolation="nearest")
                for side in ax.spines.values():
                    side.set_edgecolor("red")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{title} (zoom)" if r == 0 else "", fontsize=8)
                c += 1
        axes[r, 0].text(2, 2, iid, fontsize=6, color="white", va="top",
                        bbox=dict(facecolor="black", alpha=0.5, lw=0, pad=1))
    fig.tight_layout()
    return fig
