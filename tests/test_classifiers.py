"""Decision rules as estimators: bad input is a ValueError naming it (issue 21, cases 5 and 7)."""
import numpy as np
import pytest

from lmle_core.classifiers import InstanceKNNClassifier, LMLEKNNClassifier


def _data(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    return (rng.normal(size=(n, d)) + 3 * y[:, None]).astype(np.float32), y


def test_knn_k_larger_than_the_clusters_is_named():
    x, y = _data()
    with pytest.raises(ValueError, match="knn_k=20 exceeds the"):
        LMLEKNNClassifier(k=20, cluster_size=10, seed=0).fit(x, y)   # 60 points / 10 -> 6 clusters


@pytest.mark.parametrize("rule", [LMLEKNNClassifier(k=3, cluster_size=10, seed=0), InstanceKNNClassifier(k=3)])
def test_non_finite_input_is_refused_not_answered(rule):
    """faiss answers a NaN query with index -1 (the last training point's label): refused instead."""
    x, y = _data()
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        rule.fit(bad, y)
    rule.fit(x, y)
    query = x[:5].copy()
    query[2, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        rule.predict(query)
    assert rule.predict(x[:5]).shape == (5,)
