"""Figures shared by the study notebooks (matplotlib; each function returns a Figure)."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["use_style", "image_grid", "grouped_bars", "ours_vs_paper_lines", "loglog", "semilogx", "boundary_overlay"]


def use_style() -> None:
    """The one figure style of every study (seaborn's whitegrid theme, colour-blind palette, labels
    readable at the figures' size); ``StudyReport`` applies it, so notebooks need not."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook", font_scale=0.85,
                  rc={"figure.dpi": 100, "savefig.dpi": 120, "axes.titlesize": "medium", "legend.fontsize": "small",
                      "image.cmap": "viridis", "axes.grid": True, "grid.alpha": 0.4})


def image_grid(images: np.ndarray, titles: Optional[Sequence] = None, n_cols: int = 10,
               cmap: Optional[str] = "gray", size: float = 1.0, suptitle: str = ""):
    """Grid of (N, H, W) or (N, H, W, 3) uint8 images with optional per-image titles."""
    n = len(images)
    n_rows = max(1, int(np.ceil(n / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = images[i]
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0, vmax=255)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def grouped_bars(values: Mapping[str, Sequence[float]], categories: Sequence, ylabel: str, title: str = "",
                 xlabel: str = "class"):
    """One group of bars per category, one bar per series (e.g. class sizes per removal level)."""
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(categories) * max(1, len(values)) / 2), 3.2))
    width = 0.8 / max(1, len(values))
    x = np.arange(len(categories))
    for i, (name, vals) in enumerate(values.items()):
        ax.bar(x + (i - (len(values) - 1) / 2) * width, vals, width, label=str(name))
    ax.set_xticks(x, [str(c) for c in categories])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(4, len(values)))
    fig.tight_layout()
    return fig


def ours_vs_paper_lines(ours: pd.DataFrame, paper: Optional[pd.DataFrame], x_values: Sequence[float],
                        columns: Sequence[str], key: str = "method", xlabel: str = "", ylabel: str = ""):
    """Line per row of ``ours`` over ``columns`` (solid), the paper's rows dashed in the same colour."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    colours = {}
    for i, row in ours.reset_index(drop=True).iterrows():
        line, = ax.plot(x_values, [row[c] for c in columns], "o-", label=f"{row[key]} (ours)")
        colours[row[key]] = line.get_color()
    if paper is not None:
        for _, row in paper.iterrows():
            if row[key] in colours and all(c in row for c in columns):
                ax.plot(x_values, [row[c] for c in columns], "s--", color=colours[row[key]], alpha=0.6,
                        label=f"{row[key]} (paper)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _lines(series: Dict[str, tuple], xlabel: str, ylabel: str, title: str, xscale: str, yscale: str):
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (x, y) in series.items():
        ax.plot(x, y, "o-", label=name)
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def loglog(series: Dict[str, tuple], xlabel: str, ylabel: str, title: str = ""):
    """Log-log lines: series name -> (x values, y values)."""
    return _lines(series, xlabel, ylabel, title, "log", "log")


def semilogx(series: Dict[str, tuple], xlabel: str, ylabel: str, title: str = ""):
    """Lines with a logarithmic x axis: series name -> (x values, y values)."""
    return _lines(series, xlabel, ylabel, title, "log", "linear")


def boundary_overlay(image: np.ndarray, boundaries: Sequence[np.ndarray], title: str = ""):
    """An image beside the mean of its annotators' boundary maps."""
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.6))
    axes[0].imshow(image)
    axes[1].imshow(np.mean([b.astype(float) for b in boundaries], 0), cmap="gray_r")
    axes[0].set_title(title, fontsize=8)
    axes[1].set_title(f"{len(boundaries)} annotators (mean)", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig
