"""Quintuplet table (LMLE Sec. 3.1): for every anchor, the four members of Eq. 1.

Columns of the returned (N, 5) table:

0. anchor ``x_i``
1. ``p+``  the most distant candidate in the anchor's cluster
2. ``p-``  the nearest candidate of the anchor's class but from another cluster
3. ``p--`` the most distant candidate of the anchor's class
4. ``n``   the nearest candidate of another class

Candidates are a random ``subset_fraction`` of the data (the paper's 50%); the anchor itself (and,
with ``groups``, its copies) is never its own member; D is the squared Euclidean distance; a member
that does not exist is -1.

Member selection: three readings of Sec. 3.1-3.2 (``selection``); see ``SELECTIONS`` and
``mining/ordered.py`` for the two that keep Eq. 1's order.

- ``"hardest"`` (default; the literal reading, the study's tables before issue 18): each member is
  the extreme its definition names ("the anchor's most distant within-cluster neighbor", "the nearest
  within-class neighbor of the anchor, but from a different cluster", "the most distant within-class
  neighbor", "the nearest between-class neighbor"), over the candidates; the paper's "we select
  'semi-hard' ones by computing distances on a random subset (50%) of training data" is read as
  FaceNet's offline option ("argmin and argmax on a subset of the data"): the subset is the softening.
- ``"order-consistent"``: "We wish to ensure that the following relationship holds in the embedding
  space: D(a,p+) < D(a,p-) < D(a,p--) < D(a,n) (1)" read as a condition on the members: each is its
  definition's extreme among the candidates that keep Eq. 1's order at mining time.
- ``"semi-hard"``: "instead of selecting the 'hardest' ones ... we select 'semi-hard' ones" read in
  the sense of the paper's reference [34] (FaceNet): a member inside its term's margin band,
  D(a,lower) < D(a,upper) < D(a,lower) + g, where one exists.

Cost: ``hardest``: one pass over anchor x same-class-candidate distances (three masked reductions,
tiled so each tile stays in cache) plus a nearest-neighbour search against the other classes
(``search.nearest``: faiss on CPU when installed). ``order-consistent`` adds a pass over the
anchors' own-cluster tiles only; ``semi-hard`` one more full pass.
"""
from __future__ import annotations

import numpy as np

from .. import search
from ..checks import integer_labels
from ._tiles import ClassTiles, RunningBest, index_tensor
from .ordered import ordered_members

ANCHOR, P_PLUS, P_MINUS, P_MINUS2, NEGATIVE = range(5)  # columns of the table
SELECTIONS = ("hardest", "order-consistent", "semi-hard")
DISTANCES = ("squared", "euclidean")  # units of the semi-hard band's margins (as the hinge's ``distance``)


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
                      seed: int = 0, device=None, groups=None, anchors=None, selection: str = "hardest",
                      margins=None, distance: str = "squared") -> np.ndarray:
    """(N, 5) int64 table [anchor, p+, p-, p--, n]; -1 where a member does not exist.

    ``groups``: optional (N,) ids of the source image of each sample (augmented copies, mirror
    images share their source's id): no member of an anchor comes from the anchor's own group.
    ``anchors``: optional ids of the only rows to fill (the anchors a training round will draw);
    the other rows keep -1 members. The candidates are the same either way.
    ``selection``: ``"hardest"`` (the literal extremes), ``"order-consistent"`` or ``"semi-hard"``
    (module docstring; ``n`` is the nearest other-class candidate in all three). A term whose
    members cannot keep Eq. 1's order gets -1 members, which ``losses.quintuplet_term_mask`` masks.
    ``margins``: ``"semi-hard"`` only (ignored otherwise): (g1, g2, g3) or (N, 3), row i the margins
    of anchor i, as given to the hinge (e.g. ``MarginBounds.scaled(scale, labels)``), in the units of
    ``distance``: ``"squared"`` (D, the hinge's default) or ``"euclidean"`` (sqrt D).
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
    g2 = _band_margins(selection, margins, distance, n)
    table = np.full((n, 5), -1, dtype=np.int64)
    table[:, ANCHOR] = np.arange(n)
    cand = select_candidates(n, subset_fraction, seed)
    wanted = np.ones(n, bool) if anchors is None else np.isin(np.arange(n), anchors)
    table[:, NEGATIVE] = _nearest_other_class(feats, labels, cand, wanted)
    for cls in np.unique(labels):
        rows = np.flatnonzero((labels == cls) & wanted)
        same = cand[labels[cand] == cls]
        if not (len(same) and len(rows)):
            continue
        if selection == "hardest":
            table[rows, P_PLUS:P_MINUS2 + 1] = _same_class_members(feats, rows, same, assignments, groups)
        else:
            table[rows, P_PLUS:P_MINUS2 + 1] = ordered_members(
                feats, rows, same, assignments, groups, table[rows, NEGATIVE],
                band_g2=None if g2 is None else g2[rows], distance=distance)
    return table


def _band_margins(selection, margins, distance, n):
    """Checks ``selection`` / ``margins`` / ``distance``; (N,) g2 of every anchor for the semi-hard
    band, else None (the band of p- is the only one that can change a choice: ordered.py)."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection={selection!r}; expected one of {SELECTIONS}")
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r}; expected one of {DISTANCES}")
    if selection != "semi-hard":
        return None
    if margins is None:
        raise ValueError("selection='semi-hard' needs margins (g1, g2, g3) or (N, 3): its band is "
                         "D(a,lower) < D(a,upper) < D(a,lower) + g")
    g = np.asarray(margins, dtype=np.float64)
    if g.shape not in ((3,), (n, 3)):
        raise ValueError(f"margins must be (3,) or ({n}, 3), got shape {g.shape}")
    if not np.isfinite(g).all() or (g < 0).any():
        raise ValueError("margins must be finite and >= 0")
    return np.broadcast_to(g, (n, 3))[:, 1].copy()


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
            _, idx = search.nearest(feats[index_tensor(anchors, feats)], feats[index_tensor(other, feats)], k=1,
                                    device=feats.device)
            out[anchors] = other[idx[:, 0].cpu().numpy()]
    return out



def _same_class_members(feats, anchors, cands, assignments, groups=None):
    """(len(anchors), 3) global ids of p+, p-, p-- for anchors of one class by the literal reading
    ("hardest"): the three extremes over the candidates (never from the anchor's group)."""
    tiles = ClassTiles(feats, anchors, cands, assignments, groups)
    neg_inf, pos_inf = float("-inf"), float("inf")
    p_plus, p_minus, p_minus2 = (RunningBest(len(tiles), tiles.device, larger) for larger in (True, False, True))
    for tile in tiles.tiles():
        dist, same = tile.dist, tile.same_cluster
        dist[tile.own] = neg_inf          # the anchor's own group: never a member (maxima)
        p_minus2.update(tile.rows, *dist.max(1), tile.start)
        if same is not None:
            p_plus.update(tile.rows, *dist.masked_fill(~same, neg_inf).max(1), tile.start)
        dist[tile.own] = pos_inf          # ... nor the nearest one (minimum)
        p_minus.update(tile.rows, *(dist.masked_fill(same, pos_inf) if same is not None else dist).min(1),
                       tile.start)
    out = np.stack([best.members(tiles.cands) for best in (p_plus, p_minus, p_minus2)], 1)
    return tiles.in_input_order(out)
