"""Bit-identical gradients on CPU with several threads.

The backward of advanced indexing (``x[idx]`` with repeated rows) adds rows with parallel atomics on
CPU once the index is large, so its sums change from run to run; this made the semi-hard triplet and
CRL(I) tables differ between two identical runs. These tests repeat one backward pass many times with
two threads and compare the gradients bit for bit (each fails with ``x[idx]`` in the loss).
"""
import hashlib

import numpy as np
import pytest
import torch

from lmle_core import losses


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _grad_digests(loss_fn, repeats=12, n=200, d=64, n_classes=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.nn.functional.normalize(torch.randn(n, d, generator=gen), dim=1)
    labels = torch.randint(0, n_classes, (n,), generator=gen)
    digests = set()
    for _ in range(repeats):
        x = x0.clone().requires_grad_()
        loss_fn(x, labels).backward()
        digests.add(hashlib.sha1(x.grad.numpy().tobytes()).hexdigest())
    return digests


def test_semihard_triplet_gradient_is_bit_identical(two_threads):
    # margin 2: every other-class sample farther than the positive is semi-hard, thousands of triplets
    digests = _grad_digests(lambda x, y: losses.semihard_triplet_loss(x, y, margin=2.0))
    assert len(digests) == 1


@pytest.mark.parametrize("form", ["relative", "absolute", "distribution"])
def test_instance_level_crl_gradient_is_bit_identical(two_threads, form):
    # a 10:1 batch: the rare classes are minorities with many anchors, k = 25 hard examples each
    def loss(x, y):
        y = torch.where(torch.arange(len(y)) % 10 == 0, y % 3, 3 + y % 7)
        return losses.crl_loss(x, y, level="instance", form=form, k=25)

    assert len(_grad_digests(loss)) == 1


def test_semihard_training_run_is_bit_identical(two_threads):
    """Two trainings of the semi-hard triplet baseline in one process give the same weights."""
    from lmle_core import experiments, tasks

    data = tasks.prepare_digits(removal_percent=40, augment_factor=2, seed=0)
    budget = experiments.Budget(prior_iters=10, iters_per_round=6, max_rounds=1, cluster_size=20, knn_k=5,
                                lr=0.01, triplet_mining="semi-hard", margin_scale=1.0)
    states = []
    for _ in range(2):
        res = experiments.run_method("Triplet+resample+cost", data, budget, progress=False)
        states.append(np.concatenate([p.detach().numpy().ravel() for p in res.net.state_dict().values()
                                      if p.dtype.is_floating_point]))
    assert np.array_equal(states[0], states[1])
