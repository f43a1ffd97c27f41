"""The multi-label (attribute) path against the single-label pieces run attribute by attribute."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmle_core import clustering, losses, mining, multilabel, nets, sampling
from lmle_core.knn import LargeMarginKNN
from lmle_core.training import TrainConfig

N_IMG, FEAT, A = 90, 12, 3


def problem(seed=0):
    """Cached features of N images and their mirrors, binary labels of A attributes (one rare)."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.random(N_IMG) < p for p in (0.5, 0.2, 0.1)], 1).astype(np.int64)
    base = rng.normal(size=(N_IMG, FEAT)) + labels @ rng.normal(size=(A, FEAT))
    mirror = base + rng.normal(scale=0.1, size=base.shape)
    t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    source = multilabel.CachedFeatures(t(np.concatenate([base, mirror])), t(rng.normal(size=(40, FEAT))),
                                       t(rng.normal(size=(30, FEAT))), n_images=N_IMG)
    val_labels = (rng.random((40, A)) < 0.3).astype(np.int64)
    return source, np.concatenate([labels, labels]), val_labels


def head_of(heads, a):
    """Attribute a's head as an ordinary single-task module (copies of its weights)."""
    lin1, lin2 = torch.nn.Linear(FEAT, heads.hidden), torch.nn.Linear(heads.hidden, heads.embedding_dim)
    with torch.no_grad():
        lin1.weight.copy_(heads.w1[a].T), lin1.bias.copy_(heads.b1[a, 0])
        lin2.weight.copy_(heads.w2[a].T), lin2.bias.copy_(heads.b2[a, 0])
    return torch.nn.Sequential(lin1, torch.nn.ReLU(), lin2)


def cfg(**kw):
    base = dict(loss="quintuplet", resample=True, cost=True, iters_per_round=6, max_rounds=1, patience=1,
                batch_size=8, lr=0.05, cluster_size=10, subset_fraction=1.0, margin_scale=0.5, knn_k=3, seed=0)
    return TrainConfig(**{**base, **kw})


def test_batched_heads_equal_separate_heads():
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    x = torch.randn(5, FEAT)
    raw = heads.raw(x)
    for a in range(A):
        torch.testing.assert_close(raw[:, a], head_of(heads, a)(x))
        logit = raw[:, a] @ heads.cls_w[a] + heads.cls_b[a]
        torch.testing.assert_close(heads.logits_from_raw(raw)[:, a], logit)


def test_quintuplet_step_equals_the_single_label_loss_per_attribute():
    """One multi-label step = the sum over attributes of the single-label triple-header hinge on that
    attribute's own quintuplets (same anchors, tables, margins, costs), value and gradients."""
    source, labels, _ = problem()
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    c = cfg()
    schedule = multilabel._schedule(labels, c, 0, [0, 1, 2])
    plan = multilabel._plan_round(heads, source, labels, source.groups(), c, 0, [0, 1, 2])
    bounds = [losses.margin_upper_bounds(np.bincount(labels[:, a], minlength=2), c.cluster_size) for a in range(A)]
    loss, _ = multilabel._quintuplet_step(heads, source, labels, schedule[:, 0], plan, bounds, c, None,
                                          torch.device("cpu"))
    loss.backward()
    for a in range(A):
        head = head_of(heads, a)
        # the single-label path: the attribute's own table and clusters, built as training.train builds them
        emb = F.normalize(head(source.splits["train"]), dim=-1).detach()
        cl = clustering.cluster_per_class(emb, labels[:, a], c.cluster_size, seed=c.seed + a)
        table = mining.build_quintuplets(emb, labels[:, a], cl.assignments, c.subset_fraction, seed=c.seed + a,
                                         groups=source.groups())
        np.testing.assert_array_equal(table, plan["tables"][a])
        anchors = sampling.BatchSampler(labels[:, a], c.batch_size, c.resample, seed=c.seed + 7 * a).next()
        rows = table[anchors]
        filled = np.where(rows >= 0, rows, rows[:, :1])
        e = F.normalize(head(source.splits["train"][torch.as_tensor(filled.reshape(-1))]), dim=-1).view(len(anchors), 5, -1)
        single = losses.triple_header_hinge(
            e[:, 0], e[:, 1], e[:, 2], e[:, 3], e[:, 4], bounds[a].scaled(c.margin_scale, labels[anchors, a]),
            weights=torch.as_tensor(np_costs(labels[anchors, a])), valid=losses.quintuplet_term_mask(rows))
        single.backward()
        torch.testing.assert_close(head[0].weight.grad.T, heads.w1.grad[a], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(head[2].weight.grad.T, heads.w2.grad[a], rtol=1e-4, atol=1e-6)
        loss = loss - single.detach()
    assert abs(float(loss.detach())) < 1e-5


def np_costs(y):
    from lmle_core.sampling import batch_costs

    return batch_costs(y)


def test_knn_per_attribute_equals_single_label_knn():
    source, labels, _ = problem(1)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    knns = multilabel.fit_attribute_knns(heads, source, labels, cluster_size=10, k=3, seed=0)
    got = {"test": multilabel.predict_knn(heads, source, knns, "test")}
    restored = multilabel.knns_from_state([k.state() for k in knns], k=3)   # what the run cache keeps
    np.testing.assert_array_equal(multilabel.predict_knn(heads, source, restored, "test"), got["test"])
    for a in range(A):
        head = head_of(heads, a)
        with torch.no_grad():
            train = F.normalize(head(source.splits["train"]), dim=-1)
            test = F.normalize(head(source.splits["test"]), dim=-1)
        cl = clustering.cluster_per_class(train, labels[:, a], 10, seed=a)
        expected = LargeMarginKNN(k=3).fit(cl.centroids, cl.centroid_labels).predict(test)
        np.testing.assert_array_equal(got["test"][:, a], expected)
        assert knns[a].clusters.n_clusters == cl.n_clusters


@pytest.mark.parametrize("loss, resample", [("quintuplet", True), ("triplet", True), ("softmax", True),
                                            ("softmax", False), ("quintuplet", False)])
def test_attributes_train_the_same_together_as_alone(loss, resample):
    """Frozen features: training A heads in one multi-label run = training each attribute alone."""
    source, labels, val_labels = problem(2)
    torch.manual_seed(0)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    start = copy.deepcopy(heads.state_dict())
    c = cfg(loss=loss, resample=resample)
    together = multilabel.train_attributes(heads, source, labels, val_labels, c, progress=False)
    for a in range(A):
        alone = nets.AttributeHeads(FEAT, 1, hidden=16, embedding_dim=8)
        alone.load_state_dict({k: v[a:a + 1] for k, v in start.items()})
        multilabel.train_attributes(alone, source, labels[:, a:a + 1], val_labels[:, a:a + 1], c, progress=False,
                                    attribute_ids=[a])
        for name, p in alone.state_dict().items():
            torch.testing.assert_close(p[0], together.heads_state[name][a], rtol=1e-4, atol=1e-5, msg=name)


def test_union_goes_through_the_source_once(monkeypatch):
    source, labels, _ = problem(3)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    c = cfg()
    schedule = multilabel._schedule(labels, c, 0, [0, 1, 2])
    plan = multilabel._plan_round(heads, source, labels, source.groups(), c, 0, [0, 1, 2], schedule=schedule)
    calls = []
    real = source.train_features
    monkeypatch.setattr(source, "train_features", lambda idx: calls.append(len(idx)) or real(idx))
    bounds = [losses.margin_upper_bounds([50, 40], 10)] * A
    _, n_union = multilabel._quintuplet_step(heads, source, labels, schedule[:, 0], plan, bounds, c, None,
                                             torch.device("cpu"))
    assert calls == [n_union] and n_union <= A * c.batch_size * 5
