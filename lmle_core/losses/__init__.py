"""Losses, one module per family; every public name is re-exported here.

- ``lmle``: the LMLE triple-header hinge (Huang et al., CVPR 2016, Eq. 2) on squared or Euclidean
  distances, its margin upper bounds (Sec. 3.2) and the baselines' triplet hinge and cost-sensitive
  cross-entropy; ``margin_grid``: the margins' coarse grid search and its extension past an edge;
- ``crl`` (with ``lmle_core.mining.crl``): the Class Rectification Loss (Dong, Gong & Zhu, ICCV 2017 /
  TPAMI 2018): batch-wise minority profiling, class- and instance-level hard mining, the relative,
  absolute and distribution forms, and the imbalance-tied weight alpha; ``crl_diagnostics``: the
  net push of CRL on the minority logits and the per-batch training log (issue 19);
- ``semihard``: the FaceNet triplet baseline with semi-hard negatives mined in the batch;
- ``objectives``: the classification objectives by name (cross-entropy and today's losses), registered;
- ``modern``: focal, class-balanced, LDAM-DRW, logit adjustment, balanced softmax and
  positive-weighted sigmoid cross-entropy, multi-class and per binary attribute.
"""
from .crl import (CRLDetails, HardExamples, batch_class_counts, crl_alpha, crl_loss, crl_objective,
                  histogram_loss, imbalance_measure, mine_class_level, mine_instance_level, minority_anchors,
                  minority_classes, multilabel_crl_loss, similarity_histogram)
from .crl_diagnostics import CRLStepLog, crl_step_log, minority_logit_push
from .lmle import (MarginBounds, TripleHeaderHingeLoss, TripletHingeLoss, cost_sensitive_cross_entropy,
                   euclidean_distance, margin_scales, margin_upper_bounds, pair_distance, quintuplet_term_mask,
                   squared_distance, triple_header_hinge, triplet_hinge)
from .margin_grid import extend_grid, margin_scale_grid
from .objectives import OBJECTIVES, ClassificationLoss, classification_loss, get_objective, register_objective
from .semihard import semihard_triplet_loss, semihard_triplets
from .modern import (balanced_softmax_cross_entropy, binary_balanced_softmax_loss, binary_class_counts,
                     binary_ldam_loss, binary_logit_adjusted_loss, binary_posthoc_logit_adjustment,
                     class_balanced_weights, class_prior, class_weighted_cross_entropy,
                     class_weighted_sigmoid_cross_entropy, deferred_reweighting_weights, focal_loss, ldam_loss,
                     ldam_margins, logit_adjusted_cross_entropy, positive_weighted_sigmoid_cross_entropy,
                     positive_weights, posthoc_logit_adjustment, sigmoid_focal_loss)

__all__ = [
    # LMLE (lmle)
    "MarginBounds", "TripleHeaderHingeLoss", "TripletHingeLoss", "cost_sensitive_cross_entropy",
    "euclidean_distance", "extend_grid", "margin_scale_grid", "margin_scales", "margin_upper_bounds",
    "pair_distance", "quintuplet_term_mask", "squared_distance", "triple_header_hinge", "triplet_hinge",
    "semihard_triplet_loss", "semihard_triplets",
    # classification objectives by name (objectives)
    "OBJECTIVES", "ClassificationLoss", "classification_loss", "get_objective", "register_objective",
    # CRL (crl, crl_mining)
    "CRLDetails", "HardExamples", "batch_class_counts", "crl_alpha", "crl_loss", "crl_objective",
    "histogram_loss", "imbalance_measure", "mine_class_level", "mine_instance_level", "minority_anchors",
    "minority_classes", "multilabel_crl_loss", "similarity_histogram",
    "CRLStepLog", "crl_step_log", "minority_logit_push",
    # today's methods (modern)
    "balanced_softmax_cross_entropy", "binary_balanced_softmax_loss", "binary_class_counts", "binary_ldam_loss",
    "binary_logit_adjusted_loss", "binary_posthoc_logit_adjustment", "class_balanced_weights", "class_prior",
    "class_weighted_cross_entropy", "class_weighted_sigmoid_cross_entropy", "deferred_reweighting_weights",
    "focal_loss", "ldam_loss", "ldam_margins", "logit_adjusted_cross_entropy",
    "positive_weighted_sigmoid_cross_entropy", "positive_weights", "posthoc_logit_adjustment", "sigmoid_focal_loss",
]
