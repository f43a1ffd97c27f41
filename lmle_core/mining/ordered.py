"""Quintuplet members that keep Eq. 1's order at mining time: the "order-consistent" and "semi-hard"
readings of LMLE Sec. 3.1-3.2 (``quintuplet.py`` holds the literal "hardest" one and the dispatch).

Eq. 1 asks for D(a,p+) < D(a,p-) < D(a,p--) < D(a,n). The literal members are extremes pulling the
other way: the farthest p+ and p--, the nearest p- and n. On a softmax prior they reverse the order
for nearly every anchor before training starts (issue 18), and at a reversed table the hinge of
Eq. 2 is lower at an embedding collapsed to one point than at the prior.

Order-consistent: each member is its definition's extreme among the candidates that keep it below
the next member of the chain, the chain resolved from the top:

1. ``n``: the nearest other-class candidate (unchanged: the literal member, the triplet baseline's);
2. ``p--``: the most distant same-class candidate with D(a,p--) < D(a,n);
3. ``p-``: the nearest same-class candidate of another cluster with D(a,p-) < D(a,p--);
4. ``p+``: the most distant candidate of the anchor's cluster with D(a,p+) < D(a,p-).

A member with no such candidate is -1 (the terms holding it are masked); the member below it is then
bounded by the next member above that exists. Inequalities are strict, so no two members coincide.
Why from the top: "extreme" and "ordered" conflict only between neighbours of the chain whose
extremes point at each other (p+ wants a large D, p- a small one; p-- large, n small). Resolving each
conflict for the upper member keeps ``n`` the anchor's nearest imposter, the neighbour the method is
about (Sec. 1: a minority neighbourhood "easy to be invaded by other imposter nearest neighbors");
resolving from the bottom (p+ literal, ..., n the nearest other-class candidate beyond p--) would, on
a prior where D(a,p--) is the class's diameter, pick negatives outside the class's neighbourhood and
never an imposter inside it. Resolved from the top, p- needs no pass of its own: the nearest
other-cluster candidate keeps the order iff any does. So: one full pass (p-- under the bound n, and
p-), then one over the anchors' own-cluster tiles only (p+ under the bound p-).

Semi-hard (the paper's reference [34], FaceNet: negatives "further away from the anchor than the
positive exemplar, but still hard ... inside the margin"): the same chain, with a member chosen
inside its term's band, 0 < D(a,upper) - D(a,lower) <= g, where the band holds a candidate. For the
maxima p-- and p+ the order-consistent choice is already the candidate nearest the band, inside it
whenever any is, so g1 and g3 change no choice. Only p-, a minimum bounded from above, changes: the
nearest other-cluster candidate inside [D(a,p--) - g2, D(a,p--)); where that band is empty the
order-consistent p- stays (its term 2 is then met with margin, a zero hinge either way, and p- still
bounds p+). FaceNet bands the upper member (the negative) given the lower one; here the chain is
anchored on n, so the lower member is banded: the same set of admissible pairs.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ._tiles import ClassTiles, RunningBest

_NEG_INF, _POS_INF = float("-inf"), float("inf")


def ordered_members(feats: torch.Tensor, anchors: np.ndarray, cands: np.ndarray, assignments: np.ndarray,
                    groups: Optional[np.ndarray], negatives: np.ndarray, band_g2: Optional[np.ndarray] = None,
                    distance: str = "squared") -> np.ndarray:
    """(len(anchors), 3) global ids of p+, p-, p-- for anchors of one class that keep Eq. 1's order.

    ``negatives``: each anchor's n (global ids, -1: none); ``band_g2``: None (order-consistent) or
    each anchor's g2 in ``distance`` units (semi-hard).
    """
    tiles = ClassTiles(feats, anchors, cands, assignments, groups)
    # Every bound is kept as D - ||a||^2, the tiles' own units (the row constant ||a||^2 left out).
    upper_n = tiles.row_offsets(feats, negatives)
    p_minus2 = RunningBest(len(tiles), tiles.device, larger=True)
    nearest_other = RunningBest(len(tiles), tiles.device, larger=False)
    for tile in tiles.tiles():
        dist, same, rows = tile.dist, tile.same_cluster, tile.rows
        dist[tile.own] = _NEG_INF
        p_minus2.update(rows, *dist.masked_fill(~(dist < upper_n[rows, None]), _NEG_INF).max(1), tile.start)
        dist[tile.own] = _POS_INF
        p_minus_tile = dist.masked_fill(same, _POS_INF) if same is not None else dist
        nearest_other.update(rows, *p_minus_tile.min(1), tile.start)

    # p-'s bound: p-- where it exists, else n (then no same-class candidate lies below it anyway)
    upper_pm = torch.where(p_minus2.found(), p_minus2.value, upper_n)
    keep_nearest = nearest_other.found() & (nearest_other.value < upper_pm)
    p_minus_ids = nearest_other.members(tiles.cands, keep_nearest)
    p_minus_value = torch.where(keep_nearest, nearest_other.value, torch.full_like(upper_pm, _POS_INF))
    if band_g2 is not None:
        banded = _banded_p_minus(tiles, p_minus2, upper_pm, band_g2, distance)
        p_minus_ids = np.where(banded.members(tiles.cands) >= 0, banded.members(tiles.cands), p_minus_ids)
        p_minus_value = torch.where(banded.found(), banded.value, p_minus_value)

    # p+'s bound: p- where it exists, else the next member above that does
    upper_pp = torch.where(torch.as_tensor(p_minus_ids >= 0, device=tiles.device), p_minus_value, upper_pm)
    p_plus = RunningBest(len(tiles), tiles.device, larger=True)
    for tile in tiles.tiles(own_clusters_only=True):
        if tile.same_cluster is None:
            continue
        dist = tile.dist
        dist[tile.own] = _NEG_INF
        admissible = tile.same_cluster & (dist < upper_pp[tile.rows, None])
        p_plus.update(tile.rows, *dist.masked_fill(~admissible, _NEG_INF).max(1), tile.start)

    out = np.stack([p_plus.members(tiles.cands), p_minus_ids, p_minus2.members(tiles.cands)], 1)
    return tiles.in_input_order(out)


def _banded_p_minus(tiles: ClassTiles, p_minus2: RunningBest, upper_pm: torch.Tensor, band_g2: np.ndarray,
                    distance: str) -> RunningBest:
    """The nearest other-cluster candidate with D(a,p--) - g2 <= D(a,p-) < D(a,p--) (semi-hard p-)."""
    g2 = torch.as_tensor(np.asarray(band_g2)[tiles.anchor_order], dtype=upper_pm.dtype, device=tiles.device)
    if distance == "squared":
        lower = p_minus2.value - g2
    else:  # sqrt(D) >= sqrt(D(a,p--)) - g2  <=>  D >= (sqrt(D(a,p--)) - g2)^2 when the edge is positive
        norms = tiles.anchor_norms()
        edge = (p_minus2.value + norms).clamp_min(0).sqrt() - g2
        lower = torch.where(edge > 0, edge.clamp_min(0) ** 2 - norms, torch.full_like(edge, _NEG_INF))
    lower = torch.where(p_minus2.found(), lower, torch.full_like(lower, _NEG_INF))
    banded = RunningBest(len(tiles), tiles.device, larger=False)
    for tile in tiles.tiles():
        dist, rows = tile.dist, tile.rows
        dist[tile.own] = _POS_INF
        inside = (dist >= lower[rows, None]) & (dist < upper_pm[rows, None])
        if tile.same_cluster is not None:
            inside &= ~tile.same_cluster
        banded.update(rows, *dist.masked_fill(~inside, _POS_INF).min(1), tile.start)
    return banded
