"""The paper's CelebA batches (``Budget.attribute_batches="rotating"``): one class-balanced mini-batch
per step, balanced for ONE attribute at a time, shared by every attribute.

LMLE Sec. 5.1: "batch size 40"; the Table 4 discussion: "class-balanced data for one attribute will
be almost certainly imbalanced for the other attributes, whose class costs can help then". Read here:
step t of round r is class-balanced for attribute (r x iters + t) mod A (every attribute in turn, the
same cycle across rounds); every attribute's terms use the step's rows as anchors, so the attributes
the batch is not balanced for see their own class imbalance in it, and the in-batch costs
(``sampling.batch_costs``, computed per attribute by the loop) are not 1 for them. The
``"per-attribute"`` scheme (each attribute its own balanced anchors; costs 1 by construction) sends
A x B rows per step through the network, this one B.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..sampling import BatchSampler


def balanced_attribute(step: int, rnd: int, iters: int, n_attributes: int) -> int:
    """The attribute (column) the batch of ``step`` in round ``rnd`` is class-balanced for."""
    return (rnd * iters + step) % n_attributes


def rotating_schedule(labels: np.ndarray, batch_size: int, iters: int, rnd: int, seeds: Sequence[int]) -> np.ndarray:
    """(A, iters, B) anchors: step t's B rows class-balanced for attribute :func:`balanced_attribute`,
    the same rows for every attribute. ``labels`` (N, A) binary; ``seeds``: one per attribute (each
    attribute's balanced draws come from its own sampler, as in the per-attribute scheme)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or len(seeds) != labels.shape[1]:
        raise ValueError(f"labels must be (N, A) with one seed per attribute; got {labels.shape}, {len(seeds)} seeds")
    n_attr = labels.shape[1]
    samplers = [BatchSampler(labels[:, a], batch_size, True, seed=s) for a, s in enumerate(seeds)]
    steps = np.stack([samplers[balanced_attribute(t, rnd, iters, n_attr)].next() for t in range(iters)])
    return np.broadcast_to(steps, (n_attr, *steps.shape)).copy()
