"""Ranking and tuned-threshold metrics (issue 19): scikit-learn, brute force, hand-worked cases, and a stub
whose validation and test optima differ (the threshold must come from validation)."""
import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from lmle_core.metrics import (apply_biases, apply_thresholds, average_precision, balanced_accuracy, read_twice,
                               roc_auc, tune_class_biases, tune_thresholds)
from lmle_core.study.ranking_gains import gain_scatter, means_table, ranking_gains

matplotlib.use("Agg")


def attributes(n=400, rates=(0.5, 0.1, 0.03, 0.8), seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, len(rates))) < rates).astype(int)
    s = rng.normal(size=y.shape) + 1.2 * y
    return y, (np.round(s, 1) if ties else s)


# ------------------------------------------------------------------------------------------ AUC, AP
@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_ap_match_scikit_learn_per_attribute(ties):
    y, s = attributes(ties=ties)
    np.testing.assert_allclose(roc_auc(y, s), [roc_auc_score(y[:, a], s[:, a]) for a in range(4)])
    np.testing.assert_allclose(average_precision(y, s), [average_precision_score(y[:, a], s[:, a]) for a in range(4)])
    assert roc_auc(y[:, 1], s[:, 1]) == pytest.approx(roc_auc_score(y[:, 1], s[:, 1]))
    assert average_precision(y[:, 1], s[:, 1]) == pytest.approx(average_precision_score(y[:, 1], s[:, 1]))


def test_multiclass_macro_one_vs_rest_matches_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(average_precision(y, p, per_class=True), average_precision_score(onehot, p, average=None))
    assert average_precision(y, p) == pytest.approx(average_precision_score(onehot, p, average="macro"))


def test_a_single_class_column_is_nan_not_a_crash():
    y, s = attributes()
    y[:, 2] = 0
    auc, ap = roc_auc(y, s), average_precision(y, s)
    assert np.isnan(auc[2]) and np.isnan(ap[2]) and np.isfinite(np.delete(auc, 2)).all()
    assert np.isnan(tune_thresholds(y, s)[2])
    rep = read_twice(y, s, y, s, (s > 0).astype(int), names=["a", "b", "c", "d"])
    assert np.isnan(rep.per_task.loc["c", ["BA tuned", "AUC", "AP"]].astype(float)).all()
    assert rep.mean["AUC"] == pytest.approx(np.delete(auc, 2).mean())        # the mean skips it ...
    assert any("validation" in n and "c" in n for n in rep.notes)             # ... and says why
    assert any(n.startswith("test split holds a single class for c") for n in rep.notes)


def test_bad_input_is_a_clear_error():
    y, s = attributes()
    s[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        roc_auc(y, s)
    with pytest.raises(ValueError, match="must be"):
        roc_auc(y[:, 0], s[:10, 0])
    with pytest.raises(ValueError, match="0 or 1"):
        tune_thresholds(y + 1, np.nan_to_num(s))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        roc_auc(np.array([0, 1, 3]), np.zeros((3, 3)))


# ------------------------------------------------------------------------------------ thresholds
def test_threshold_by_hand():
    # sorted scores 0.9 (+), 0.8 (-), 0.6 (+), 0.3 (-), 0.2 (-): cuts give BA 1/2 (nothing positive),
    # (1/2 + 1)/2 = 3/4, (1/2 + 2/3)/2, (1 + 2/3)/2 = 5/6 (top three), (1 + 1/3)/2, (1 + 0)/2
    y = np.array([1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.6, 0.3, 0.2])
    assert tune_thresholds(y, s) == pytest.approx(0.45)        # the midpoint of the gap 0.6 | 0.3
    # two equally good gaps (0.9 | 0.8 with BA 1, and none other): ties between scores are never cut
    y2, s2 = np.array([1, 1, 0, 0]), np.array([0.7, 0.7, 0.7, 0.1])
    assert tune_thresholds(y2, s2) == pytest.approx(0.4)        # between 0.7 and 0.1, not inside the tie


def test_threshold_maximises_validation_balanced_accuracy_brute_force():
    y, s = attributes(n=300, seed=4, ties=True)
    thr = tune_thresholds(y, s)
    for a in range(y.shape[1]):
        values = np.unique(s[:, a])
        candidates = np.concatenate([[values[0] - 1], (values[1:] + values[:-1]) / 2, [values[-1] + 1]])
        best = max(balanced_accuracy_score(y[:, a], s[:, a] > t) for t in candidates)
        assert balanced_accuracy_score(y[:, a], s[:, a] > thr[a]) == pytest.approx(best)
    np.testing.assert_array_equal(apply_thresholds(s, thr), (s > thr).astype(int))


def test_median_of_several_best_cuts():
    # 4 positives, 4 negatives: BA = (tp - fp + 4) / 8, and tp - fp down the ranking is 1 0 1 0 1 0 -1 0:
    # three best cuts (after the 1st, 3rd and 5th score); the middle one, 6 | 5, is chosen
    y = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    s = np.arange(8, 0, -1).astype(float)
    bas = {t: balanced_accuracy_score(y, s > t) for t in np.arange(0.5, 9, 1.0)}
    assert sorted(t for t, v in bas.items() if v == max(bas.values())) == [3.5, 5.5, 7.5]
    assert tune_thresholds(y, s) == pytest.approx(5.5)


def test_tuned_threshold_is_chosen_on_validation_never_on_test():
    """A stub whose validation optimum (threshold 1.5) differs from its test optimum (threshold -0.5)."""
    val_y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    val_s = np.array([3, 2.5, 2, 1, 0, -1, -2, -3], float)    # perfect split at 1.5
    test_y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    test_s = np.array([3, 1, 0, -0.2, -1, -2, -3, -4], float)  # perfect split at -0.5; 1.5 misses 3 positives
    rep = read_twice(val_y[:, None], val_s[:, None], test_y[:, None], test_s[:, None], (test_s > 0)[:, None].astype(int))
    assert rep.per_task["threshold"].iloc[0] == pytest.approx(1.5)
    assert rep.mean["BA tuned"] == pytest.approx(balanced_accuracy_score(test_y, test_s > 1.5))   # 0.625
    assert rep.mean["BA tuned"] < balanced_accuracy_score(test_y, test_s > -0.5) == 1.0
    # the test labels cannot move the threshold: shuffled test labels leave it where it was
    rng = np.random.default_rng(0)
    shuffled = read_twice(val_y, val_s, rng.permutation(test_y), test_s)
    assert shuffled.per_task["threshold"].iloc[0] == pytest.approx(1.5)


# ---------------------------------------------------------------------------------- class biases
HAND_SCORES = np.array([[2, 0, 0], [1, 0, 0.5],        # class 0
                        [0, 2, 0], [0, 1, 0.5],        # class 1
                        [1, 0, 0.6], [0, 1, 0.7]])     # class 2: argmax says 0 and 1
HAND_LABELS = np.array([0, 0, 1, 1, 2, 2])


def test_class_biases_by_hand():
    """Worked by hand (see the docstring of tune_class_biases). Start b = 0: recalls 1, 1, 0 (BA 2/3).
    Class 0: sample i becomes 0 iff b0 > t_i = max_{j != 0} s_ij - s_i0 = -2, -0.5, 2, 1, -0.4, 1; the
    cuts give 3, 4, 5, 4, (no cut inside the tie at 1), 3, 2 correct of 6: the best is between -0.5 and
    -0.4, b0 = -0.45 (sample 5 now goes to class 2). Class 1 with b0 = -0.45: t_i = 1.55, 0.55, -2,
    -0.5, 0.6, -0.3; the best cut, 6 of 6, lies between -0.5 and -0.3: b1 = -0.4. Class 2 is kept
    (BA is already 1), and the second sweep changes nothing."""
    b = tune_class_biases(HAND_LABELS, HAND_SCORES)
    np.testing.assert_allclose(b, [-0.45, -0.4, 0.0])
    assert balanced_accuracy(HAND_LABELS, apply_biases(HAND_SCORES, np.zeros(3))) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(apply_biases(HAND_SCORES, b), HAND_LABELS)


def test_class_biases_reach_a_coordinate_wise_optimum_brute_force():
    rng = np.random.default_rng(5)
    y = rng.choice(4, 400, p=[0.55, 0.25, 0.15, 0.05])
    s = rng.normal(size=(400, 4)) + 1.0 * np.eye(4)[y]
    b = tune_class_biases(y, s)
    got = balanced_accuracy(y, apply_biases(s, b))
    assert got > balanced_accuracy(y, apply_biases(s, np.zeros(4))) + 0.02
    grid = np.linspace(-4, 4, 801)
    for c in range(4):   # no single bias on a fine grid does better
        for v in grid:
            trial = b.copy()
            trial[c] = v
            assert balanced_accuracy(y, apply_biases(s, trial)) <= got + 1e-12


def test_read_twice_multiclass():
    rng = np.random.default_rng(2)

    def split(n):
        y = rng.choice(3, n, p=[0.7, 0.2, 0.1])
        return y, rng.normal(size=(n, 3)) + 1.2 * np.eye(3)[y] + np.array([0.8, 0, 0])   # biased to class 0

    (vy, vs), (ty, ts) = split(600), split(600)
    own = ts.argmax(1)
    rep = read_twice(vy, vs, ty, ts, own, names=["a", "b", "c"])
    assert rep.kind == "multiclass"
    assert rep.mean["BA own"] == pytest.approx(balanced_accuracy_score(ty, own))
    b = tune_class_biases(vy, vs)
    assert rep.mean["BA tuned"] == pytest.approx(balanced_accuracy_score(ty, apply_biases(ts, b)))
    assert rep.mean["BA tuned"] > rep.mean["BA own"]
    assert rep.mean["AUC"] == pytest.approx(np.mean([roc_auc_score(ty == c, ts[:, c]) for c in range(3)]))
    np.testing.assert_allclose(rep.per_task["bias"], b)


def test_read_twice_attributes_columns():
    y, s = attributes(seed=7)
    yt, st = attributes(seed=8)
    own = (st > 0).astype(int)
    rep = read_twice(y, s, yt, st, own)
    for a in range(4):
        assert rep.per_task["BA own"].iloc[a] == pytest.approx(balanced_accuracy_score(yt[:, a], own[:, a]))
        assert rep.per_task["BA tuned"].iloc[a] == pytest.approx(
            balanced_accuracy_score(yt[:, a], st[:, a] > tune_thresholds(y[:, a], s[:, a])))
    assert rep.mean["AP"] == pytest.approx(np.mean(average_precision(yt, st)))
    with pytest.raises(ValueError, match="same kind"):
        read_twice(y, s, yt[:, :3], st[:, :3])


# -------------------------------------------------------------------------------- gains and plot
def test_ranking_gains_by_hand():
    means = pd.DataFrame({"BA own": [74.0, 83.3, 61.8], "BA tuned": [82.0, 83.0, 80.0], "AUC": [90.0, 90.0, 88.0],
                          "AP": [60.0, 60.0, 55.0]}, index=pd.Index(["Softmax", "prior-corrected", "CRL"], name="method"))
    g = ranking_gains(means, "Softmax")
    assert g.loc["prior-corrected", "BA gain"] == pytest.approx(9.3)
    assert g.loc["prior-corrected", "tuned-BA gain"] == pytest.approx(1.0)
    assert g.loc["prior-corrected", "tuned share"] == pytest.approx(1.0 / 9.3)
    assert g.loc["prior-corrected", "AUC share"] == pytest.approx(0.0)
    assert g.loc["CRL", "AUC share"] == pytest.approx(-2.0 / -12.2)
    assert np.isnan(g.loc["Softmax", "tuned share"])
    with pytest.raises(ValueError, match="baseline"):
        ranking_gains(means, "LMLE")
    fig = gain_scatter(g)
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert labels == {"prior-corrected", "CRL"}
    matplotlib.pyplot.close(fig)


def test_means_table_from_reports():
    y, s = attributes()
    reports = {"A": read_twice(y, s, y, s, (s > 0).astype(int)), "B": read_twice(y, -s, y, -s, (s < 0).astype(int))}
    table = means_table(reports)
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "AUC"] == pytest.approx(100 * np.mean(roc_auc(y, s)))
    assert table.loc["B", "AUC"] == pytest.approx(100 - table.loc["A", "AUC"])
