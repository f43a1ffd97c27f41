"""Collapse diagnostics of an embedding run: pure functions of embeddings, tables, labels and margins.

A quintuplet (or triplet) table whose members reverse Eq. 1's order has a hinge that is LOWER at an
embedding collapsed to one point (every D = 0: each active term equals its margin) than at the start
(issue 18). These functions measure what tells such a run apart; :func:`collapse_report` gathers them
into one row per round. D is the squared Euclidean distance (the paper's D) unless said otherwise.

Tables: rows [anchor, m_1, ..., m_k] with Eq. 1 wanting D(a,m_1) < ... < D(a,m_k): the quintuplet
table (k = 4: p+, p-, p--, n; terms g1, g2, g3) or a triplet table [anchor, p, n] (one term); -1 is a
missing member (its terms masked, as in training). Rows with no member at all (not mined, e.g. a
table built for some anchors only) are left out of every share.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from . import losses, metrics

MEMBER_NAMES = {5: ("p+", "p-", "p--", "n"), 3: ("p", "n")}
TERM_NAMES = {5: ("g1", "g2", "g3"), 3: ("g",)}


@dataclass(frozen=True)
class CollapseRule:
    """When :func:`collapse_report` says ``collapsed``: any one of

    - the mean between-class D is below ``floor`` x 2 E||x||^2 (the D of two random orthogonal
      directions; 2 on the unit sphere, so 0.02 -> 0.04: classes within ~11 degrees of each other);
    - with a reference report (the run's start), the mean between-class D fell below ``shrink`` x
      its reference value;
    - the loss is within ``loss_tolerance`` (relative) of the collapsed value, the hinge of an
      embedding collapsed to one point (the signature of the paper-budget logs: 1.2355 = the margins).
    """

    floor: float = 0.02
    shrink: float = 0.1
    loss_tolerance: float = 0.01


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _check_table(table, n: int) -> np.ndarray:
    t = _numpy(table).astype(np.int64)
    if t.ndim != 2 or t.shape[1] not in MEMBER_NAMES:
        raise ValueError(f"table must be (N, 5) quintuplets or (N, 3) triplets, got shape {t.shape}")
    if t.size and (t.max() >= n or t.min() < -1 or (t[:, 0] < 0).any()):
        raise ValueError(f"table ids must be in [-1, {n}) with every anchor >= 0")
    return t


def filled_rows(table) -> np.ndarray:
    """Positions of the table rows with at least one member (the anchors that were mined)."""
    t = _numpy(table)
    return np.flatnonzero((t[:, 1:] >= 0).any(1))


def member_distances(embeddings, table) -> np.ndarray:
    """(N, k) D(anchor, member) in float64; NaN where the member is -1."""
    x = _numpy(embeddings).astype(np.float64)
    t = _check_table(table, len(x))
    out = np.full((len(t), t.shape[1] - 1), np.nan)
    for j in range(1, t.shape[1]):
        have = t[:, j] >= 0
        out[have, j - 1] = ((x[t[have, 0]] - x[t[have, j]]) ** 2).sum(1)
    return out


def order_reversals(embeddings, table) -> dict:
    """Shares of the mined rows whose term t is reversed (D(a,m_t) > D(a,m_{t+1}); ties are not) among
    the rows where the term has both members, whose rows have ANY term reversed (among rows with a
    term), and whose term t is masked (a member missing)."""
    t = _check_table(table, len(_numpy(embeddings)))
    rows = filled_rows(t)
    d = member_distances(embeddings, t[rows])
    names = TERM_NAMES[t.shape[1]]
    have = ~np.isnan(d[:, :-1]) & ~np.isnan(d[:, 1:])
    with np.errstate(invalid="ignore"):
        rev = have & (d[:, :-1] > d[:, 1:])
    out = {}
    for k, name in enumerate(names):
        out[f"reversed_{name}"] = float(rev[have[:, k], k].mean()) if have[:, k].any() else float("nan")
    some = have.any(1)
    out["reversed_any"] = float(rev[some].any(1).mean()) if some.any() else float("nan")
    for k, name in enumerate(names):
        out[f"masked_{name}"] = float((~have[:, k]).mean()) if len(rows) else float("nan")
    return out


def hub_concentration(table, top: int = 10) -> dict:
    """Per member column: the share of mined rows holding that member whose member is one of the
    ``top`` most frequent values of the column (ties in frequency broken by the lower id)."""
    t = _numpy(table).astype(np.int64)
    if t.ndim != 2 or t.shape[1] not in MEMBER_NAMES:
        raise ValueError(f"table must be (N, 5) quintuplets or (N, 3) triplets, got shape {t.shape}")
    t = t[filled_rows(t)]
    out = {}
    for j, name in enumerate(MEMBER_NAMES[t.shape[1]], start=1):
        col = t[:, j][t[:, j] >= 0]
        if not len(col):
            out[f"hub_{name}"] = float("nan")
            continue
        values, counts = np.unique(col, return_counts=True)
        hubs = values[np.argsort(-counts, kind="stable")[:top]]
        out[f"hub_{name}"] = float(np.isin(col, hubs).mean())
    return out


def _margin_matrix(margins, n: int, n_terms: int) -> np.ndarray:
    g = _numpy(margins).astype(np.float64)
    if g.ndim == 0:
        g = np.full(n_terms, float(g))
    if g.shape == (n_terms,):
        g = np.broadcast_to(g, (n, n_terms))
    if g.shape != (n, n_terms):
        raise ValueError(f"margins must be a number, ({n_terms},) or ({n}, {n_terms}); got shape {g.shape}")
    return g


def class_balance_weights(labels) -> np.ndarray:
    """Weights n / (C n_c): each class weighs the same, mean 1 (what resampling + costs give a batch)."""
    y = _numpy(labels).reshape(-1)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    return y.size / (len(counts) * counts[inverse])


def table_losses(embeddings, table, margins, distance: str = "squared", weights=None) -> dict:
    """The hinge of the mined rows at ``embeddings`` (``loss``, Eq. 2 or the triplet hinge, missing
    members masked as in training) and at an embedding collapsed to one point (``collapsed_loss``:
    every D = 0, so each unmasked term equals its margin). ``margins``: per term, or (N, terms) with
    row i for table row i; ``weights``: (N,) per row (e.g. :func:`class_balance_weights`), mean taken
    over the mined rows."""
    x = torch.as_tensor(_numpy(embeddings), dtype=torch.float64)
    t = _check_table(table, len(x))
    rows = filled_rows(t)
    n_terms = t.shape[1] - 2
    g = _margin_matrix(margins, len(t), n_terms)[rows]
    w = None if weights is None else torch.as_tensor(_numpy(weights).astype(np.float64)[rows])
    t = t[rows]
    have = t >= 0
    valid = have[:, 1:-1] & have[:, 2:]
    filled = np.where(have, t, t[:, :1])                     # a missing member is the anchor, then masked
    emb = [x[torch.as_tensor(filled[:, j])] for j in range(t.shape[1])]
    if n_terms == 3:
        loss = losses.triple_header_hinge(*emb, torch.as_tensor(g), weights=w, valid=torch.as_tensor(valid),
                                          distance=distance)
    else:
        per_row = torch.as_tensor(g[:, 0])
        loss = losses.triplet_hinge(*emb, per_row, weights=w, valid=torch.as_tensor(valid[:, 0]), distance=distance)
    collapsed = (np.clip(g, 0, None) * valid).sum(1)
    collapsed = collapsed if w is None else collapsed * w.numpy()
    return {"loss": float(loss), "collapsed_loss": float(collapsed.mean()) if len(rows) else float("nan")}


def class_pair_distances(embeddings, labels, n_pairs: int = 20000, seed: int = 0) -> dict:
    """Mean D of ``n_pairs`` random within-class pairs (an anchor drawn uniformly, a partner from its
    class, never itself) and of ``n_pairs`` random between-class pairs (a partner from another class),
    and 2 E||x||^2 (the D of two random orthogonal directions of the embedding's norm)."""
    x = _numpy(embeddings).astype(np.float64)
    y = _numpy(labels).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f"embeddings ({len(x)}) and labels ({len(y)}) must have the same length")
    rng = np.random.default_rng(seed)
    order = np.argsort(y, kind="stable")
    classes, start, size = np.unique(y[order], return_index=True, return_counts=True)
    pos_of = np.empty(len(y), np.int64)
    pos_of[order] = np.arange(len(y))
    cls_of = np.searchsorted(classes, y)
    out = {"random_distance": float(2 * (x * x).sum(1).mean()) if len(x) else float("nan")}

    def mean_d(i, j):
        return float(((x[i] - x[j]) ** 2).sum(1).mean()) if len(i) else float("nan")

    i = rng.integers(0, len(y), n_pairs)
    c = cls_of[i]
    ok = size[c] > 1                                             # a class of one has no within pair
    i, c = i[ok], c[ok]
    k = rng.integers(0, size[c] - 1)                             # a position in the class other than i's
    k = k + (k >= pos_of[i] - start[c])
    out["within_class_distance"] = mean_d(i, order[start[c] + k])
    i = rng.integers(0, len(y), n_pairs)
    c = cls_of[i]
    ok = size[c] < len(y)
    i, c = i[ok], c[ok]
    k = rng.integers(0, len(y) - size[c])                        # a position outside the class's block
    k = k + size[c] * (k >= start[c])
    out["between_class_distance"] = mean_d(i, order[k])
    return out


def linear_probe(embeddings, labels, eval_embeddings=None, eval_labels=None, groups=None, holdout: float = 0.3,
                 max_samples: int = 5000, seed: int = 0) -> float:
    """Balanced accuracy of a logistic regression (scikit-learn, class-balanced weights, on the raw
    embedding as the kNN reads it) fitted on the embeddings and read on ``eval_*`` (e.g. validation
    embeddings) or on a held-out ``holdout`` share of them (split by ``groups`` when given, so that
    augmented copies of one image stay on one side). At most ``max_samples`` training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    x, y = _numpy(embeddings).astype(np.float64), _numpy(labels).reshape(-1)
    if eval_embeddings is None:
        idx = np.arange(len(y))
        if groups is not None:
            fit, ev = next(GroupShuffleSplit(1, test_size=holdout, random_state=seed).split(idx, y, _numpy(groups)))
        else:
            stratify = y if np.unique(y, return_counts=True)[1].min() > 1 else None
            fit, ev = train_test_split(idx, test_size=holdout, random_state=seed, stratify=stratify)
        x, y, xe, ye = x[fit], y[fit], x[ev], y[ev]
    else:
        xe, ye = _numpy(eval_embeddings).astype(np.float64), _numpy(eval_labels).reshape(-1)
    if len(y) > max_samples:
        keep = np.random.default_rng(seed).choice(len(y), max_samples, replace=False)
        x, y = x[keep], y[keep]
    if len(np.unique(y)) < 2:
        return float("nan")
    probe = LogisticRegression(max_iter=500, class_weight="balanced").fit(x, y)
    return metrics.balanced_accuracy(ye, probe.predict(xe))


def collapse_report(embeddings, labels, table=None, margins=None, *, distance: str = "squared",
                    observed_loss: Optional[float] = None, reference: Optional[dict] = None,
                    balance_classes: bool = False, eval_embeddings=None, eval_labels=None, groups=None,
                    probe: bool = True, n_pairs: int = 20000, hub_top: int = 10, seed: int = 0,
                    rule: CollapseRule = CollapseRule()) -> dict:
    """One row of diagnostics (see the module docstring) with a ``collapsed`` verdict by ``rule``
    (:class:`CollapseRule`) and the criteria that fired (``collapse_reasons``).

    ``table``/``margins``: the round's table and the hinge's margins (omit both for a run without a
    table: distances and probe only). ``observed_loss``: the round's training loss (else the hinge
    of the table at ``embeddings`` is judged); ``balance_classes``: weigh the rows so that every
    class counts the same, as resampled or cost-weighted batches do, so that ``collapsed_loss`` is
    the value a collapsed run's training loss would show. ``reference``: the report of the run's
    start (the prior), for the shrink criterion.
    """
    x = _numpy(embeddings)
    y = _numpy(labels).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"embeddings must be (N, d) with N = len(labels) = {len(y)}, got {x.shape}")
    row = class_pair_distances(x, y, n_pairs, seed)
    row["between_to_within"] = row["between_class_distance"] / row["within_class_distance"] \
        if row["within_class_distance"] > 0 else float("nan")
    if table is not None:
        if margins is None:
            raise ValueError("collapse_report needs the hinge's margins with a table")
        t = _check_table(table, len(x))
        mined = filled_rows(t)
        row["mined_rows"] = int(len(mined))
        weights = None
        if balance_classes:
            weights = np.zeros(len(t))
            weights[mined] = class_balance_weights(y[t[mined, 0]])
        row.update(table_losses(x, t, margins, distance, weights))
        d = member_distances(x, t[mined])
        count = (~np.isnan(d)).sum(0)
        mean_d = np.where(count > 0, np.nansum(d, 0) / np.maximum(count, 1), np.nan)  # NaN: no member at all
        row.update({f"mean_D_{name}": float(v) for name, v in zip(MEMBER_NAMES[t.shape[1]], mean_d)})
        row.update(order_reversals(x, t))
        row.update(hub_concentration(t, hub_top))
    row["observed_loss"] = float("nan") if observed_loss is None else float(observed_loss)
    row["probe_balanced_accuracy"] = linear_probe(x, y, eval_embeddings, eval_labels, groups, seed=seed) \
        if probe else float("nan")
    reasons = []
    if row["between_class_distance"] < rule.floor * row["random_distance"]:
        reasons.append("between-class distance at the floor")
    if reference is not None and row["between_class_distance"] < rule.shrink * reference["between_class_distance"]:
        reasons.append("between-class distance shrunk from the start")
    loss = row["observed_loss"] if observed_loss is not None else row.get("loss", float("nan"))
    collapsed_loss = row.get("collapsed_loss", float("nan"))
    if collapsed_loss > 0 and abs(loss - collapsed_loss) <= rule.loss_tolerance * collapsed_loss:
        reasons.append("loss at the collapsed value")
    row["collapsed"] = bool(reasons)
    row["collapse_reasons"] = "; ".join(reasons)
    return row
