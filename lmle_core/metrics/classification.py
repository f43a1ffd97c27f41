"""Classification metrics for imbalanced data.

``balanced_accuracy`` is the LMLE paper's metric: binary 0.5*(tp/Np + tn/Nn),
multi-class the mean per-class recall (the two agree for two classes). Classes
absent from ``y_true`` are ignored, as in scikit-learn.

Labels and predictions are integer classes (attribute tables: 0/1); empty, mismatched,
non-finite or non-integer input raises a ValueError naming the argument.
"""
from __future__ import annotations

import numpy as np

from .. import checks


def per_class_recall(y_true, y_pred, classes=None) -> dict:
    """{class: recall} over the classes present in ``y_true`` (or the given ``classes``)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    classes = np.unique(y_true) if classes is None else np.asarray(classes)
    out = {}
    for c in classes:
        mask = y_true == c
        out[c.item() if hasattr(c, "item") else c] = float((y_pred[mask] == c).mean()) if mask.any() else float("nan")
    return out


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    recalls = np.array(list(per_class_recall(y_true, y_pred).values()))
    return float(np.nanmean(recalls)) if recalls.size else float("nan")


def per_attribute_balanced_accuracy(y_true, y_pred) -> np.ndarray:
    """(N, A) binary attribute labels and predictions -> (A,) balanced accuracies."""
    y_true, y_pred = _check_attribute_pair(y_true, y_pred)
    return np.array([balanced_accuracy(y_true[:, a], y_pred[:, a]) for a in range(y_true.shape[1])])


def mean_balanced_accuracy(y_true, y_pred) -> float:
    """The attribute tables' number: balanced accuracy averaged over attributes."""
    return float(np.mean(per_attribute_balanced_accuracy(y_true, y_pred)))


def attribute_metrics(y_true, y_pred) -> dict:
    """(N, A) binary labels and predictions -> per attribute (A,) arrays: ``balanced_accuracy``,
    ``accuracy``, ``precision`` and ``recall`` of the positive class (precision 0 when nothing is
    predicted positive, as scikit-learn's ``zero_division=0``).

    Balanced accuracy alone can be raised by giving precision away; the attribute tables report all four.
    """
    y_true, y_pred = (a.astype(bool) for a in _check_attribute_pair(y_true, y_pred))
    tp = (y_true & y_pred).sum(0).astype(np.float64)
    tn = (~y_true & ~y_pred).sum(0).astype(np.float64)
    n_pos, n_neg, n_pred = y_true.sum(0), (~y_true).sum(0), y_pred.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_pos > 0, tp / n_pos, np.nan)
        specificity = np.where(n_neg > 0, tn / n_neg, np.nan)
        precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
    return {"balanced_accuracy": np.nanmean(np.stack([recall, specificity]), 0),
            "accuracy": (tp + tn) / len(y_true), "precision": precision, "recall": recall}


def multiclass_metrics(y_true, y_pred) -> dict:
    """Balanced accuracy (mean per-class recall), accuracy, and the macro-averaged precision and
    recall over the classes present in ``y_true`` (precision 0 for a class never predicted)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    classes = np.unique(y_true)
    recall = np.array([(y_pred[y_true == c] == c).mean() for c in classes])
    precision = np.array([(y_true[y_pred == c] == c).mean() if (y_pred == c).any() else 0.0 for c in classes])
    return {"balanced_accuracy": float(recall.mean()), "accuracy": float((y_true == y_pred).mean()),
            "precision": float(precision.mean()), "recall": float(recall.mean())}


def imbalance_level(binary_labels) -> np.ndarray:
    """|positive rate - 50| in percent, per column (the LMLE Table 2 row)."""
    y = np.asarray(checks.binary_labels(binary_labels, "binary_labels"), dtype=np.float64)
    if y.shape[0] == 0:
        raise ValueError("binary_labels is empty (0 rows)")
    return np.abs(100.0 * y.mean(0) - 50.0)


def _check_pair(y_true, y_pred):
    y_true, y_pred = checks.integer_labels(y_true, "y_true"), checks.integer_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    if y_true.size == 0:
        raise ValueError("y_true is empty (no labels)")
    return y_true, y_pred


def _check_attribute_pair(y_true, y_pred):
    y_true, y_pred = checks.binary_labels(y_true, "y_true"), checks.binary_labels(y_pred, "y_pred")
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(f"expected two (N, A) arrays of the same shape, got {y_true.shape} and {y_pred.shape}")
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty (0 rows)")
    return y_true, y_pred
