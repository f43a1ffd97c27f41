"""Decision rules as estimators: ``fit`` / ``predict`` / ``decision_function``, scikit-learn style.

A trained network gives each image an output (an embedding, or classifier logits); a decision rule
turns outputs into classes. Each rule stores its parameters in ``__init__``, learns its state in
``fit(X, y)`` (attributes ending in ``_``) and returns ``self``; ``predict`` gives classes and
``decision_function`` a continuous score for ranking metrics (AUC, average precision): for two
classes an (N,) score of the second class (positive: the rule predicts it), for more an (N, C) score.

- :class:`LMLEKNNClassifier`: LMLE's large-margin cluster-wise kNN (Sec. 4, Eq. 3) over per-class
  k-means centroids of the training embeddings;
- :class:`InstanceKNNClassifier`: the plain majority vote over training embeddings (Sec. 5.2 baseline);
- :class:`ArgmaxClassifier`: softmax argmax (multi-class logits) or logit > 0 (one binary logit);
- :class:`PriorCorrectedClassifier`: one binary logit against log(p / (1 - p)) of the training prior
  (post-hoc logit adjustment, Menon et al. 2021).

The Eq. 3 score. For class c among the k nearest centroids, Eq. 3 compares
s_c = min_{y_j != c} D(q, m_j) - max_{y_i = c} D(q, m_i). When c (or every other class) is absent from
the k neighbours, the missing term is taken at c's (the other classes') nearest centroid overall, which
lies beyond the k-th neighbour; so s_c is finite for every class, Eq. 3 picks argmax_c s_c whenever two
classes meet among the neighbours, and the all-one-class case still ranks that class first.
``decision_function`` returns s_1 - s_0 for two classes, (N, C) s_c otherwise.
"""
from __future__ import annotations

import numpy as np
import torch

from . import search
from .clustering import ClusterResult, cluster_per_class
from .knn import InstanceKNN, LargeMarginKNN


def _labels(y, n: int, what: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{what} must be (N,) with one label per row of X ({n}), got shape {y.shape}")
    if len(y) and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} must hold integer class labels, got dtype {y.dtype}")
    return y.astype(np.int64)


class LMLEKNNClassifier:
    """Eq. 3 over the k nearest of per-class k-means centroids (``cluster_size`` samples per cluster).

    ``fit(X, y)``: X (N, d) training embeddings; sets ``clusters_`` (the clustering, reused by the next
    round's quintuplets), ``classes_`` and the search index. :meth:`from_centroids` rebuilds a fitted
    rule from stored centroids (what a run cache keeps).
    """

    def __init__(self, k: int = 20, cluster_size: int = 200, seed: int = 0):
        if k < 1 or cluster_size < 1:
            raise ValueError(f"k and cluster_size must be >= 1, got k={k}, cluster_size={cluster_size}")
        self.k, self.cluster_size, self.seed = int(k), int(cluster_size), int(seed)

    def fit(self, X, y) -> "LMLEKNNClassifier":
        feats = search.as_float_tensor(X)
        y = _labels(y, feats.shape[0])
        clusters = cluster_per_class(feats, y, self.cluster_size, seed=self.seed)
        if self.k > clusters.n_clusters:
            raise ValueError(f"knn_k={self.k} exceeds the {clusters.n_clusters} clusters of {len(y)} training "
                             f"samples (cluster_size={self.cluster_size}): lower knn_k or cluster_size")
        return self._fit_clusters(clusters)

    @classmethod
    def from_centroids(cls, centroids, centroid_labels, k: int = 20) -> "LMLEKNNClassifier":
        rule = cls(k=k)
        labels = np.asarray(centroid_labels).astype(np.int64)
        return rule._fit_clusters(ClusterResult(np.zeros(0, np.int64), np.asarray(centroids, np.float32), labels))

    def _fit_clusters(self, clusters: ClusterResult) -> "LMLEKNNClassifier":
        self.clusters_ = clusters
        self.classes_ = np.unique(clusters.centroid_labels)
        self.knn_ = LargeMarginKNN(k=self.k).fit(clusters.centroids, clusters.centroid_labels)
        return self

    def state(self) -> dict:
        """What a cache keeps: the centroids and their classes (Eq. 3 needs nothing else)."""
        return {"centroids": self.clusters_.centroids, "centroid_labels": self.clusters_.centroid_labels}

    def predict(self, X) -> np.ndarray:
        return self.knn_.predict(X)

    def decision_function(self, X) -> np.ndarray:
        scores = self._class_scores(search.as_float_tensor(X, self.knn_.points_.device))
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def _class_scores(self, q: torch.Tensor) -> np.ndarray:
        """(Q, C) s_c for the classes in ``classes_`` (see the module docstring)."""
        points, labels = self.knn_.points_, self.knn_.labels_
        classes = torch.as_tensor(self.classes_, device=points.device)
        n_c, out = len(classes), []
        for s in range(0, q.shape[0], 4096):
            qb = q[s:s + 4096]
            dist, idx = search.nearest(qb, points, k=self.k, device=points.device)
            dist, lab = dist.to(points.device), labels[idx.to(points.device)]
            member = lab[:, :, None] == classes[None, None, :]                       # (Q, k, C)
            inf = float("inf")
            far_in = torch.where(member, dist[:, :, None], -inf).amax(1)              # max own distance
            near_other_in = torch.where(~member, dist[:, :, None], inf).amin(1)       # min other-class distance
            # beyond the k neighbours: every class's nearest centroid overall (few centroids: dense is fine)
            all_d = torch.cdist(qb, points).pow(2)                                    # (Q, M)
            own = labels[None, :, None] == classes[None, None, :]                     # (1, M, C)
            nearest_own = torch.where(own, all_d[:, :, None], inf).amin(1)            # (Q, C)
            nearest_other = torch.where(~own, all_d[:, :, None], inf).amin(1)
            far = torch.where(torch.isfinite(far_in), far_in, nearest_own)
            near_other = torch.where(torch.isfinite(near_other_in), near_other_in, nearest_other)
            out.append((near_other - far).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, n_c), np.float32)


class InstanceKNNClassifier:
    """Majority vote of the k nearest training embeddings (ties: the nearer neighbour's class).
    ``decision_function``: the vote share of the second class (two classes), else (N, C) vote shares."""

    def __init__(self, k: int = 20):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = int(k)

    def fit(self, X, y) -> "InstanceKNNClassifier":
        feats = search.as_float_tensor(X)
        y = _labels(y, feats.shape[0])
        self.classes_ = np.unique(y)
        self.knn_ = InstanceKNN(k=self.k).fit(feats, y)
        return self

    def predict(self, X) -> np.ndarray:
        return self.knn_.predict(X)

    def decision_function(self, X) -> np.ndarray:
        _, idx = self.knn_.kneighbors(X)
        lab = self.knn_.labels_[idx.to(self.knn_.labels_.device)].cpu().numpy()
        shares = np.stack([(lab == c).mean(1) for c in self.classes_], 1)
        return shares[:, 1] if len(self.classes_) == 2 else shares


class ArgmaxClassifier:
    """The softmax rule: argmax of (N, C) logits, or logit > 0 for (N,) binary logits (probability 0.5)."""

    def fit(self, X, y) -> "ArgmaxClassifier":
        self.classes_ = np.unique(np.asarray(y))
        return self

    def predict(self, X) -> np.ndarray:
        x = torch.as_tensor(X)
        return (x > 0).to(torch.int64).numpy() if x.dim() == 1 else x.argmax(1).numpy()

    def decision_function(self, X) -> np.ndarray:
        return torch.as_tensor(X).float().numpy()


class PriorCorrectedClassifier:
    """A binary logit compared with log(p / (1 - p)), p the positive share of the training labels ``y``:
    the rule that is Bayes-optimal for balanced accuracy when the logit is calibrated to the prior."""

    def __init__(self, clip: float = 1e-6):
        self.clip = clip

    def fit(self, X, y) -> "PriorCorrectedClassifier":
        y = np.asarray(y)
        if y.ndim != 1 or not np.isin(y, (0, 1)).all():
            raise ValueError("PriorCorrectedClassifier needs (N,) binary labels y in {0, 1}")
        p = float(np.clip(y.mean(), self.clip, 1 - self.clip))
        self.classes_, self.threshold_ = np.array([0, 1]), float(np.log(p / (1 - p)))
        return self

    def decision_function(self, X) -> np.ndarray:
        return torch.as_tensor(X).float().numpy() - np.float32(self.threshold_)

    def predict(self, X) -> np.ndarray:
        return (torch.as_tensor(X) > torch.as_tensor(self.threshold_, dtype=torch.as_tensor(X).dtype)
                ).to(torch.int64).numpy()
