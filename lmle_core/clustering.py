"""Per-class k-means with a fixed cluster size (LMLE Sec. 3.1 and 4).

The paper fixes the cluster size l (~200) rather than the number of clusters,
"to avoid large quantization errors for the minority classes": class c gets
max(1, round(N_c / l)) clusters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import search
from .checks import integer_labels, positive_int


@dataclass
class ClusterResult:
    """Clusters of every class, numbered globally (class by class, in sorted class order)."""

    assignments: np.ndarray      # (N,) global cluster id of each sample
    centroids: np.ndarray        # (M, d) float32
    centroid_labels: np.ndarray  # (M,) class of each cluster

    @property
    def n_clusters(self) -> int:
        return int(self.centroids.shape[0])

    def sizes(self) -> np.ndarray:
        return np.bincount(self.assignments, minlength=self.n_clusters)

    def clusters_per_class(self) -> dict:
        classes, counts = np.unique(self.centroid_labels, return_counts=True)
        return {int(c): int(n) for c, n in zip(classes, counts)}


def n_clusters_for(class_size: int, cluster_size: int) -> int:
    """max(1, round(N_c / l)), never more clusters than samples."""
    return int(min(class_size, max(1, round(class_size / cluster_size))))


def cluster_per_class(features, labels, cluster_size: int = 200, seed: int = 0,
                      n_iter: int = 20, device=None) -> ClusterResult:
    """k-means inside each class; every sample is assigned to its nearest centroid of its class.

    ``features``: (N, d) numpy or torch, finite; ``labels``: (N,) integer classes.
    Clusters left empty by the final assignment are dropped, so every cluster has members.
    Bad input (NaN / inf features, no rows, non-integer labels, mismatched lengths, a cluster size
    that is not a positive integer) raises a ValueError naming the argument.
    """
    positive_int(cluster_size, "cluster_size")
    feats = search.as_float_tensor(features, device, name="features")
    if feats.shape[0] == 0:
        raise ValueError("features is empty (0 rows)")
    labels = integer_labels(labels, "labels")
    if labels.shape[0] != feats.shape[0]:
        raise ValueError(f"{feats.shape[0]} feature rows but {labels.shape[0]} labels")
    assignments = np.empty(len(labels), dtype=np.int64)
    centroids, centroid_labels = [], []
    next_id = 0
    for offset, cls in enumerate(np.unique(labels)):
        members = np.flatnonzero(labels == cls)
        x = feats[torch.as_tensor(members, device=feats.device)]
        k = n_clusters_for(len(members), cluster_size)
        cents = search.kmeans(x, k, n_iter=n_iter, seed=seed + 7919 * offset, device=feats.device)
        local = search.assign_to_nearest(x, cents, device=feats.device)
        used = np.unique(local)  # drop clusters the final assignment left empty
        remap = np.full(k, -1, dtype=np.int64)
        remap[used] = np.arange(len(used)) + next_id
        assignments[members] = remap[local]
        centroids.append(cents[torch.as_tensor(used, device=cents.device)].cpu().numpy())
        centroid_labels.append(np.full(len(used), cls))
        next_id += len(used)
    return ClusterResult(assignments=assignments,
                         centroids=np.concatenate(centroids).astype(np.float32),
                         centroid_labels=np.concatenate(centroid_labels))
