"""kNN classifiers on learned embeddings (LMLE Sec. 4).

``LargeMarginKNN``: cluster-wise search over class centroids with the large
margin local decision of Eq. 3; ``InstanceKNN``: the plain majority vote over
training samples (the paper's instance-wise baseline). Fitting on centroids
gives the plain cluster-majority kNN. Distances are squared Euclidean; the
search backend (faiss or torch, CPU or GPU) comes from ``search``.
"""
from __future__ import annotations

import numpy as np
import torch

from . import search


class _NeighbourClassifier:
    def __init__(self, k: int = 20, batch_size: int = 16384, device=None):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k, self.batch_size, self.device = int(k), int(batch_size), device
        self.points_ = None

    def fit(self, points, labels):
        pts = search.as_float_tensor(points, self.device)
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != pts.shape[0] or pts.shape[0] == 0:
            raise ValueError(f"{pts.shape[0]} points but {labels.shape[0]} labels")
        self.points_ = pts
        self.labels_ = torch.as_tensor(labels, device=pts.device)
        return self

    def kneighbors(self, queries):
        """(squared distances (Q, k'), indices (Q, k')) with k' = min(k, number of points)."""
        if self.points_ is None:
            raise RuntimeError(f"{type(self).__name__}.fit must be called before predict")
        return search.nearest(queries, self.points_, k=self.k, device=self.points_.device)

    def predict(self, queries) -> np.ndarray:
        q = search.as_float_tensor(queries, self.device)
        out = []
        for s in range(0, q.shape[0], self.batch_size):
            dist, idx = self.kneighbors(q[s:s + self.batch_size])
            dist, idx = dist.to(self.labels_.device), idx.to(self.labels_.device)
            out.append(self._decide(dist, self.labels_[idx]).cpu())
        return torch.cat(out).numpy() if out else np.empty(0, dtype=np.int64)


class LargeMarginKNN(_NeighbourClassifier):
    """Eq. 3 over the k nearest cluster centroids.

    If all k neighbours share one class, that class; otherwise the class c in
    the neighbourhood maximising  min_{y_j != c} D(q, m_j) - max_{y_i = c} D(q, m_i).
    Ties go to the class of the nearer neighbour.
    """

    @staticmethod
    def _decide(dist: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # Per query and class present among its k neighbours: the farthest own neighbour, the nearest
        # neighbour and the position of the first one, by scatter reductions over the classes: O(Q k),
        # where comparing every pair of neighbours would be O(Q k^2) and cost more than the search.
        n_q, k = labels.shape
        classes, inv = torch.unique(labels, return_inverse=True)
        n_c = classes.numel()
        if n_c == 1:
            return labels[:, 0]
        inf = float("inf")
        far = torch.full((n_q, n_c), -inf, device=dist.device, dtype=dist.dtype).scatter_reduce(1, inv, dist, "amax")
        near = torch.full((n_q, n_c), inf, device=dist.device, dtype=dist.dtype).scatter_reduce(1, inv, dist, "amin")
        pos = torch.arange(k, device=labels.device).expand(n_q, k)
        first = torch.full((n_q, n_c), k, device=labels.device, dtype=torch.long).scatter_reduce(1, inv, pos, "amin")
        # nearest other class of class c: the smallest 'near' of the other classes (the best, or the runner-up)
        two = near.topk(2, dim=1, largest=False)
        best_is_c = torch.arange(n_c, device=dist.device)[None] == two.indices[:, :1]
        nearest_other = torch.where(best_is_c, two.values[:, 1:2], two.values[:, :1])
        score = (nearest_other - far).masked_fill(first == k, -inf)      # +inf: all k neighbours one class
        top = score.max(1, keepdim=True).values
        # ties go to the class whose nearest neighbour comes first
        pick = first.masked_fill(score != top, k + 1).argmin(1)
        return classes[pick]


class InstanceKNN(_NeighbourClassifier):
    """Majority vote among the k nearest points; ties go to the class of the nearer neighbour."""

    @staticmethod
    def _decide(dist: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        votes = (labels[:, :, None] == labels[:, None, :]).sum(-1)       # votes of position j's class
        best = votes.argmax(1)
        return labels.gather(1, best[:, None])[:, 0]
