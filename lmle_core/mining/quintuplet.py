"""Quintuplet table (LMLE Sec. 3.1): for every anchor, the four members of Eq. 1.

Columns of the returned (N, 5) table:

0. anchor ``x_i``
1. ``p+``  the most distant candidate in the anchor's cluster
2. ``p-``  the nearest candidate of the anchor's class but from another cluster
3. ``p--`` the most distant candidate of the anchor's class
4. ``n``   the nearest candidate of another class

Candidates are a random ``subset_fraction`` of the data (the paper's 50%,
"semi-hard" rather than hardest, to avoid mislabelled or poor-quality data);
the anchor itself is never its own member; D is the squared Euclidean
distance; a member that does not exist is -1.

Cost: one pass over anchor x same-class-candidate distances (three masked
reductions, tiled so each tile stays in cache) plus a nearest-neighbour search
against the other classes (``search.nearest``: faiss on CPU when installed).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import search
from ..checks import integer_labels

ANCHOR, P_PLUS, P_MINUS, P_MINUS2, NEGATIVE = range(5)  # columns of the table


def quintuplet_term_mask(table_rows: np.ndarray) -> np.ndarray:
    """(N, 3) mask of the hinge terms whose two members exist in quintuplet rows (N, 5)."""
    have = np.asarray(table_rows) >= 0
    return np.stack([have[:, 1] & have[:, 2], have[:, 2] & have[:, 3], have[:, 3] & have[:, 4]], 1)


def select_candidates(n: int, subset_fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the random candidate subset (at least one sample)."""
    if not 0 < subset_fraction <= 1:
        raise ValueError(f"subset_fraction must be in (0, 1], got {subset_fraction}")
    rng = np.random.default_rng(seed)
    m = max(1, int(round(subset_fraction * n)))
    return np.sort(rng.permutation(n)[:m]) if m < n else np.arange(n)


def build_quintuplets(features, labels, assignments, subset_fraction: float = 0.5,
                      seed: int = 0, device=None, groups=None, anchors=None) -> np.ndarray:
    """(N, 5) int64 table [anchor, p+, p-, p--, n]; -1 where a member does not exist.

    ``groups``: optional (N,) ids of the source image of each sample (augmented copies, mirror
    images share their source's id): no member of an anchor comes from the anchor's own group.
    ``anchors``: optional ids of the only rows to fill (the anchors a training round will draw);
    the other rows keep -1 members. The candidates are the same either way.
    """
    feats = search.as_float_tensor(features, device, name="features")  # finite, 2-D (ValueError naming it)
    labels = integer_labels(labels, "labels")
    assignments = integer_labels(assignments, "assignments").astype(np.int64)
    n = feats.shape[0]
    if n == 0:
        raise ValueError("features is empty (0 rows)")
    if not (labels.shape[0] == assignments.shape[0] == n):
        raise ValueError(f"features ({n}), labels ({labels.shape[0]}) and assignments "
                         f"({assignments.shape[0]}) must have the same length")
    if groups is not None:
        groups = np.asarray(groups).reshape(-1).astype(np.int64)
        if groups.shape[0] != n:
            raise ValueError(f"groups has {groups.shape[0]} entries for {n} samples")
    table = np.full((n, 5), -1, dtype=np.int64)
    table[:, ANCHOR] = np.arange(n)
    cand = select_candidates(n, subset_fraction, seed)
    wanted = np.ones(n, bool) if anchors is None else np.isin(np.arange(n), anchors)
    table[:, NEGATIVE] = _nearest_other_class(feats, labels, cand, wanted)
    for cls in np.unique(labels):
        rows = np.flatnonzero((labels == cls) & wanted)
        same = cand[labels[cand] == cls]
        if len(same) and len(rows):
            table[rows, P_PLUS:P_MINUS2 + 1] = _same_class_members(feats, rows, same, assignments, groups)
    return table


def nearest_other_class(features, labels, subset_fraction: float = 0.5, seed: int = 0,
                        device=None, anchors=None) -> np.ndarray:
    """(N,) the nearest other-class candidate of every sample (the quintuplet's ``n``,
    also the triplet baseline's negative); -1 when no other class has candidates (or, with
    ``anchors``, for the rows not listed)."""
    feats = search.as_float_tensor(features, device, name="features")
    labels = integer_labels(labels, "labels", feats.shape[0], "feature rows")
    if len(labels) == 0:
        raise ValueError("features is empty (0 rows)")
    wanted = np.ones(len(labels), bool) if anchors is None else np.isin(np.arange(len(labels)), anchors)
    return _nearest_other_class(feats, labels, select_candidates(len(labels), subset_fraction, seed), wanted)


def _nearest_other_class(feats, labels, cand, wanted) -> np.ndarray:
    out = np.full(len(labels), -1, dtype=np.int64)
    for cls in np.unique(labels):
        anchors = np.flatnonzero((labels == cls) & wanted)
        if not len(anchors):
            continue
        other = cand[labels[cand] != cls]
        if len(other):
            _, idx = search.nearest(feats[_t(anchors, feats)], feats[_t(other, feats)], k=1,
                                    device=feats.device)
            out[anchors] = other[idx[:, 0].cpu().numpy()]
    return out


def _t(idx: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(idx, device=like.device)


def _mate_positions(anchor_groups: np.ndarray, cand_groups: np.ndarray) -> np.ndarray:
    """(n_anchors, m) positions in the candidate list of the candidates sharing each anchor's group
    (the anchor itself, its mirror, its augmented copies), -1 padded."""
    order = np.argsort(cand_groups, kind="stable")
    sorted_groups = cand_groups[order]
    lo = np.searchsorted(sorted_groups, anchor_groups, "left")
    hi = np.searchsorted(sorted_groups, anchor_groups, "right")
    width = int((hi - lo).max()) if len(lo) else 0
    out = np.full((len(anchor_groups), max(width, 1)), -1, dtype=np.int64)
    for j in range(width):  # a few columns at most: one per copy of an image
        has = lo + j < hi
        out[has, j] = order[lo[has] + j]
    return out


def _same_class_members(feats, anchors, cands, assignments, groups=None):
    """(len(anchors), 3) global ids of p+, p-, p-- for anchors of one class (never from the anchor's group)."""
    # Sort both sides by cluster: own-cluster entries then form few diagonal blocks, and tiles whose
    # cluster ranges do not overlap need no dense masks; the anchor's own group (itself, its copies)
    # is excluded sparsely, entry by entry.
    anchors = anchors[np.argsort(assignments[anchors], kind="stable")]
    cands = cands[np.argsort(assignments[cands], kind="stable")]
    a_feat, c_feat = feats[_t(anchors, feats)], feats[_t(cands, feats)]
    dev = feats.device
    a_cl, c_cl = _t(assignments[anchors], feats), _t(assignments[cands], feats)
    gid = np.arange(len(assignments)) if groups is None else groups
    mates = _t(_mate_positions(gid[anchors], gid[cands]), feats)
    c_norm = (c_feat * c_feat).sum(1)
    n_a, n_c = len(anchors), len(cands)
    q_tile, d_tile = search._tile_sizes(dev)
    neg_inf, pos_inf = float("-inf"), float("inf")
    # running best (value, candidate position) for p+ (max), p- (min), p-- (max)
    best = {
        "p+": (torch.full((n_a,), neg_inf, device=dev), torch.full((n_a,), -1, dtype=torch.long, device=dev)),
        "p-": (torch.full((n_a,), pos_inf, device=dev), torch.full((n_a,), -1, dtype=torch.long, device=dev)),
        "p--": (torch.full((n_a,), neg_inf, device=dev), torch.full((n_a,), -1, dtype=torch.long, device=dev)),
    }

    def update(name, rows, values, positions, larger):
        cur_v, cur_i = best[name]
        better = values > cur_v[rows] if larger else values < cur_v[rows]
        cur_v[rows] = torch.where(better, values, cur_v[rows])
        cur_i[rows] = torch.where(better, positions, cur_i[rows])

    for qs in range(0, n_a, q_tile):
        rows = slice(qs, qs + q_tile)
        q = a_feat[rows]
        q_lo, q_hi = int(a_cl[rows][0]), int(a_cl[rows][-1])
        m = mates[rows]
        for ds in range(0, n_c, d_tile):
            cols = slice(ds, ds + d_tile)
            # ||c||^2 - 2 a.c : the anchor's own norm is constant along a row
            dist = torch.addmm(c_norm[cols], q, c_feat[cols].T, alpha=-2.0)
            inside = (m >= ds) & (m < ds + dist.shape[1])
            r_idx, c_idx = inside.nonzero(as_tuple=True)[0], (m[inside] - ds)
            dist[r_idx, c_idx] = neg_inf          # the anchor's own group: never a member (maxima)
            c_lo, c_hi = int(c_cl[cols][0]), int(c_cl[cols][-1])
            v, i = dist.max(1)
            update("p--", rows, v, i + ds, True)
            shared = not (c_hi < q_lo or c_lo > q_hi)
            if shared:
                same_cluster = a_cl[rows, None] == c_cl[None, cols]
                v, i = dist.masked_fill(~same_cluster, neg_inf).max(1)
                update("p+", rows, v, i + ds, True)
            dist[r_idx, c_idx] = pos_inf          # ... nor the nearest one (minimum)
            v, i = (dist.masked_fill(same_cluster, pos_inf) if shared else dist).min(1)
            update("p-", rows, v, i + ds, False)

    out = np.full((n_a, 3), -1, dtype=np.int64)
    for col, name, empty in ((0, "p+", neg_inf), (1, "p-", pos_inf), (2, "p--", neg_inf)):
        val, pos = best[name]
        ok = (val != empty).cpu().numpy()
        out[ok, col] = cands[pos.cpu().numpy()[ok]]
    return _reorder(anchors, out)


def _reorder(sorted_anchors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows computed for anchors in cluster order -> rows in increasing anchor id order."""
    order = np.argsort(sorted_anchors, kind="stable")
    return rows[order]
