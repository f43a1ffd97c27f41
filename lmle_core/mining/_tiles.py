"""The tile loop of quintuplet mining: anchor x candidate distances of one class, a tile at a time.

Both sides are sorted by cluster, so own-cluster entries form a few diagonal blocks and tiles whose
cluster ranges do not overlap need no dense masks; the anchor's own group (itself, its mirror, its
augmented copies) is located sparsely, entry by entry. Each member is a running maximum or minimum
over the tiles, so no N x M matrix is ever held.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

from .. import search


def index_tensor(idx: np.ndarray, like: torch.Tensor) -> torch.Tensor:
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


@dataclass
class Tile:
    rows: slice                                   # anchor positions (in cluster order)
    start: int                                    # position of the tile's first candidate
    dist: torch.Tensor                            # ||c||^2 - 2 a.c (D minus the row's constant ||a||^2)
    own: Tuple[torch.Tensor, torch.Tensor]        # (row, column) of the anchors' own-group entries
    same_cluster: Optional[torch.Tensor]          # (rows, cols) bool; None: no shared cluster in the tile


class ClassTiles:
    """Anchors and candidates of one class, sorted by cluster, and the tiles of their distances."""

    def __init__(self, feats: torch.Tensor, anchors: np.ndarray, cands: np.ndarray, assignments: np.ndarray,
                 groups: Optional[np.ndarray] = None):
        self.anchor_order = np.argsort(assignments[anchors], kind="stable")
        self.anchors = anchors[self.anchor_order]
        self.cands = cands[np.argsort(assignments[cands], kind="stable")]
        self.a_feat, self.c_feat = feats[index_tensor(self.anchors, feats)], feats[index_tensor(self.cands, feats)]
        self.device = feats.device
        self.cand_clusters = assignments[self.cands]
        self.a_cl, self.c_cl = index_tensor(assignments[self.anchors], feats), index_tensor(self.cand_clusters, feats)
        gid = np.arange(len(assignments)) if groups is None else groups
        self.mates = index_tensor(_mate_positions(gid[self.anchors], gid[self.cands]), feats)
        self.c_norm = (self.c_feat * self.c_feat).sum(1)
        self.q_tile, self.d_tile = search.tile_sizes(self.device)

    def __len__(self) -> int:
        return len(self.anchors)

    def tiles(self, own_clusters_only: bool = False) -> Iterator[Tile]:
        """Every (anchor tile, candidate tile); ``own_clusters_only``: only the candidates whose
        cluster lies in the anchor tile's cluster range (enough for members of the anchor's cluster)."""
        n_a, n_c = len(self.anchors), len(self.cands)
        for qs in range(0, n_a, self.q_tile):
            rows = slice(qs, qs + self.q_tile)
            q = self.a_feat[rows]
            q_lo, q_hi = int(self.a_cl[rows][0]), int(self.a_cl[rows][-1])
            m = self.mates[rows]
            first, stop = 0, n_c
            if own_clusters_only:
                first = int(np.searchsorted(self.cand_clusters, q_lo, "left"))
                stop = int(np.searchsorted(self.cand_clusters, q_hi, "right"))
            for ds in range(first, stop, self.d_tile):
                cols = slice(ds, min(ds + self.d_tile, stop))
                # ||c||^2 - 2 a.c : the anchor's own norm is constant along a row
                dist = torch.addmm(self.c_norm[cols], q, self.c_feat[cols].T, alpha=-2.0)
                inside = (m >= ds) & (m < ds + dist.shape[1])
                own = (inside.nonzero(as_tuple=True)[0], m[inside] - ds)
                c_lo, c_hi = int(self.c_cl[cols][0]), int(self.c_cl[cols][-1])
                shared = not (c_hi < q_lo or c_lo > q_hi)
                same = self.a_cl[rows, None] == self.c_cl[None, cols] if shared else None
                yield Tile(rows, ds, dist, own, same)

    def row_offsets(self, feats: torch.Tensor, members: np.ndarray) -> torch.Tensor:
        """D(a, member) - ||a||^2 for every anchor (cluster order) and its member (global id, aligned
        with the anchors as given to the constructor); +inf where the member is -1."""
        ids = np.asarray(members)[self.anchor_order]
        have = index_tensor(ids >= 0, feats)
        f = feats[index_tensor(np.where(ids >= 0, ids, 0), feats)]
        value = (f * f).sum(1) - 2.0 * (self.a_feat * f).sum(1)
        return torch.where(have, value, torch.full_like(value, float("inf")))

    def anchor_norms(self) -> torch.Tensor:
        return (self.a_feat * self.a_feat).sum(1)

    def in_input_order(self, rows: np.ndarray) -> np.ndarray:
        """Rows computed for anchors in cluster order -> rows in the anchors' given order."""
        out = np.empty_like(rows)
        out[self.anchor_order] = rows
        return out


class RunningBest:
    """Running maximum or minimum of a member over the tiles: value and candidate position per anchor."""

    def __init__(self, n: int, device, larger: bool):
        self.larger = larger
        self.empty = float("-inf") if larger else float("inf")
        self.value = torch.full((n,), self.empty, device=device)
        self.position = torch.full((n,), -1, dtype=torch.long, device=device)

    def update(self, rows: slice, values: torch.Tensor, positions: torch.Tensor, start: int) -> None:
        cur_v, cur_i = self.value[rows], self.position[rows]
        better = values > cur_v if self.larger else values < cur_v
        self.value[rows] = torch.where(better, values, cur_v)
        self.position[rows] = torch.where(better, positions + start, cur_i)

    def found(self) -> torch.Tensor:
        return self.value != self.empty

    def members(self, cands: np.ndarray, keep: Optional[torch.Tensor] = None) -> np.ndarray:
        """Global ids of the members found (and kept), -1 elsewhere."""
        ok = self.found() if keep is None else self.found() & keep
        ok = ok.cpu().numpy()
        out = np.full(len(ok), -1, dtype=np.int64)
        out[ok] = cands[self.position.cpu().numpy()[ok]]
        return out
