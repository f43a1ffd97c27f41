"""One call that reads a method's scores twice, by ranking and by threshold (issue 19).

``read_twice(val_labels, val_scores, test_labels, test_scores, own_test_predictions)`` returns a
:class:`RankingReport`: per attribute (or per class) and on average,

- "BA own": balanced accuracy of the method's own test predictions (threshold 0.5, the prior
  correction, LMLE's Eq. 3 kNN, argmax, ...);
- "BA tuned": balanced accuracy on test at the threshold (attributes) or the per-class biases
  (multi-class) tuned on VALIDATION (``ranking.tune_thresholds`` / ``ranking.tune_class_biases``);
  the test split is never looked at when choosing them;
- "AUC" and "AP": ROC AUC and average precision of the test scores (multi-class: the macro
  means of the one-vs-rest values).

Means are over the attributes (classes) where the value is defined; ``notes`` says which were
left out and why (a split holding a single class). Fractions in [0, 1], not percent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from .classification import attribute_metrics, per_class_recall
from .ranking import (apply_biases, apply_thresholds, average_precision, roc_auc, score_kind, tune_class_biases,
                      tune_thresholds)

__all__ = ["RankingReport", "read_twice", "MEAN_COLUMNS"]

MEAN_COLUMNS = ("BA own", "BA tuned", "AUC", "AP")


@dataclass
class RankingReport:
    """``per_task``: one row per attribute (columns BA own, BA tuned, AUC, AP, threshold) or per class
    (recall own, recall tuned, AUC, AP one-vs-rest, bias); ``mean``: BA own, BA tuned, AUC, AP over
    the tasks (multi-class: balanced accuracy = the mean recall, macro AUC / AP); ``notes``: why a
    value is NaN. ``kind``: "attributes" or "multiclass"."""

    kind: str
    per_task: pd.DataFrame
    mean: pd.Series
    notes: List[str] = field(default_factory=list)

    def row(self, method: str, percent: bool = True) -> dict:
        """The mean as one row of a methods table (``percent``: x 100)."""
        scale = 100.0 if percent else 1.0
        return {"method": method, **{k: scale * float(self.mean[k]) for k in MEAN_COLUMNS}}


def _single_class_notes(labels: np.ndarray, names, split: str, consequence: str) -> List[str]:
    n_pos = labels.sum(0)
    bad = [names[a] for a in np.flatnonzero((n_pos == 0) | (n_pos == len(labels)))]
    return [f"{split} split holds a single class for {', '.join(map(str, bad))}: {consequence}"] if bad else []


def _attributes(val_labels, val_scores, test_labels, test_scores, own, names) -> RankingReport:
    y_test = np.asarray(test_labels)
    names = list(names) if names is not None else [str(a) for a in range(y_test.shape[1])]
    if len(names) != y_test.shape[1]:
        raise ValueError(f"names has {len(names)} entries for {y_test.shape[1]} attributes")
    thresholds = tune_thresholds(val_labels, val_scores)
    tuned = attribute_metrics(y_test, apply_thresholds(test_scores, thresholds))["balanced_accuracy"]
    tuned = np.where(np.isnan(thresholds), np.nan, tuned)
    ba_own = np.full(len(names), np.nan) if own is None else attribute_metrics(y_test, own)["balanced_accuracy"]
    per_task = pd.DataFrame({"BA own": ba_own, "BA tuned": tuned, "AUC": roc_auc(y_test, test_scores),
                             "AP": average_precision(y_test, test_scores), "threshold": thresholds},
                            index=pd.Index(names, name="attribute"))
    notes = (_single_class_notes(np.asarray(val_labels), names, "validation", "no threshold to tune, BA tuned is NaN")
             + _single_class_notes(y_test, names, "test", "AUC and AP are undefined (NaN), BA is that class's recall"))
    if own is None:
        notes.append("no own-rule test predictions given: BA own is NaN")
    mean = per_task[list(MEAN_COLUMNS)].mean(skipna=True)
    return RankingReport("attributes", per_task, mean, notes)


def _classes(val_labels, val_scores, test_labels, test_scores, own, names) -> RankingReport:
    n_classes = np.asarray(test_scores).shape[1]
    names = list(names) if names is not None else list(range(n_classes))
    if len(names) != n_classes:
        raise ValueError(f"names has {len(names)} entries for {n_classes} classes")
    y_test = np.asarray(test_labels).astype(np.int64)
    classes = np.arange(n_classes)
    biases = tune_class_biases(val_labels, val_scores)
    tuned = per_class_recall(y_test, apply_biases(test_scores, biases), classes=classes)
    recall_own = per_class_recall(y_test, own, classes=classes) if own is not None else dict.fromkeys(classes, np.nan)
    per_task = pd.DataFrame({"recall own": list(recall_own.values()), "recall tuned": list(tuned.values()),
                             "AUC (one-vs-rest)": roc_auc(y_test, test_scores, per_class=True),
                             "AP (one-vs-rest)": average_precision(y_test, test_scores, per_class=True),
                             "bias": biases}, index=pd.Index(names, name="class"))
    mean = pd.Series({"BA own": per_task["recall own"].mean(), "BA tuned": per_task["recall tuned"].mean(),
                      "AUC": per_task["AUC (one-vs-rest)"].mean(), "AP": per_task["AP (one-vs-rest)"].mean()})
    notes = []
    for split, labels in (("validation", np.asarray(val_labels)), ("test", y_test)):
        absent = [names[c] for c in classes if not (labels == c).any()]
        if absent:
            notes.append(f"{split} split holds no sample of class(es) {', '.join(map(str, absent))}: "
                         + ("its bias stays 0" if split == "validation" else "left out of every mean"))
    if own is None:
        notes.append("no own-rule test predictions given: BA own is NaN")
    return RankingReport("multiclass", per_task, mean, notes)


def read_twice(val_labels, val_scores, test_labels, test_scores, own_test_predictions=None,
               names: Optional[Sequence] = None) -> RankingReport:
    """Read one continuous score by ranking and by threshold (see the module docstring).

    Attributes: labels and scores (N, A) (one score per image and attribute, larger = more
    positive), ``own_test_predictions`` (N_test, A) in {0, 1}. Multi-class: labels (N,), scores
    (N, C), ``own_test_predictions`` (N_test,). ``names``: the attributes' (classes') names.
    Validation and test must be scored by the same function; only validation tunes anything.
    """
    kind_val, kind_test = score_kind(val_labels, val_scores), score_kind(test_labels, test_scores)
    if kind_val != kind_test or np.shape(val_scores)[1:] != np.shape(test_scores)[1:]:
        raise ValueError(f"validation scores {np.shape(val_scores)} and test scores {np.shape(test_scores)} "
                         "must have the same kind and width")
    if own_test_predictions is not None and np.shape(own_test_predictions) != np.shape(test_labels):
        raise ValueError(f"own_test_predictions {np.shape(own_test_predictions)} must match test_labels "
                         f"{np.shape(test_labels)}")
    if kind_test == "binary":   # one attribute
        as_column = (lambda x: None if x is None else np.asarray(x).reshape(-1, 1))
        return _attributes(as_column(val_labels), as_column(val_scores), as_column(test_labels),
                           as_column(test_scores), as_column(own_test_predictions), names)
    build = _attributes if kind_test == "attributes" else _classes
    return build(val_labels, val_scores, test_labels, test_scores, own_test_predictions, names)
