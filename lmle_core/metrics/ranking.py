"""Ranking metrics and decision thresholds tuned on validation: reading a score twice (issue 19).

Balanced accuracy at one decision rule mixes two things: how well a score RANKS the classes (a
better representation) and WHERE the rule cuts it (a moved threshold). On CelebA the one-line
prior correction of Softmax's threshold moves mean balanced accuracy by about 9 points without
any training. So every method is read from one continuous score per image (and attribute, or
class) twice:

- by ranking: ROC AUC and average precision (``roc_auc``, ``average_precision``; scikit-learn's
  ``roc_auc_score`` / ``average_precision_score`` inside), which no monotone threshold move changes;
- by threshold: balanced accuracy at the method's own rule, and at a rule tuned on the VALIDATION
  split (``tune_thresholds`` per binary attribute, ``tune_class_biases`` per class for a
  multi-class problem), then applied unchanged to test (``apply_thresholds``, ``apply_biases``).

Shapes (every function takes the three forms, told apart by the shapes):

- binary: labels (N,) in {0, 1}, scores (N,) -> one number;
- attributes: labels (N, A) in {0, 1}, scores (N, A) -> (A,), one value per column;
- multi-class: labels (N,) in [0, C), scores (N, C) with C >= 2 -> the macro mean over the
  classes present of the one-vs-rest value of column c for class c (``per_class=True``: (C,)).

Undefined values are NaN, never an error: an attribute (or class) whose split holds a single
class has no AUC, no AP and no tuned threshold. ``read_twice`` (``lmle_core.metrics.read_twice``)
collects the NaN with a note saying why and averages over the rest.

A score is anything monotone in the method's confidence in the positive class (logits,
probabilities, negative distances). Multi-class AUC is the one-vs-rest AUC of each column; give
probabilities (softmax) for scikit-learn's ``multi_class="ovr"`` convention, since the ranking of
raw logit c across images is not that of its softmax probability.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["apply_biases", "apply_thresholds", "average_precision", "roc_auc",
           "score_kind", "tune_class_biases", "tune_thresholds"]


# ------------------------------------------------------------------------------------- input checks
def score_kind(y_true, scores) -> str:
    """"binary" | "attributes" | "multiclass" from the shapes (see the module docstring)."""
    y, s = np.asarray(y_true), np.asarray(scores)
    if y.ndim == 1 and s.ndim == 1 and len(y) == len(s):
        return "binary"
    if y.ndim == 2 and s.shape == y.shape:
        return "attributes"
    if y.ndim == 1 and s.ndim == 2 and len(y) == len(s) and s.shape[1] >= 2:
        return "multiclass"
    raise ValueError(f"labels {y.shape} and scores {s.shape} must be (N,) and (N,), (N, A) and (N, A), "
                     f"or (N,) and (N, C >= 2)")


def _scores(scores, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(s).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return s


def _binary_columns(y_true, scores, name: str = "scores") -> Tuple[np.ndarray, np.ndarray]:
    """(N, A) bool labels and float64 scores; a 1-D pair becomes one column."""
    y = np.asarray(y_true)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("binary labels must be 0 or 1")
    s = _scores(scores, name)
    return (y.reshape(len(y), -1).astype(bool), s.reshape(len(s), -1))


def _class_labels(y_true, n_classes: int) -> np.ndarray:
    y = np.asarray(y_true)
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"multi-class labels must be integers in [0, {n_classes}) (scores have {n_classes} columns)")
    return y.astype(np.int64)


# ----------------------------------------------------------------------------------- AUC and AP
def _per_column(metric, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``metric`` (scikit-learn) of every column holding both classes; NaN for the others."""
    out = np.full(y.shape[1], np.nan)
    n_pos = y.sum(0)
    for a in np.flatnonzero((n_pos > 0) & (n_pos < len(y))):
        out[a] = metric(y[:, a], s[:, a])
    return out


def _ranking_metric(metric, y_true, scores, per_class: bool):
    kind = score_kind(y_true, scores)
    if kind == "multiclass":
        s = _scores(scores)
        y = _class_labels(y_true, s.shape[1])
        one_vs_rest = _per_column(metric, y[:, None] == np.arange(s.shape[1]), s)
        if per_class:
            return one_vs_rest
        return float(np.nanmean(one_vs_rest)) if np.isfinite(one_vs_rest).any() else float("nan")
    y, s = _binary_columns(y_true, scores)
    values = _per_column(metric, y, s)
    return float(values[0]) if kind == "binary" else values


def roc_auc(y_true, scores, per_class: bool = False):
    """ROC AUC: a float (binary), (A,) per attribute, or the macro one-vs-rest mean (multi-class;
    ``per_class``: the (C,) one-vs-rest values). NaN where a column holds a single class."""
    return _ranking_metric(roc_auc_score, y_true, scores, per_class)


def average_precision(y_true, scores, per_class: bool = False):
    """Average precision (scikit-learn's step-wise area under the precision-recall curve, no
    interpolation): shapes and NaN as :func:`roc_auc`. Its chance level is the positive rate."""
    return _ranking_metric(average_precision_score, y_true, scores, per_class)


# ------------------------------------------------------------------------- binary thresholds
def tune_thresholds(val_labels, val_scores):
    """The threshold per attribute that maximises VALIDATION balanced accuracy of the rule
    ``score > threshold``: a float for (N,) input, (A,) for (N, A).

    Every cut between two consecutive distinct validation scores is tried (an exact search: the
    balanced accuracy only changes there), plus "nothing positive" and "everything positive"; the
    threshold is the midpoint of the chosen gap (a cut beyond the extremes lies one unit, or
    |score|, past the extreme score). Several best cuts: the median one of them, so the choice is
    deterministic and does not depend on the column order. Ties are compared exactly (integer
    counts). NaN where the validation column holds a single class (no balanced accuracy to tune).
    Cost: one sort per column, vectorised (40 attributes x 20,000 images: a fraction of a second).
    """
    kind = score_kind(val_labels, val_scores)
    if kind == "multiclass":
        raise ValueError("tune_thresholds takes binary labels and scores; for classes use tune_class_biases")
    y, s = _binary_columns(val_labels, val_scores, "val_scores")
    n, n_cols = s.shape
    order = np.argsort(-s, axis=0, kind="stable")            # descending: a cut after i rows predicts them positive
    ss = np.take_along_axis(s, order, 0)
    yy = np.take_along_axis(y, order, 0).astype(np.int64)
    zero = np.zeros((1, n_cols), np.int64)
    tp = np.concatenate([zero, yy.cumsum(0)])                 # (n + 1, A): cut i = the top i rows positive
    fp = np.concatenate([zero, (1 - yy).cumsum(0)])
    n_pos = yy.sum(0)
    n_neg = n - n_pos
    twice_ba = tp * n_neg + (n_neg - fp) * n_pos                # 2 * n_pos * n_neg * balanced accuracy, exact
    valid = np.ones((n + 1, n_cols), bool)
    valid[1:n] = ss[:-1] != ss[1:]                              # no cut between equal scores
    twice_ba = np.where(valid, twice_ba, -1)
    best = twice_ba == twice_ba.max(0)
    rank = best.cumsum(0)
    cut = np.argmax(best & (rank == (rank[-1] + 1) // 2), axis=0)   # the median best cut
    top = ss[0] + np.maximum(1.0, np.abs(ss[0]))
    bottom = ss[-1] - np.maximum(1.0, np.abs(ss[-1]))
    padded = np.concatenate([top[None], ss, bottom[None]])    # padded[i] = the score just above cut i
    cols = np.arange(n_cols)
    thresholds = 0.5 * (padded[cut, cols] + padded[cut + 1, cols])
    thresholds[(n_pos == 0) | (n_neg == 0)] = np.nan
    return float(thresholds[0]) if kind == "binary" else thresholds


def apply_thresholds(scores, thresholds) -> np.ndarray:
    """``scores > thresholds`` as 0/1 integers ((N,) with a float, (N, A) with (A,)). A NaN threshold
    (untunable attribute) predicts 0 everywhere; ``read_twice`` reports its balanced accuracy as NaN."""
    s = _scores(scores)
    t = np.asarray(thresholds, dtype=np.float64)
    if s.ndim == 2 and t.shape != (s.shape[1],):
        raise ValueError(f"thresholds must be ({s.shape[1]},) for scores {s.shape}, got {t.shape}")
    return (s > t).astype(np.int64)


# --------------------------------------------------------------------------- multi-class biases
def apply_biases(scores, biases) -> np.ndarray:
    """argmax over classes of ``scores + biases``: (N, C) scores, (C,) biases -> (N,) classes."""
    s = _scores(scores)
    b = np.asarray(biases, dtype=np.float64)
    if s.ndim != 2 or b.shape != (s.shape[1],):
        raise ValueError(f"biases must be ({s.shape[-1]},) for (N, C) scores, got {b.shape} and {s.shape}")
    return np.argmax(s + b, axis=1)


def _weighted_recall_sum(y, pred, weight) -> float:
    return float(weight[y == pred].sum())


def tune_class_biases(val_labels, val_scores, max_sweeps: int = 20) -> np.ndarray:
    """(C,) biases b such that argmax(scores + b) maximises VALIDATION balanced accuracy (the mean
    recall of the classes present), by coordinate ascent with an exact line search.

    Start at b = 0. For class c, with the other biases fixed, sample i is predicted c exactly when
    b_c > t_i = max_{j != c}(s_ij + b_j) - s_ic, else its best other class; so balanced accuracy is
    a step function of b_c with steps at the t_i, and every gap between consecutive distinct t_i
    (and beyond both ends) is tried. b_c stays where it is when no gap beats its current balanced
    accuracy (by more than 1e-12); else it moves to the midpoint of the median best gap (a gap past
    an end lies one unit past the extreme t). Classes are visited in order 0..C-1, sweep after
    sweep, until a sweep changes nothing or ``max_sweeps`` have run. Balanced accuracy never
    decreases, so it converges, to a coordinate-wise optimum (not necessarily the global one).
    Biases are defined up to a common constant; a class absent from validation keeps b_c = 0 and
    earns no recall. Deterministic.
    """
    if score_kind(val_labels, val_scores) != "multiclass":
        raise ValueError("tune_class_biases takes (N,) class labels and (N, C) scores")
    s = _scores(val_scores, "val_scores")
    n_classes = s.shape[1]
    y = _class_labels(val_labels, n_classes)
    counts = np.bincount(y, minlength=n_classes)
    weight = 1.0 / (counts[y] * max(1, (counts > 0).sum()))    # sum of weight over correct samples = BA
    b = np.zeros(n_classes)
    for _ in range(max_sweeps):
        changed = False
        for c in range(n_classes):
            others = s + b
            others[:, c] = -np.inf
            alternative = others.argmax(1)
            t = others.max(1) - s[:, c]
            order = np.argsort(t, kind="stable")
            t_sorted = t[order]
            switch_gain = (weight * ((y == c).astype(float) - (y == alternative)))[order]
            ba = _weighted_recall_sum(y, alternative, weight) + np.concatenate([[0.0], switch_gain.cumsum()])
            valid = np.ones(len(ba), bool)
            valid[1:-1] = t_sorted[:-1] != t_sorted[1:]
            ba = np.where(valid, ba, -np.inf)
            current = _weighted_recall_sum(y, apply_biases(s, b), weight)
            if ba.max() <= current + 1e-12:
                continue
            best = np.flatnonzero(ba >= ba.max() - 1e-12)
            cut = best[(len(best) - 1) // 2]
            padded = np.concatenate([[t_sorted[0] - 1.0], t_sorted, [t_sorted[-1] + 1.0]])
            b[c] = 0.5 * (padded[cut] + padded[cut + 1])
            changed = True
        if not changed:
            break
    return b
