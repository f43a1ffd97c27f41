"""Every method read twice through the study path (issue 19): validation scores travel with the results,
thresholds / class biases are tuned on them and never on test, and one table per study."""
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch

from lmle_core import experiments, metrics
from lmle_core.study.method_readings import PRIOR_COLUMN, gains_reading, read_methods, read_study
from lmle_core.study.ranking_gains import ranking_gains

matplotlib.use("Agg")


def stub(method, val_scores, val_labels, test_scores, test_labels, own=None, tasks=None):
    test_scores = np.asarray(test_scores, float)
    if own is None:
        own = (test_scores > 0).astype(int) if np.ndim(test_labels) == 2 else test_scores.argmax(1)
    return SimpleNamespace(method=method, val_scores=np.asarray(val_scores, float), val_labels=np.asarray(val_labels),
                           test_scores=test_scores, test_labels=np.asarray(test_labels), test_predictions=own,
                           tasks=tasks)


def test_threshold_is_tuned_on_validation_never_on_test():
    """Validation's best cut is 2.5 (all validation positives score 3), test's best is 0.5: BA tuned is
    the test BA at 2.5 (by hand: recall 2/4, specificity 1 -> 75 %), not the 100 % test's own optimum gives."""
    col = lambda x: np.asarray(x, float)[:, None]   # noqa: E731
    val_s, val_y = col([0, 1, 2, 3, 3]), col([0, 0, 0, 1, 1]).astype(int)
    test_s, test_y = col([0, 0, 1, 1, 3, 3]), col([0, 0, 1, 1, 1, 1]).astype(int)
    means = read_methods({"Softmax": stub("Softmax", val_s, val_y, test_s, test_y)})
    assert means.loc["Softmax", "BA tuned"] == pytest.approx(75.0)
    assert metrics.tune_thresholds(test_y, test_s)[0] == pytest.approx(0.5)      # the optimum we must not use
    # test scores never move the threshold; validation scores do
    moved_test = read_methods({"Softmax": stub("Softmax", val_s, val_y, test_s + col([0, 0, 5, 5, 0, 0]), test_y)})
    assert moved_test.loc["Softmax", "BA tuned"] == pytest.approx(100.0)         # same cut 2.5, new test scores
    moved_val = read_methods({"Softmax": stub("Softmax", col([0, 1, 2, 0.6, 0.7]) - 0.1, val_y, test_s, test_y)})
    assert moved_val.loc["Softmax", "BA tuned"] != pytest.approx(75.0)


def test_multiclass_biases_tuned_on_validation_and_seeds_averaged():
    rng = np.random.default_rng(0)
    y_val, y_test = rng.integers(0, 3, 60), rng.integers(0, 3, 80)
    s_val = rng.normal(size=(60, 3)) + 2 * np.eye(3)[y_val] + [0, 0, -3]
    s_test = rng.normal(size=(80, 3)) + 2 * np.eye(3)[y_test] + [0, 0, -3]
    runs = [stub("Softmax", s_val, y_val, s_test, y_test), stub("Softmax", s_val, y_val, s_test + 0.01, y_test)]
    other = stub("Focal", s_val + [0, 0, 3], y_val, s_test + [0, 0, 3], y_test)
    means = read_methods({"Softmax": runs, "Focal": other})
    b = metrics.tune_class_biases(y_val, s_val)
    expected = 100 * metrics.balanced_accuracy(y_test, metrics.apply_biases(s_test, b))
    assert means.loc["Focal", "seeds"] == 1 and means.loc["Softmax", "seeds"] == 2
    assert means.loc["Softmax", "BA own"] == pytest.approx(100 * metrics.balanced_accuracy(y_test, s_test.argmax(1)))
    assert means.loc["Softmax", "AUC"] == pytest.approx(100 * metrics.roc_auc(y_test, s_test))
    np.testing.assert_allclose(means.loc["Softmax", "BA tuned"],
                               np.mean([expected, 100 * metrics.balanced_accuracy(
                                   y_test, metrics.apply_biases(s_test + 0.01, b))]))
    assert np.isnan(means.loc["Focal", "BA own sd"]) and np.isnan(means.loc["Softmax", PRIOR_COLUMN])
    # the reading quotes the computed gains
    gains = ranking_gains(means)
    text = gains_reading(gains)
    assert f"{gains.loc['Focal', 'BA gain']:+.1f}" in text and f"AUC {gains.loc['Focal', 'AUC gain']:+.1f}" in text


def test_result_without_validation_scores_is_refused():
    r = stub("Softmax", np.zeros((3, 1)), np.zeros((3, 1), int), np.zeros((3, 1)), np.zeros((3, 1), int))
    r.val_scores = None
    with pytest.raises(ValueError, match="validation|val"):
        read_methods({"Softmax": r})


@pytest.mark.slow
def test_attribute_results_carry_validation_scores_through_run_method(tmp_path):
    """The real path: run_method on tiny synthetic attributes; the validation scores are the rule's
    decision_function on the validation split, thresholds come from them, the prior-corrected column
    equals the registered "Softmax (prior-corrected)" method, and CRL trains with kappa = all."""
    from tests.test_runcache import attribute_data
    from lmle_core import runcache

    torch.set_num_threads(1)
    data = attribute_data()
    budget = experiments.Budget.from_dict(dict(prior_iters=2, prior_batch_size=8, iters_per_round=2, max_rounds=1,
                                               batch_size=4, softmax_batch_size=8, cluster_size=5, knn_k=3,
                                               feature_dim=16, head_hidden=8, embedding_dim=4, crl_k="all"))
    cache = runcache.RunCache(tmp_path)
    res = {m: experiments.run_method(m, data, budget, progress=False, cache=cache)
           for m in ("Softmax", "Softmax (prior-corrected)", "LMLE-kNN", "CRL(C) relative")}
    for r in res.values():
        assert r.val_scores.shape == data.val.labels.shape and np.array_equal(r.val_labels, data.val.labels)
    soft = res["Softmax"]
    prior = soft.train_labels.mean(0)
    np.testing.assert_allclose(res["Softmax (prior-corrected)"].val_scores, soft.val_scores - np.log(prior / (1 - prior)),
                               rtol=1e-5, atol=1e-6)
    means = read_methods(res)
    assert means.loc["Softmax", PRIOR_COLUMN] == pytest.approx(means.loc["Softmax (prior-corrected)", "BA own"])
    assert np.isnan(means.loc["LMLE-kNN", PRIOR_COLUMN])
    th = metrics.tune_thresholds(soft.val_labels, soft.val_scores)
    tuned = metrics.attribute_metrics(soft.test_labels, metrics.apply_thresholds(soft.test_scores, th))
    assert means.loc["Softmax", "BA tuned"] == pytest.approx(100 * np.nanmean(
        np.where(np.isnan(th), np.nan, tuned["balanced_accuracy"])))
    report = SimpleNamespace(tables={}, figures={}, notes=[])
    report.table = lambda name, df, **kw: report.tables.__setitem__(name, df)
    report.figure = lambda name, fig, **kw: report.figures.__setitem__(name, fig)
    report.note = report.notes.append
    read_study(report, res, "t", what="tiny")
    assert set(report.tables) == {"t_ranking", "t_ranking_gains"} and "t_gain_scatter" in report.figures
    assert "CRL(C) relative" in report.notes[0]
    # the CRL run logged its batches per attribute during training; the others log nothing
    log = res["CRL(C) relative"].crl_log
    assert log.attribute.tolist() == ["A", "B"] and (log["logged batches"] >= 1).all()
    assert res["Softmax"].crl_log is None


@pytest.mark.parametrize("method", ["CRL(C) relative", "CRL(I) distribution"])
def test_training_log_leaves_training_unchanged(method):
    """The CRL log re-evaluates batches on detached copies: the trained heads are bit-identical with and
    without it, and the log has one row per attribute."""
    import copy

    from lmle_core import nets
    from lmle_core.losses.crl_log import record_crl_steps
    from tests.test_attributes import A, FEAT, budget, problem, train_heads

    source, labels, val_labels = problem(2)
    torch.manual_seed(0)
    start = nets.AttributeHeads(FEAT, A, hidden=16, embedding_dim=8)
    states = []
    for logged in (False, True):
        heads = copy.deepcopy(start)
        torch.manual_seed(1)
        if logged:
            with record_crl_steps(every=1) as log:
                train_heads(heads, source, labels, val_labels, method, budget(crl_k=0))
        else:
            train_heads(heads, source, labels, val_labels, method, budget(crl_k=0))
        states.append(heads.state_dict())
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name
    assert log.batches == log.calls >= 1 and len(log.table()) == A


def test_crl_search_is_staged_and_chooses_on_validation(monkeypatch):
    """crl_search with a stub trainer: validation BA is a known function of (kappa, eta, margin), test
    scores are built to prefer other values (they must be ignored). Stage 1 = kappa x eta at margin
    0.5, stage 2 = the other margins at the best pair; the distribution form has no stage 2."""
    from lmle_core.study import crl_search as cs

    def val_ba(k, eta, margin):
        return {5: 0.6, 0: 0.7}[k] + {0.01: 0.05, 1.0: 0.0}[eta] + {0.5: 0.0, 0.25: 0.02, 0.1: -0.1}[margin]

    calls = []

    def fake_run(name, data, b, progress=False, cache=None, attributes=None):
        calls.append((name, b.crl_k, b.crl_eta, b.crl_margin, attributes))
        y = np.array([[0], [1], [0], [1]])
        return SimpleNamespace(val_balanced_accuracy=np.array([val_ba(b.crl_k, b.crl_eta, b.crl_margin)]),
                               val_labels=y, val_scores=np.array([[0.0], [1.0], [0.2], [0.8]]),
                               test_scores=None, train_seconds=1.0, from_cache=False)

    monkeypatch.setattr(cs.experiments, "run_method", fake_run)
    budget = experiments.Budget()
    table, chosen = cs.crl_search(None, budget, ["CRL(C) relative", "CRL(I) distribution"], [5, "all"], [0.01, 1.0],
                                  [0.1, 0.25, 0.5], attributes=["Smiling"])
    assert chosen["CRL(C) relative"] == {"crl_k": 0, "crl_eta": 0.01, "crl_margin": 0.25}
    assert chosen["CRL(I) distribution"] == {"crl_k": 0, "crl_eta": 0.01, "crl_margin": 0.5}
    relative = [c for c in calls if c[0] == "CRL(C) relative"]
    assert relative[:4] == [("CRL(C) relative", k, e, 0.5, ["Smiling"]) for k in (5, 0) for e in (0.01, 1.0)]
    assert relative[4:] == [("CRL(C) relative", 0, 0.01, m, ["Smiling"]) for m in (0.1, 0.25)]
    assert len([c for c in calls if c[0] == "CRL(I) distribution"]) == 4
    assert table.chosen.sum() == 2 and set(table[table.chosen].kappa) == {"all"}
    assert table["validation AUC"].iloc[0] == pytest.approx(100.0)
    spread = cs.search_spread(table).set_index("method")
    assert spread.loc["CRL(C) relative", "val BA range"] == pytest.approx(100 * (0.77 - 0.6))   # max: all, 0.01, 0.25; min: 5, 1, 0.5
    with pytest.raises(ValueError, match="not a CRL method"):
        cs.crl_search(None, budget, ["Softmax"], [5], [1.0], [0.5])
    with pytest.raises(ValueError, match="kappas"):
        cs.crl_search(None, budget, ["CRL(C) relative"], [], [1.0], [0.5])


def test_eq3_knn_score_ranks_a_hand_made_case():
    """Eq. 3 score s_1 - s_0 on two classes of two centroids each, k = all four: for q = (x, 0.5),
    squared distances are x^2 + 1/4 to class 0 and (4 - x)^2 + 1/4 to class 1, so s_1 = 8x - 16,
    s_0 = 16 - 8x and the score is 16x - 32 (by hand): it ranks the queries by x, AUC 1."""
    from lmle_core.classifiers import LMLEKNNClassifier

    rule = LMLEKNNClassifier.from_centroids([[0, 0], [0, 1], [4, 0], [4, 1]], [0, 0, 1, 1], k=4)
    x = np.array([0.5, 1.0, 2.0, 3.0, 3.5])
    score = rule.decision_function(np.stack([x, np.full_like(x, 0.5)], 1).astype(np.float32))
    np.testing.assert_allclose(score, 16 * x - 32, atol=1e-4)
    assert metrics.roc_auc(np.array([0, 0, 0, 1, 1]), score) == 1.0
    assert rule.predict(np.array([[1.0, 0.5], [3.0, 0.5]], np.float32)).tolist() == [0, 1]
