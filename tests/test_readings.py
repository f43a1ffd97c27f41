"""Issue 18 wired into training: the budget's readings (member selection, hinge distance, per-margin
factors), collapse measured per round in the round logs, and the paper's rotating CelebA batches."""
import numpy as np
import pytest
import torch

from lmle_core import losses, nets, sampling
from lmle_core.attributes import AttributeModel, CachedFeatures
from lmle_core.training.batches import balanced_attribute, rotating_schedule
from lmle_core.methods import Budget, get_method
from lmle_core.training import TrainTask, train
from lmle_core.training.loop import _costs, _schedule
from lmle_core.training.state import collapse_summary

N_IMG, FEAT, A = 90, 12, 3


def problem(seed=0):
    """Cached features of N images and their mirrors; A attributes of positive rates 0.5, 0.2, 0.1."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.random(N_IMG) < p for p in (0.5, 0.2, 0.1)], 1).astype(np.int64)
    base = rng.normal(size=(N_IMG, FEAT)) + labels @ rng.normal(size=(A, FEAT))
    mirror = base + rng.normal(scale=0.1, size=base.shape)
    t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    source = CachedFeatures(t(np.concatenate([base, mirror])), t(rng.normal(size=(40, FEAT))),
                            t(rng.normal(size=(30, FEAT))), n_images=N_IMG)
    val_labels = (rng.random((40, A)) < 0.3).astype(np.int64)
    return source, np.concatenate([labels, labels]), val_labels


def budget(**kw):
    base = dict(iters_per_round=4, max_rounds=2, patience=2, batch_size=8, softmax_batch_size=8, lr=0.05,
                cluster_size=10, subset_fraction=1.0, margin_scale=0.5, knn_k=3, seed=0)
    return Budget(**{**base, **kw})


def run(method, **kw):
    source, labels, val_labels = problem()
    torch.manual_seed(0)
    heads = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    task = TrainTask(labels, val_labels, task_ids=list(range(A)), groups=source.groups())
    return train(AttributeModel(heads, source), task, get_method(method), budget(**kw), progress=False)


def test_budget_checks_the_new_fields():
    for bad in ({"selection": "hardest-ish"}, {"margin_distance": "cosine"}, {"attribute_batches": "all"},
                {"margin_factors": (1.0, 0.5)}, {"margin_factors": (1.0, 0.0, 1.0)}, {"margin_factors": "abc"}):
        with pytest.raises(ValueError, match=f"budget.{next(iter(bad))}"):
            Budget(**bad)
    assert Budget().margin_scales() == 0.5                       # one scale: the pre-issue-18 path
    assert Budget(margin_scale=0.4, margin_factors=[1, 0.5, 0.25]).margin_scales() == (0.4, 0.2, 0.1)


def test_per_margin_factors_scale_each_bound():
    bounds = losses.margin_upper_bounds([50, 30, 20], 10)
    g = losses.TripleHeaderHingeLoss().margins(bounds, Budget(margin_scale=0.5, margin_factors=(1, 0.5, 2)).margin_scales(),
                                               np.array([0, 2]))
    np.testing.assert_allclose(g, [[0.5 * bounds.g1, 0.25 * bounds.g2[0], bounds.g3],
                                   [0.5 * bounds.g1, 0.25 * bounds.g2[2], bounds.g3]])
    t = losses.TripletHingeLoss().margins(bounds, (0.5, 0.25, 2.0), np.array([0, 1]))
    np.testing.assert_allclose(t, [2 * bounds.g3] * 2)        # the triplet's one margin is the inter-class g3


def test_euclidean_hinge_reaches_the_loss(monkeypatch):
    seen = []
    loss = get_method("Quintuplet+resample+cost").objective.loss
    real = type(loss).__call__
    monkeypatch.setattr(type(loss), "__call__", lambda self, *a, **k: seen.append(k["distance"]) or real(self, *a, **k))
    run("Quintuplet+resample+cost", max_rounds=1, iters_per_round=1, margin_distance="euclidean")
    assert seen == ["euclidean"]
    # the euclidean hinge on a hand case: |a-p+| = 1, |a-p-| = 2, |a-p--| = 3, |a-n| = 1 on a line
    x = torch.tensor([[[0.0], [1.0], [2.0], [3.0], [-1.0]]])
    got = loss(x, torch.tensor([0.5, 0.5, 0.5]), distance="euclidean")
    assert float(got) == pytest.approx(0.0 + 0.0 + (0.5 + 3 - 1))


@pytest.mark.parametrize("method", ["Quintuplet+resample+cost", "Triplet+resample+cost", "Quintuplet"])
def test_every_round_logs_its_collapse(method):
    res = run(method, triplet_mining="table")
    for log in res.history:
        c = log.collapse
        assert c is not None and c["loss"] == pytest.approx(log.mean_loss)
        assert 0 <= c["reversed_any"] <= 1 and c["within_class_distance"] >= 0 and c["collapsed_loss"] > 0
        assert isinstance(c["collapsed"], bool) and 0 <= c["collapsed_tasks"] <= A
        assert log.images_per_step > 0
    assert get_method("Softmax").head != "embedding" and run("Softmax").history[0].collapse is None


def test_order_consistent_tables_are_in_order_when_mined():
    """The reading's definition: no mined quintuplet reverses Eq. 1 at mining time; the literal
    extremes of this problem do."""
    hardest = run("Quintuplet+resample+cost", max_rounds=1)
    ordered = run("Quintuplet+resample+cost", max_rounds=1, selection="order-consistent")
    assert hardest.history[0].collapse["reversed_any"] > 0
    assert ordered.history[0].collapse["reversed_any"] == 0
    semi = run("Quintuplet+resample+cost", max_rounds=1, selection="semi-hard")
    assert semi.history[0].collapse["reversed_any"] == 0


def _report(between, loss=1.0, collapsed_loss=2.0, reasons=""):
    return {"within_class_distance": 0.5, "between_class_distance": between, "random_distance": 2.0,
            "reversed_any": 1.0, "collapsed_loss": collapsed_loss, "collapse_reasons": reasons}


def test_collapse_summary_flags_a_collapsed_round_and_passes_a_healthy_one():
    healthy = {"within_class_distance": 0.5, "between_class_distance": 1.5, "random_distance": 2.0}
    point = {"within_class_distance": 0.0, "between_class_distance": 0.0, "random_distance": 2.0}
    ok = collapse_summary([_report(1.5), _report(1.4)], 1.0, [healthy, healthy], [_report(1.5), _report(1.4)])
    assert not ok["collapsed"] and ok["collapsed_tasks"] == 0 and ok["collapsed_loss"] == 4.0
    # the round's loss at the sum of the tasks' collapsed values (2 + 2): collapsed, though distances look fine
    at = collapse_summary([_report(1.5), _report(1.4)], 4.01, [healthy, healthy], [_report(1.5), _report(1.4)])
    assert at["collapsed"] and "round loss at the collapsed value" in at["collapse_reasons"]
    # one task's embedding ends at a point
    end = collapse_summary([_report(1.5), _report(1.4)], 1.0, [healthy, point], [_report(1.5), _report(1.4)])
    assert end["collapsed"] and end["collapsed_tasks"] == 1


def test_rotating_batches_are_balanced_for_one_attribute_and_costed_for_the_others():
    source, labels, val_labels = problem()
    task = TrainTask(labels, val_labels, task_ids=list(range(A)), groups=source.groups())
    method = get_method("Quintuplet+resample+cost")
    b = budget(batch_size=10, iters_per_round=6, attribute_batches="rotating")
    schedule = _schedule(method, task, b, 1)
    assert schedule.shape == (A, 6, 10) and (schedule == schedule[:1]).all()   # one batch for every attribute
    unequal = 0
    for it in range(6):
        anchors = schedule[:, it]
        y = np.stack([labels[anchors[a], a] for a in range(A)])
        costs = _costs(task, b, y).numpy()
        bal = balanced_attribute(it, 1, 6, A)
        assert bal == (6 + it) % A
        assert np.bincount(y[bal], minlength=2).tolist() == [5, 5]            # balanced for this attribute
        np.testing.assert_array_equal(costs[bal], 1.0)
        for a in set(range(A)) - {bal}:                                        # the others: their in-batch costs
            np.testing.assert_allclose(costs[a], sampling.batch_costs(y[a]))
            unequal += not np.allclose(costs[a], 1.0)
    assert unequal > 0
    # the per-attribute scheme: every attribute balanced, every cost 1 (what makes +cost = +resample there)
    per = _schedule(method, task, budget(batch_size=10, iters_per_round=6), 1)
    y = np.stack([labels[per[a, 0], a] for a in range(A)])
    np.testing.assert_array_equal(_costs(task, b, y).numpy(), 1.0)
    with pytest.raises(ValueError, match="one seed per attribute"):
        rotating_schedule(labels, 10, 6, 0, [0])


def test_rotating_batches_send_fewer_images_through_the_trunk():
    per = run("Quintuplet+resample+cost", max_rounds=1)
    rot = run("Quintuplet+resample+cost", max_rounds=1, attribute_batches="rotating")
    assert rot.history[0].images_per_step < per.history[0].images_per_step


def test_profiles_name_only_known_readings():
    from lmle_core.study.config import Declared
    from lmle_core.study.value_ranges import check_range

    sel = Declared("selections", list, ["hardest", "order-consistent", "semi-hard"])
    assert check_range("selections", ["hardest", "semi-hard"], sel) is None
    assert "unknown reading" in check_range("selections", ["hardest", "softest"], sel)[1]
    cols = Declared("readings_columns", str, "last")
    assert check_range("readings_columns", "all", cols) is None
    assert "'last' or 'all'" in check_range("readings_columns", "every", cols)[1]


def test_readings_table_reports_spread_collapse_and_the_validation_best_reading():
    import pandas as pd

    from lmle_core.study import readings

    def log(collapsed, loss):
        return {"collapse": {"collapsed": collapsed, "reversed_any": 0.5, "hub_p--": 0.2, "hub_n": 0.4, "loss": loss,
                             "collapsed_loss": 1.2, "end_within_class_distance": 0.1,
                             "end_between_class_distance": 0.2}}

    cols = readings.collapse_columns([log(False, 2.0), log(True, 1.2)])
    assert cols["collapsed"] and cols["collapsed rounds"] == 1 and cols["hub p--/n (%)"] == pytest.approx(40)
    assert cols["loss (last round)"] == 1.2 and cols["reversed when mined (%)"] == 50
    assert np.isnan(readings.collapse_columns([{"round": 1}])["loss (last round)"])   # a softmax run
    runs = pd.DataFrame([{"method": "Q", "reading": r, "balanced_accuracy": a, "val_balanced_accuracy": v, **c}
                         for r, a, v, c in [("hardest", 50, 60, cols), ("hardest", 40, 62, cols),
                                            ("order-consistent", 70, 70, readings.collapse_columns([log(False, 2)])),
                                            ("order-consistent", 68, 66, readings.collapse_columns([log(False, 2)]))]])
    tab = readings.readings_table(runs, by=("method", "reading"))
    h, o = tab.set_index("reading").loc["hardest"], tab.set_index("reading").loc["order-consistent"]
    assert (h["test balanced accuracy"], h.spread, h.validation, h["collapsed runs"]) == (45, 10, 61, "2 of 2")
    assert (o["test balanced accuracy"], o.spread, o["collapsed runs"]) == (69, 2, "0 of 2")
    assert readings.best_readings(tab) == {"Q": "order-consistent"}
    note = readings.readings_note(tab, {"Q": "order-consistent"})
    assert "Collapsing in at least one run: Q [hardest]." in note and "test 45.0 (spread 10.0)" in note
