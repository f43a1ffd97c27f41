"""Metrics: classification (balanced accuracy and friends, LMLE's metric), ranking (AUC, AP, thresholds
tuned on validation) and the BSDS500 boundary benchmark.

- ``classification``: ``balanced_accuracy`` (binary 0.5*(tp/Np + tn/Nn), multi-class the mean
  per-class recall), per-attribute tables, accuracy / precision / recall;
- ``ranking``: ``roc_auc``, ``average_precision`` (scikit-learn inside; binary, per attribute,
  macro one-vs-rest), ``tune_thresholds`` / ``tune_class_biases`` on validation and their
  ``apply_*``; ``read_twice``: one call reading a score by ranking and by threshold (issue 19);
- ``boundaries``: ``evaluate_boundaries`` (ODS, OIS, AP on edge maps; pyEdgeEval's matching,
  imported on first use).
"""
from .boundaries import BoundaryResult, boundary_nms, bsds_thresholds, evaluate_boundaries
from .classification import (attribute_metrics, balanced_accuracy, imbalance_level, mean_balanced_accuracy,
                             multiclass_metrics, per_attribute_balanced_accuracy, per_class_recall)
from .ranking import (apply_biases, apply_thresholds, average_precision, roc_auc, score_kind, tune_class_biases,
                      tune_thresholds)
from .read_twice import MEAN_COLUMNS, RankingReport, read_twice

__all__ = ["BoundaryResult", "MEAN_COLUMNS", "RankingReport", "apply_biases", "apply_thresholds", "attribute_metrics",
           "average_precision", "balanced_accuracy", "boundary_nms", "bsds_thresholds", "evaluate_boundaries",
           "imbalance_level", "mean_balanced_accuracy", "multiclass_metrics", "per_attribute_balanced_accuracy",
           "per_class_recall", "read_twice", "roc_auc", "score_kind", "tune_class_biases", "tune_thresholds"]
