"""Controlled class imbalance for the MNIST experiment (LMLE paper, Table 5).

The paper forms "a Gaussian-like imbalanced class distribution by randomly
removing data with increasing amounts" (0 / 20 / 40 %) from the originally
balanced 10 classes. The exact profile is not given; this module uses:

    g_c = exp(-(c - (C - 1) / 2)^2 / (2 sigma^2))       c = 0 .. C-1
    q_c = alpha * (1 - g_c)                               fraction of class c removed
    alpha = removal / mean_c(1 - g_c)                     so that mean(q_c) = removal

i.e. the middle classes keep almost everything and the classes at both ends
lose most, so that the kept class sizes follow a Gaussian-like bump over the
class index and, for equal class sizes, exactly ``removal`` of the data is
removed overall. With C = 10 and sigma = 2 (default):

    class c        0      1      2      3      4      5      6      7      8      9
    g_c          0.080  0.216  0.458  0.755  0.969  0.969  0.755  0.458  0.216  0.080
    keep, 20 %   0.635  0.689  0.785  0.903  0.988  0.988  0.903  0.785  0.689  0.635
    keep, 40 %   0.270  0.379  0.570  0.806  0.976  0.976  0.806  0.570  0.379  0.270

(alpha = 0.397 and 0.793; the largest removal this profile allows is
mean(1 - g) / max(1 - g) = 54.8 %). On 1,200 training digits per class,
40 % removal keeps 324 / 454 / 684 / 967 / 1171 / 1171 / 967 / 684 / 454 / 324.

That profile is mild: largest-to-smallest class ratio 1.55 at 20 % and 3.6 at 40 %.
:func:`steep_keep_fractions` gives a steeper one with a chosen ratio (e.g. 10:1 at 40 %):
keep_c = min(1, exp(beta (d_max^2 - d_c^2)) / ratio), d_c = |c - (C - 1) / 2|, beta
found by bisection so that mean(keep_c) = 1 - removal; the end classes keep 1 / ratio
of the middle ones.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["steep_keep_fractions", "gaussian_keep_fractions", "remove_gaussian_like", "class_counts", "imbalance_table"]


def gaussian_keep_fractions(n_classes: int = 10, removal: float = 0.4, sigma: float = 2.0) -> np.ndarray:
    """Per-class fraction of data KEPT, float64 (C,); see the module docstring.

    ``removal`` is the overall fraction removed, in [0, 1) (0.2 = 20 %).
    Raises ValueError when a class would lose more than all of its data.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    if not 0.0 <= removal < 1.0:
        raise ValueError(f"removal must be a fraction in [0, 1), got {removal}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    c = np.arange(n_classes, dtype=np.float64)
    g = np.exp(-((c - (n_classes - 1) / 2.0) ** 2) / (2.0 * sigma**2))
    spread = 1.0 - g
    if removal == 0.0:
        return np.ones(n_classes)
    if spread.mean() <= 0:
        raise ValueError(f"n_classes={n_classes}, sigma={sigma} give a flat profile: no Gaussian-like removal possible")
    q = removal / spread.mean() * spread
    if q.max() > 1.0 + 1e-12:
        limit = spread.mean() / spread.max()
        raise ValueError(
            f"removal={removal} with n_classes={n_classes}, sigma={sigma} would remove {q.max():.3f} of a class "
            f"(more than all of it); the largest removal for these parameters is {limit:.4f}"
        )
    return 1.0 - np.minimum(q, 1.0)


def steep_keep_fractions(n_classes: int = 10, removal: float = 0.4, max_ratio: float = 10.0) -> np.ndarray:
    """Per-class fraction KEPT with largest:smallest = ``max_ratio`` (see the module docstring)."""
    if not 0.0 < removal < 1.0:
        raise ValueError(f"removal must be a fraction in (0, 1), got {removal}")
    if max_ratio <= 1:
        raise ValueError(f"max_ratio must be > 1, got {max_ratio}")
    d2 = (np.arange(n_classes, dtype=np.float64) - (n_classes - 1) / 2.0) ** 2
    lift = d2.max() - d2

    def keep(beta):
        return np.minimum(1.0, np.exp(beta * lift) / max_ratio)

    target = 1.0 - removal
    lo, hi = 0.0, 1.0
    while keep(hi).mean() < target and hi < 1e6:
        hi *= 2
    if not keep(lo).mean() <= target <= keep(hi).mean() + 1e-12:
        raise ValueError(f"no profile with ratio {max_ratio} removes {removal:.0%} of {n_classes} classes: "
                         f"possible removals {1 - keep(hi).mean():.3f} .. {1 - 1 / max_ratio:.3f}")
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if keep(mid).mean() < target else (lo, mid)
    out = keep(hi)
    if out.max() / out.min() < max_ratio - 1e-6:
        raise ValueError(f"removal {removal} too large for ratio {max_ratio}: the middle classes lose data too")
    return out


def class_counts(labels, n_classes: int) -> np.ndarray:
    """Number of samples per class, int64 (n_classes,)."""
    labels = np.asarray(labels).astype(np.int64).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=n_classes).astype(np.int64)


def remove_gaussian_like(
    labels, removal: float, seed: int = 0, sigma: float = 2.0, n_classes: Optional[int] = None,
    max_ratio: Optional[float] = None,
) -> np.ndarray:
    """Sorted indices of the samples KEPT: class c keeps round(keep_c * n_c)
    randomly chosen samples (``keep_c`` from :func:`gaussian_keep_fractions`,
    rounding half up), so with equal class sizes the removed share equals
    ``removal`` up to one sample per class. ``removal=0`` keeps everything.
    Deterministic from ``seed``; ``n_classes`` defaults to max(label) + 1.
    ``max_ratio``: use :func:`steep_keep_fractions` with that largest:smallest ratio instead.
    """
    labels = np.asarray(labels).astype(np.int64).ravel()
    if labels.size == 0:
        return np.zeros(0, np.int64)
    C = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    keep = gaussian_keep_fractions(C, removal, sigma) if not max_ratio or removal == 0 else \
        steep_keep_fractions(C, removal, max_ratio)
    counts = class_counts(labels, C)
    rng = np.random.default_rng(seed)
    kept = []
    for c in range(C):
        idx = np.flatnonzero(labels == c)
        k = int(np.floor(keep[c] * counts[c] + 0.5))
        kept.append(idx if k >= len(idx) else rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(kept)).astype(np.int64)


def imbalance_table(labels, removals=(0.0, 0.2, 0.4), seed: int = 0, sigma: float = 2.0, n_classes: int = 10):
    """pandas DataFrame: class sizes kept for each removal level (rows) and class (columns)."""
    import pandas as pd

    rows = {}
    for r in removals:
        kept = remove_gaussian_like(labels, r, seed=seed, sigma=sigma, n_classes=n_classes)
        rows[f"{round(100 * r)}% removed"] = class_counts(np.asarray(labels)[kept], n_classes)
    df = pd.DataFrame.from_dict(rows, orient="index", columns=[str(c) for c in range(n_classes)])
    df["total"] = df.sum(axis=1)
    return df
