"""The attribute (multi-label) path of the one training loop against the single-label pieces run
attribute by attribute."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmle_core import classifiers, clustering, losses, mining, nets, sampling
from lmle_core.attributes import AttributeModel, CachedFeatures
from lmle_core.knn import LargeMarginKNN
from lmle_core.methods import Budget, PlanInput, StepInput, get_method
from lmle_core.training import TrainTask, train
from lmle_core.training.loop import _schedule

N_IMG, FEAT, A = 90, 12, 3


def problem(seed=0):
    """Cached features of N images and their mirrors, binary labels of A attributes (one rare)."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.random(N_IMG) < p for p in (0.5, 0.2, 0.1)], 1).astype(np.int64)
    base = rng.normal(size=(N_IMG, FEAT)) + labels @ rng.normal(size=(A, FEAT))
    mirror = base + rng.normal(scale=0.1, size=base.shape)
    t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    source = CachedFeatures(t(np.concatenate([base, mirror])), t(rng.normal(size=(40, FEAT))),
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


def budget(**kw):
    base = dict(iters_per_round=6, max_rounds=1, patience=1, batch_size=8, softmax_batch_size=8, lr=0.05,
                cluster_size=10, subset_fraction=1.0, margin_scale=0.5, knn_k=3, seed=0)
    return Budget(**{**base, **kw})


def task_of(labels, val_labels, ids=(0, 1, 2), source=None):
    return TrainTask(labels, val_labels, task_ids=list(ids), groups=None if source is None else source.groups())


def plans_and_schedule(method, heads, source, labels, b, restrict=False):
    task = task_of(labels, labels[:5], source=source)
    model = AttributeModel(heads, source)
    schedule = _schedule(method, task, b, 0)
    plans = method.objective.plan_round(PlanInput(
        features=[model.embeddings("train", a) for a in range(A)], labels=labels, multilabel=True, n_classes=2,
        budget=b, round=0, seeds=[b.seed + a for a in range(A)], groups=source.groups(),
        anchors=[np.unique(s) for s in schedule] if restrict else None, clusters=None))
    return model, schedule, plans


def step(method, model, labels, anchors, plans, bounds, b):
    y = np.stack([labels[anchors[a], a] for a in range(A)])
    w = torch.as_tensor(np.stack([sampling.batch_costs(r) for r in y])) if method.cost else None
    return method.objective.step(StepInput(model=model, anchors=anchors, labels=y, weights=w, plans=plans,
                                           bounds=bounds, rngs=[None] * A, budget=b, progress=0.0))


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
    c, method = budget(), get_method("Quintuplet+resample+cost")
    model, schedule, plans = plans_and_schedule(method, heads, source, labels, c)
    bounds = [losses.margin_upper_bounds(np.bincount(labels[:, a], minlength=2), c.cluster_size) for a in range(A)]
    loss, _ = step(method, model, labels, schedule[:, 0], plans, bounds, c)
    loss.backward()
    for a in range(A):
        head = head_of(heads, a)
        # the single-label path: the attribute's own table and clusters, built as training.train builds them
        emb = F.normalize(head(source.splits["train"]), dim=-1).detach()
        cl = clustering.cluster_per_class(emb, labels[:, a], c.cluster_size, seed=c.seed + a)
        table = mining.build_quintuplets(emb, labels[:, a], cl.assignments, c.subset_fraction, seed=c.seed + a,
                                         groups=source.groups())
        np.testing.assert_array_equal(table, plans[a]["table"])
        anchors = sampling.BatchSampler(labels[:, a], c.batch_size, method.resample, seed=c.seed + 7 * a).next()
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
    model = AttributeModel(heads, source)
    knns = [classifiers.LMLEKNNClassifier(k=3, cluster_size=10, seed=a).fit(model.embeddings("train", a), labels[:, a])
            for a in range(A)]
    got = {"test": np.stack([k.predict(model.embeddings("test", a)) for a, k in enumerate(knns)], 1)}
    restored = [classifiers.LMLEKNNClassifier.from_centroids(**k.state(), k=3) for k in knns]   # what the cache keeps
    np.testing.assert_array_equal(np.stack([k.predict(model.embeddings("test", a)) for a, k in enumerate(restored)], 1),
                                  got["test"])
    for a in range(A):
        head = head_of(heads, a)
        with torch.no_grad():
            train = F.normalize(head(source.splits["train"]), dim=-1)
            test = F.normalize(head(source.splits["test"]), dim=-1)
        cl = clustering.cluster_per_class(train, labels[:, a], 10, seed=a)
        expected = LargeMarginKNN(k=3).fit(cl.centroids, cl.centroid_labels).predict(test)
        np.testing.assert_array_equal(got["test"][:, a], expected)
        assert knns[a].clusters_.n_clusters == cl.n_clusters


def train_heads(heads, source, labels, val_labels, method, b, ids=(0, 1, 2)):
    return train(AttributeModel(heads, source), task_of(labels, val_labels, ids, source), get_method(method), b,
                 progress=False)


@pytest.mark.parametrize("method", ["Quintuplet+resample+cost", "Triplet+resample+cost", "Softmax+resample+cost",
                                    "Softmax", "Quintuplet", "CRL(I) relative"])
def test_attributes_train_the_same_together_as_alone(method):
    """Frozen features: training A heads in one multi-label run = training each attribute alone."""
    source, labels, val_labels = problem(2)
    torch.manual_seed(0)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    start = copy.deepcopy(heads.state_dict())
    b = budget()
    train_heads(heads, source, labels, val_labels, method, b)
    together = heads.state_dict()
    for a in range(A):
        alone = nets.AttributeHeads(FEAT, 1, hidden=16, embedding_dim=8)
        alone.load_state_dict({k: v[a:a + 1] for k, v in start.items()})
        train_heads(alone, source, labels[:, a:a + 1], val_labels[:, a:a + 1], method, b, ids=[a])
        for name, p in alone.state_dict().items():
            torch.testing.assert_close(p[0], together[name][a], rtol=1e-4, atol=1e-5, msg=name)


def test_union_goes_through_the_source_once(monkeypatch):
    source, labels, _ = problem(3)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    c, method = budget(), get_method("Quintuplet+resample+cost")
    model, schedule, plans = plans_and_schedule(method, heads, source, labels, c, restrict=True)
    calls = []
    real = source.train_features
    monkeypatch.setattr(source, "train_features", lambda idx: calls.append(len(idx)) or real(idx))
    bounds = [losses.margin_upper_bounds([50, 40], 10)] * A
    _, n_union = step(method, model, labels, schedule[:, 0], plans, bounds, c)
    assert calls == [n_union] and n_union <= A * c.batch_size * 5
