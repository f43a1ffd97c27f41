"""The margins' coarse grid search (LMLE Sec. 3.2) and its extension past a winning edge.

The paper: "the margins' lower bounds are zero", the upper bounds are g1max, g2max, g3max, and "In
practice, we try several decreasing margins by a coarse grid search before actual training."

How it is read here:

- "decreasing" describes the sequence of trials, from the upper bounds down towards the lower bound
  zero, not an order among g1, g2, g3. A grid value is a SCALE of the bounds (margins = scale x
  bounds, ``MarginBounds.scaled``), decreasing geometrically from ``top`` (1 = the bounds): zero is
  reached only in the limit, and a coarse grid covers several orders of magnitude in a few steps.
- One scale for all three margins keeps the proportions the geometry gives the bounds. Sec. 3.2's
  "g2 being the largest within a class" (g1 <= g2) holds for the bounds of every class of two
  clusters or more (l <= L_c - l) as long as both angles stay below pi / 2, and a common scale keeps
  it. ``per_margin=True`` gives the product of three such sequences (scales (s1, s2, s3)) with no
  order imposed: the paper states none between g2 and g3, and g2 differs between classes, so an
  order on scales would not be an order on margins. Restrict the product yourself if you want one.
- The grid is searched on validation; when the best value sits on an edge of the grid the optimum
  may lie beyond it, and :func:`extend_grid` gives the next values to try there (the study's rule:
  extend the grid when its edge wins). Nothing caps a scale at 1: the chord bounds are applied to
  squared distances by default, where the bound 2 sin(.) is not the geometric limit of D.
"""
from __future__ import annotations

import itertools
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

Scale = Union[float, Tuple[float, float, float]]


def margin_scale_grid(size: int = 4, top: float = 1.0, ratio: float = 0.5,
                      per_margin: bool = False) -> List[Scale]:
    """Decreasing margin scales top, top * ratio, ..., top * ratio^(size-1); ``per_margin``: every
    (s1, s2, s3) of that sequence (size^3 tuples, decreasing lexicographically)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if not (np.isfinite(top) and top > 0):
        raise ValueError(f"top must be finite and > 0, got {top!r}")
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be in (0, 1) (a decreasing grid), got {ratio!r}")
    values = [float(top * ratio ** i) for i in range(size)]
    return list(itertools.product(values, repeat=3)) if per_margin else values


def extend_grid(grid: Sequence[Scale], best: Scale, steps: int = 2, upper: Optional[float] = None) -> List[Scale]:
    """The next ``steps`` values beyond the grid's edge where ``best`` sits on it; [] when ``best``
    is inside the grid (no extension needed).

    Scalar grids: past the largest value the grid continues by the ratio of its two largest values,
    past the smallest by that of its two smallest (a one-value grid by 2 both ways), nearest first.
    Tuple grids (per-margin scales): each coordinate of ``best`` at the edge of that coordinate's
    values is extended in the same way, the other coordinates kept at ``best``'s. ``upper``: drop
    values above it (e.g. 1.0 to stay at or below the paper's bounds).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if len(grid) == 0:
        raise ValueError("grid is empty")
    if np.ndim(best) == 0:
        values = _positive_values(grid, "grid")
        return _extend_axis(values, float(best), steps, upper)
    points = np.asarray(grid, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != np.size(best):
        raise ValueError(f"best {best!r} does not match the grid's points of shape {points.shape[1:]}")
    out = []
    for k in range(points.shape[1]):
        for value in _extend_axis(_positive_values(points[:, k], "grid"), float(best[k]), steps, upper):
            point = list(map(float, best))
            point[k] = value
            out.append(tuple(point))
    return out


def _positive_values(values, name) -> np.ndarray:
    v = np.unique(np.asarray(values, dtype=np.float64))
    if not np.isfinite(v).all() or (v <= 0).any():
        raise ValueError(f"{name} values must be finite and > 0 (scales of the bounds), got {v.tolist()}")
    return v


def _extend_axis(values: np.ndarray, best: float, steps: int, upper: Optional[float]) -> List[float]:
    """values: sorted, unique, > 0."""
    if not np.isclose(values, best, rtol=1e-9, atol=0).any():
        raise ValueError(f"best {best!r} is not a value of the grid {values.tolist()}")
    out = []
    if np.isclose(best, values[-1], rtol=1e-9, atol=0):
        up = values[-1] / values[-2] if len(values) > 1 else 2.0
        out += [float(values[-1] * up ** i) for i in range(1, steps + 1)]
    if np.isclose(best, values[0], rtol=1e-9, atol=0):
        down = values[1] / values[0] if len(values) > 1 else 2.0
        out += [float(values[0] / down ** i) for i in range(1, steps + 1)]
    return [v for v in out if upper is None or v <= upper]
