"""Issue 12's Table 5 protocol: margin search, own-copy exclusion, semi-hard triplets, both
classifiers, the budget curve and its controls (each against an independent expectation)."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from lmle_core import experiments, training
from lmle_core.mining import MiningContext, QuintupletMiner, miners
from lmle_core.data.augment import augment_digits
from lmle_core.experiments import Budget, MethodResult
from lmle_core.study import table5
from lmle_core.tasks import prepare_digits

TINY = dict(prior_iters=15, iters_per_round=6, max_rounds=2, patience=2, cluster_size=20, knn_k=5, lr=0.003)


@pytest.fixture(scope="module")
def digits_x3():
    return prepare_digits(removal_percent=40, augment_factor=3, seed=0)


def _fake_result(name, val, test):
    return MethodResult(method=name, description="", classifier="", balanced_accuracy=test,
                        per_class_accuracy={}, val_balanced_accuracy=val, test_predictions=np.zeros(1),
                        history=[], iterations=0, train_seconds=0.0, prior_seconds=0.0, images_per_second=0.0)


def test_margin_search_keeps_the_validation_best_scale_not_the_test_best(monkeypatch, digits_x3):
    # validation peaks at 0.25, test at 1.0: the search must follow validation
    val = {1.0: 0.60, 0.5: 0.70, 0.25: 0.75, 0.1: 0.65}
    test = {1.0: 0.90, 0.5: 0.70, 0.25: 0.60, 0.1: 0.50}
    seen = []

    def fake_run(name, data, budget, progress=True, **kw):
        seen.append(budget.margin_scale)
        return _fake_result(name, val[budget.margin_scale], test[budget.margin_scale])

    monkeypatch.setattr(experiments, "run_method", fake_run)
    best, table, results = experiments.search_margin("Quintuplet", digits_x3, Budget(**TINY), [1.0, 0.5, 0.25, 0.1])
    assert best == 0.25 and seen == [1.0, 0.5, 0.25, 0.1]
    assert table.set_index("margin_scale").chosen.to_dict() == {1.0: False, 0.5: False, 0.25: True, 0.1: False}
    assert results[0.25].val_balanced_accuracy == 0.75
    seen.clear()  # softmax has no margin: one run at the budget's scale
    best, _, _ = experiments.search_margin("Softmax", digits_x3, Budget(**TINY, margin_scale=0.5), [1.0, 0.1])
    assert best == 0.5 and seen == [0.5]


def test_margin_search_on_real_training_runs_picks_its_tables_maximum(digits_x3):
    best, table, results = experiments.search_margin("Quintuplet", digits_x3, Budget(**TINY), [0.5, 0.1],
                                                     progress=False)
    assert best == table.margin_scale[table.val_balanced_accuracy.idxmax()]
    assert set(results) == {0.5, 0.1}


def test_no_quintuplet_member_is_a_copy_of_its_anchors_digit(digits_x3):
    data = digits_x3
    groups = data.train_groups
    assert groups is not None and len(groups) == len(data.train)
    net, _ = experiments.softmax_prior(data, Budget(**TINY), progress=False)
    feats = training.embed(net, data.train)
    labels = data.train.labels.astype(np.int64)
    miner = QuintupletMiner()
    table = miner.mine(feats, labels, MiningContext(seed=0, subset_fraction=1.0, cluster_size=20, groups=groups))["table"]
    members = table[:, 1:4]
    own = (members >= 0) & (groups[np.where(members >= 0, members, 0)] == groups[table[:, :1]])
    assert not own.any()
    # without groups the same data do pick the anchor's own copies (the test can fail)
    loose = miner.mine(feats, labels, MiningContext(seed=0, subset_fraction=1.0, cluster_size=20))["table"][:, 1:4]
    assert ((loose >= 0) & (groups[np.where(loose >= 0, loose, 0)] == groups[table[:, :1]])).any()


def test_run_method_passes_the_groups_only_when_asked(monkeypatch, digits_x3):
    got = []
    real = miners.build_quintuplets

    def spy(*a, groups=None, **kw):
        got.append(groups)
        return real(*a, groups=groups, **kw)

    monkeypatch.setattr(miners, "build_quintuplets", spy)
    small = {**TINY, "max_rounds": 1}
    experiments.run_method("Quintuplet", digits_x3, Budget(**small, exclude_own_copies=True), progress=False)
    experiments.run_method("Quintuplet", digits_x3, Budget(**small), progress=False)
    assert np.array_equal(got[0], digits_x3.train_groups) and got[1] is None


def test_semihard_triplets_match_pytorch_metric_learning():
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import distances, miners

    from lmle_core.losses import semihard_triplet_loss, semihard_triplets, triplet_hinge

    torch.manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(80, 8), dim=1)
    y = torch.randint(0, 5, (80,))
    ref = miners.TripletMarginMiner(margin=0.3, type_of_triplets="semihard",
                                    distance=distances.LpDistance(normalize_embeddings=False, p=2, power=2))(x, y)
    ours = semihard_triplets(x, y, 0.3)
    assert set(zip(*[t.tolist() for t in ref])) == set(zip(*[t.tolist() for t in ours]))
    assert pml is not None and len(ours[0]) > 0
    # the loss is the hinge over exactly those triplets, weighted at the anchor
    w = torch.rand(80)
    a, p, n = ours
    expected = triplet_hinge(x[a], x[p], x[n], 0.3, weights=w[a])
    assert torch.allclose(semihard_triplet_loss(x, y, 0.3, w), expected)


def test_semihard_triplet_batch_has_as_many_images_as_a_quintuplet_batch(digits_x3):
    b = Budget(**{**TINY, "triplet_mining": "semi-hard", "batch_size": 8, "iters_per_round": 3, "max_rounds": 1})
    sizes = []
    real = experiments.ImageModel.raw_rows
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(experiments.ImageModel, "raw_rows", lambda self, rows: sizes.append(rows.size) or real(self, rows))
        res = experiments.run_method("Triplet+resample+cost", digits_x3, b, progress=False)
    # 5 x batch_size images per step, like 8 quintuplets
    assert res.history[0]["images_per_second"] > 0 and sizes == [40] * 3


def test_both_classifiers_read_each_trained_net(digits_x3):
    for name, other in (("Softmax", "large-margin cluster kNN (Eq. 3)"),
                        ("Quintuplet", "linear probe (logistic regression)")):
        r = experiments.run_method(name, digits_x3, Budget(**TINY), progress=False, other_classifier=True)
        assert r.other_classifier == other and 0.0 <= r.other_balanced_accuracy <= 1.0


def test_curve_records_the_asked_iterations_without_changing_the_training(digits_x3):
    b = Budget(**TINY)
    plain = experiments.run_method("Quintuplet", digits_x3, b, progress=False)
    curved = experiments.run_method("Quintuplet", digits_x3, b, progress=False, curve_iters=[2, 6, 12])
    assert [c["iteration"] for c in curved.curve] == [2, 6, 12]
    np.testing.assert_array_equal(plain.test_predictions, curved.test_predictions)
    # the curve's point at a round end is the round's own net: the final one equals the result when round 2 won
    if curved.history[-1]["val_balanced_accuracy"] >= curved.history[0]["val_balanced_accuracy"]:
        assert curved.curve[-1]["test_balanced_accuracy"] == pytest.approx(curved.balanced_accuracy)


def test_controls_keep_round_one_plan_and_lower_the_learning_rate(monkeypatch, digits_x3):
    plans, lrs = [], []
    cls = type(experiments.get_method("Quintuplet").objective)
    real_plan, real_step = cls.plan_round, cls.step
    monkeypatch.setattr(cls, "plan_round", lambda self, p: plans.append(1) or real_plan(self, p))

    def spy(self, batch):
        lrs.append(spy.opt_lr())
        return real_step(self, batch)

    opt_holder = {}
    real_sgd = torch.optim.SGD
    monkeypatch.setattr(torch.optim, "SGD", lambda *a, **k: opt_holder.setdefault("opt", real_sgd(*a, **k)))
    spy.opt_lr = lambda: opt_holder["opt"].param_groups[-1]["lr"]
    b = Budget(**{**TINY, "iters_per_round": 2, "max_rounds": 3, "patience": 5, "lr": 0.01, "recluster": False,
                  "lr_decay": 0.1})
    experiments.softmax_prior(digits_x3, b, progress=False)       # the prior first: its optimiser is another
    opt_holder.clear()
    monkeypatch.setattr(cls, "step", spy)
    experiments.run_method("Quintuplet", digits_x3, b, progress=False)
    assert len(plans) == 1  # round 1's clusters and quintuplets serve every round
    np.testing.assert_allclose(lrs, [0.01, 0.01, 0.001, 0.001, 1e-4, 1e-4])


def test_table5_seed_table_and_ordering_by_hand():
    runs = pd.DataFrame([
        {"method": m, "column": "remove_40", "seed": s, "balanced_accuracy": v}
        for m, vals in {"Quintuplet+resample+cost": [70, 72], "Quintuplet": [69, 70], "Triplet+resample+cost": [60, 61]}.items()
        for s, v in enumerate(vals)])
    t = table5.seed_table(runs, list(table5.PAPER_ORDER), ["remove_40"]).set_index("method")
    assert t.loc["Quintuplet+resample+cost", "remove_40"] == 71 and t.loc["Quintuplet", "remove_40 spread"] == 1
    v = table5.ordering_verdicts(t.reset_index(), ["remove_40"])
    # 71 - 69.5 = 1.5 <= spread 2 -> tie; 69.5 - 60.5 = 9 > 1 -> holds
    assert v.verdict.tolist() == ["tie", "holds"]
    assert table5.column_name(40) == "remove_40" and table5.column_name(40, 10) == "remove_40_ratio10"


def test_augment_digits_reflection_padding_leaves_no_black_corners():
    rng = np.random.default_rng(0)
    x = rng.integers(60, 256, (20, 28, 28), dtype=np.uint8)  # a textured image with no black pixel
    zero, _, _ = augment_digits(x, np.zeros(20, int), factor=3, seed=1, padding="zeros")
    refl, _, _ = augment_digits(x, np.zeros(20, int), factor=3, seed=1, padding="reflection")
    assert (zero[20:, 0, 0] == 0).mean() > 0.3          # the artefact the issue measured
    assert (refl[20:] < 30).sum() == 0                  # reflection: nothing darker than the input's range
