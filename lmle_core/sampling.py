"""Mini-batch sampling and in-batch costs (LMLE Sec. 3.1-3.2, Table 1).

- plain: anchors drawn uniformly from the data (the class prior is kept);
- resample: class-balanced batches, an equal share of every class (minority
  samples drawn with replacement as often as needed);
- cost: per-sample weights inverse to the class size *in the batch*, so that
  every class present carries the same total weight (weights average to 1).

With a batch size not divisible by the number of classes, the remainder goes
to randomly chosen classes, so costs still matter after resampling; for
binary multi-label data a batch balanced for one attribute is imbalanced for
the others, which is where the paper says costs help.

Labels are integer classes; non-integer, non-finite or empty labels, and batch sizes that are
not positive integers, raise a ValueError naming the argument.
"""
from __future__ import annotations

import numpy as np

from .checks import finite_number, integer_labels, positive_int


def batch_costs(batch_labels, minlength: int = 0) -> np.ndarray:
    """Weights w_i = B / (C_b * n_{y_i}) for a batch of B labels with C_b classes present (an
    empty batch has no weights)."""
    y = integer_labels(batch_labels, "batch_labels")
    if y.size == 0:
        return np.zeros(0, dtype=np.float32)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    return (y.size / (len(classes) * counts[inverse])).astype(np.float32)


def positive_sharing_costs(batch_labels, negative_class: int = 0, sharing: float = 1.0) -> np.ndarray:
    """Edge costs (LMLE Table 1: "inverse to class size in batches & positive sharing weight"):
    w_i = (c_i + sharing * s_i) / (1 + sharing), c = :func:`batch_costs` over the classes and s =
    :func:`batch_costs` over the two super-classes {negative, any positive (edge) class}, so every
    edge class shares the positive super-class's weight (DeepContour, Shen et al. 2015); mean 1."""
    y = integer_labels(batch_labels, "batch_labels")
    finite_number(sharing, "sharing", minimum=0.0)
    w = batch_costs(y) + sharing * batch_costs(y != negative_class)
    return (w / (1.0 + sharing)).astype(np.float32)


def multilabel_batch_costs(batch_labels) -> np.ndarray:
    """(B, A) binary labels -> (B, A) costs, ``batch_costs`` applied per attribute."""
    y = np.asarray(batch_labels)
    if y.ndim != 2:
        raise ValueError(f"batch_labels must be a (B, A) array, got shape {y.shape}")
    return np.stack([batch_costs(y[:, a]) for a in range(y.shape[1])], 1)


class BatchSampler:
    """Endless source of index batches over integer class labels.

    ``balanced=False`` draws epochs of a random permutation (no replacement);
    ``balanced=True`` gives each class batch_size // C samples, the remainder to
    random classes, drawing within a class from its own shuffled epochs.
    """

    def __init__(self, labels, batch_size: int, balanced: bool, seed: int = 0):
        self.labels = integer_labels(labels, "labels")
        positive_int(batch_size, "batch_size")
        if self.labels.size == 0:
            raise ValueError("cannot sample from an empty label array")
        self.batch_size = int(batch_size)
        self.balanced = bool(balanced)
        self.rng = np.random.default_rng(seed)
        self.classes = np.unique(self.labels)
        self._members = {c: np.flatnonzero(self.labels == c) for c in self.classes}
        self._queues = {c: np.empty(0, dtype=np.int64) for c in self.classes}
        self._epoch = np.empty(0, dtype=np.int64)

    def _take(self, pool: np.ndarray, queue: np.ndarray, n: int):
        out = []
        while n > 0:
            if queue.size == 0:
                queue = self.rng.permutation(pool)
            out.append(queue[:n])
            n -= out[-1].size
            queue = queue[out[-1].size:]
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64), queue

    def next(self) -> np.ndarray:
        if not self.balanced:
            batch, self._epoch = self._take(np.arange(self.labels.size), self._epoch, self.batch_size)
            return batch
        n_cls = len(self.classes)
        share = np.full(n_cls, self.batch_size // n_cls)
        extra = self.rng.choice(n_cls, self.batch_size % n_cls, replace=False)
        share[extra] += 1
        parts = []
        for c, n in zip(self.classes, share):
            if n:
                taken, self._queues[c] = self._take(self._members[c], self._queues[c], int(n))
                parts.append(taken)
        batch = np.concatenate(parts)
        return self.rng.permutation(batch)

    def __iter__(self):
        while True:
            yield self.next()


class ClassMembers:
    """Uniform draws of a random member of given classes, vectorised (triplet positives)."""

    def __init__(self, labels):
        labels = integer_labels(labels, "labels").astype(np.int64)
        if labels.size == 0 or labels.min() < 0:
            raise ValueError("labels must be a non-empty array of class ids >= 0"
                             + (f", found {int(labels.min())}" if labels.size else ""))
        self._order = np.argsort(labels, kind="stable")
        self._count = np.bincount(labels)
        self._start = np.concatenate([[0], np.cumsum(self._count)[:-1]])

    def draw(self, classes, rng: np.random.Generator) -> np.ndarray:
        cls = integer_labels(classes, "classes").astype(np.int64)
        if cls.size and (cls.min() < 0 or cls.max() >= len(self._count)):
            raise ValueError(f"classes must be in [0, {len(self._count) - 1}], found "
                             f"{int(cls.min() if cls.min() < 0 else cls.max())}")
        if (self._count[cls] == 0).any():
            raise ValueError("cannot draw a member of a class with no samples")
        return self._order[self._start[cls] + (rng.random(len(cls)) * self._count[cls]).astype(np.int64)]
