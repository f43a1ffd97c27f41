"""Metrics: classification (balanced accuracy and friends, LMLE's metric) and the BSDS500 boundary benchmark.

- ``classification``: ``balanced_accuracy`` (binary 0.5*(tp/Np + tn/Nn), multi-class the mean
  per-class recall), per-attribute tables, accuracy / precision / recall;
- ``boundaries``: ``evaluate_boundaries`` (ODS, OIS, AP on edge maps; pyEdgeEval's matching,
  imported on first use).
"""
from .boundaries import BoundaryResult, boundary_nms, bsds_thresholds, evaluate_boundaries
from .classification import (attribute_metrics, balanced_accuracy, imbalance_level, mean_balanced_accuracy,
                             multiclass_metrics, per_attribute_balanced_accuracy, per_class_recall)

__all__ = ["BoundaryResult", "attribute_metrics", "balanced_accuracy", "boundary_nms", "bsds_thresholds",
           "evaluate_boundaries", "imbalance_level", "mean_balanced_accuracy", "multiclass_metrics",
           "per_attribute_balanced_accuracy", "per_class_recall"]
