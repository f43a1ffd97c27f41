"""Metrics against scikit-learn and hand counts."""
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from lmle_core.metrics import (balanced_accuracy, imbalance_level, mean_balanced_accuracy,
                               per_attribute_balanced_accuracy)


def test_binary_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([1, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    # tp/Np = 1/3, tn/Nn = 5/7
    assert balanced_accuracy(y, p) == pytest.approx(0.5 * (1 / 3 + 5 / 7))


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_matches_sklearn(n_classes):
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 500)
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, n_classes, 500))
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


def test_attribute_mean():
    rng = np.random.default_rng(0)
    Y = (rng.random((200, 4)) < [0.5, 0.1, 0.02, 0.9]).astype(int)
    P = np.where(rng.random((200, 4)) < 0.7, Y, 1 - Y)
    per = per_attribute_balanced_accuracy(Y, P)
    np.testing.assert_allclose(per, [balanced_accuracy_score(Y[:, a], P[:, a]) for a in range(4)])
    assert mean_balanced_accuracy(Y, P) == pytest.approx(per.mean())


def test_imbalance_level():
    Y = np.array([[1, 0], [0, 0], [1, 0], [1, 1]])
    np.testing.assert_allclose(imbalance_level(Y), [25.0, 25.0])


def test_length_mismatch():
    with pytest.raises(ValueError, match="labels"):
        balanced_accuracy([0, 1], [0])


def test_attribute_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score, recall_score

    from lmle_core.metrics import attribute_metrics

    rng = np.random.default_rng(3)
    Y = (rng.random((300, 6)) < [0.5, 0.1, 0.02, 0.9, 0.3, 0.3]).astype(int)
    P = (rng.random((300, 6)) < 0.3).astype(int)
    P[:, 4] = 0  # nothing predicted positive: precision 0
    got = attribute_metrics(Y, P)
    for a in range(6):
        assert got["balanced_accuracy"][a] == pytest.approx(balanced_accuracy_score(Y[:, a], P[:, a]))
        assert got["accuracy"][a] == pytest.approx(accuracy_score(Y[:, a], P[:, a]))
        assert got["precision"][a] == pytest.approx(precision_score(Y[:, a], P[:, a], zero_division=0))
        assert got["recall"][a] == pytest.approx(recall_score(Y[:, a], P[:, a]))
    np.testing.assert_allclose(got["balanced_accuracy"], per_attribute_balanced_accuracy(Y, P))


def test_multiclass_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score, recall_score

    from lmle_core.metrics import multiclass_metrics

    rng = np.random.default_rng(4)
    y = rng.choice(5, 400, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    p = np.where(rng.random(400) < 0.6, y, rng.integers(0, 4, 400))  # class 4 never predicted
    got = multiclass_metrics(y, p)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["precision"] == pytest.approx(precision_score(y, p, average="macro", zero_division=0))
    assert got["recall"] == pytest.approx(recall_score(y, p, average="macro"))


@pytest.mark.parametrize("y_true, y_pred, words", [
    ([], [], r"^y_true is empty"),
    ([0, 1, np.nan], [0, 1, 1], r"^y_true holds 1 non-finite"),
    ([0, 1, 1], [0, 0.5, 1], r"^y_pred must hold integer class labels, found 0.5"),
    (["cat", "dog"], ["cat", "cat"], r"^y_true must hold integer class labels, got dtype <U3"),
])
def test_bad_labels_are_named(y_true, y_pred, words):
    """Issue 21: NaN or fractional labels counted as classes of their own; empty input gave nan."""
    from lmle_core.metrics import multiclass_metrics, per_class_recall

    for fn in (balanced_accuracy, multiclass_metrics, per_class_recall):
        with pytest.raises(ValueError, match=words):
            fn(y_true, y_pred)


def test_attribute_labels_must_be_binary():
    """CelebA's raw -1 / 1 read as booleans would be all positive: named instead."""
    from lmle_core.metrics import attribute_metrics

    y = np.array([[1, 0], [0, 1]])
    for fn in (per_attribute_balanced_accuracy, attribute_metrics):
        with pytest.raises(ValueError, match=r"^y_true must hold binary 0/1 labels, found -1"):
            fn(np.where(y == 1, 1, -1), y)
        with pytest.raises(ValueError, match=r"^y_pred must hold binary 0/1 labels, found 0.7"):
            fn(y, y * 0.7)
        with pytest.raises(ValueError, match=r"^y_true is empty"):
            fn(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"^binary_labels must hold binary 0/1 labels, found nan"):
        imbalance_level(np.array([[0.0, np.nan]]))
    np.testing.assert_allclose(imbalance_level(y.astype(bool)), [0.0, 0.0])
