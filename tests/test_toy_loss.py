"""A new embedding loss is one class and one ``register_method`` call, written outside the package.

The toy loss below (Hadsell et al.'s contrastive loss on [anchor, positive, negative] tuples) is
defined and registered here, in the test file, and trained through ``experiments.run_method`` on
scikit-learn's digits: nothing in lmle_core names it.
"""
import math

import numpy as np
import pytest
import torch

from lmle_core.experiments import Budget, run_method
from lmle_core.methods import METHODS, EmbeddingObjective, Method, register_method
from lmle_core.mining.miners import NearestNegativeMiner
from lmle_core.tasks import prepare_digits

TINY = dict(prior_iters=15, iters_per_round=6, max_rounds=2, patience=2, cluster_size=20, knn_k=5, lr=0.003)


class ToyContrastiveLoss:
    """mean_i w_i * (D(a, p) + [margin - sqrt(D(a, n))]_+^2) on (n, 3, d) tuples, D the squared distance."""

    tuple_size = 3

    def __init__(self):
        self.losses = []    # every value it returned, to check that training used it

    def margins(self, bounds, scale, anchor_labels) -> np.ndarray:
        return np.full(len(anchor_labels), scale * bounds.g3)

    def __call__(self, emb, margins, weights=None, valid=None, distance="squared"):
        assert distance == "squared"   # the budget's margin_distance; this loss has squared distances only
        d_pos = (emb[:, 0] - emb[:, 1]).pow(2).sum(-1)
        d_neg = (emb[:, 0] - emb[:, 2]).pow(2).sum(-1)
        per = d_pos + torch.relu(margins - (d_neg + 1e-12).sqrt()).pow(2)
        if valid is not None:
            per = per * torch.as_tensor(valid, device=per.device).reshape(-1).to(per.dtype)
        w = torch.ones_like(per) if weights is None else weights.to(per.dtype)
        loss = (w * per).sum() / w.sum()
        self.losses.append(float(loss.detach()))
        return loss


@pytest.fixture
def toy_method():
    loss = ToyContrastiveLoss()
    method = register_method(Method("Toy contrastive+resample",
                                    EmbeddingObjective(loss, NearestNegativeMiner(), "toy-contrastive"),
                                    resample=True, description="contrastive loss, nearest negative, balanced batches"))
    try:
        yield method, loss
    finally:
        del METHODS[method.name]


def test_a_loss_registered_here_trains_through_run_method(toy_method):
    method, loss = toy_method
    data = prepare_digits(removal_percent=40, augment_factor=1, seed=0)
    res = run_method(method.name, data, Budget(**TINY), progress=False)
    assert len(loss.losses) == res.iterations == 12            # every step went through the toy loss
    assert all(math.isfinite(v) and v >= 0 for v in loss.losses)
    assert all(math.isfinite(h["mean_loss"]) for h in res.history) and len(res.history) == 2
    assert 0.0 <= res.balanced_accuracy <= 1.0 and math.isfinite(res.balanced_accuracy)
    assert res.classifier == "large-margin cluster kNN (Eq. 3)"   # an embedding head: the LMLE-kNN rule
    assert res.test_predictions.shape == (len(data.test),)
    assert res.clusters is not None


def test_the_registry_is_left_as_it_was(toy_method):
    method, _ = toy_method
    assert METHODS[method.name] is method
    with pytest.raises(ValueError, match="registered already"):
        register_method(method)


def test_the_toy_method_is_gone_after_its_test():
    assert not any(name.startswith("Toy") for name in METHODS)
