"""LargeMarginKNN against a direct loop over Eq. 3; InstanceKNN against brute-force majority votes."""
import numpy as np
import pytest

from lmle_core.knn import InstanceKNN, LargeMarginKNN


def eq3_loop(query, centroids, labels, k):
    d = ((centroids - query) ** 2).sum(1)
    order = np.argsort(d, kind="stable")[:k]
    neigh_d, neigh_y = d[order], labels[order]
    if len(set(neigh_y.tolist())) == 1:
        return neigh_y[0]
    best, best_c, best_first = -np.inf, None, None
    for c in dict.fromkeys(neigh_y.tolist()):  # classes in order of their nearest neighbour
        score = neigh_d[neigh_y != c].min() - neigh_d[neigh_y == c].max()
        if score > best:
            best, best_c = score, c
    return best_c


def majority_loop(query, points, labels, k):
    d = ((points - query) ** 2).sum(1)
    order = np.argsort(d, kind="stable")[:k]
    votes = {}
    for y in labels[order]:
        votes[y] = votes.get(y, 0) + 1
    top = max(votes.values())
    return next(y for y in labels[order] if votes[y] == top)  # tie: class of the nearer neighbour


@pytest.mark.parametrize("n_classes", [2, 3, 10, 151])
def test_large_margin_knn_matches_eq3(n_classes, search_backend):
    rng = np.random.default_rng(n_classes)
    m = max(60, 3 * n_classes)
    centroids = rng.normal(size=(m, 6)).astype(np.float32)
    labels = rng.integers(0, n_classes, m)
    queries = rng.normal(size=(300, 6)).astype(np.float32)
    got = LargeMarginKNN(k=20, batch_size=64).fit(centroids, labels).predict(queries)
    want = np.array([eq3_loop(q, centroids.astype(np.float64), labels, 20) for q in queries])
    np.testing.assert_array_equal(got, want)


def test_all_neighbours_one_class_take_it():
    centroids = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], np.float32)
    knn = LargeMarginKNN(k=2).fit(centroids, [3, 3, 7])
    assert knn.predict(np.array([[0.05, 0.0]], np.float32)).tolist() == [3]


def test_large_margin_differs_from_majority_when_minority_is_tight():
    # 1 minority centroid right next to the query, 4 majority centroids farther away:
    # majority vote says 0; Eq. 3 says 1 (max own distance 0.01 < min other 1.0).
    centroids = np.array([[0.1, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], np.float32)
    labels = np.array([1, 0, 0, 0, 0])
    q = np.zeros((1, 2), np.float32)
    assert LargeMarginKNN(k=5).fit(centroids, labels).predict(q).tolist() == [1]
    assert InstanceKNN(k=5).fit(centroids, labels).predict(q).tolist() == [0]


@pytest.mark.parametrize("k", [1, 5, 20])
def test_instance_knn_majority(k, search_backend):
    rng = np.random.default_rng(k)
    pts = rng.normal(size=(400, 5)).astype(np.float32)
    labels = rng.integers(0, 4, 400)
    queries = rng.normal(size=(100, 5)).astype(np.float32)
    got = InstanceKNN(k=k).fit(pts, labels).predict(queries)
    want = [majority_loop(q, pts.astype(np.float64), labels, k) for q in queries]
    np.testing.assert_array_equal(got, want)


def test_k_larger_than_fitted_points_and_errors():
    knn = LargeMarginKNN(k=20).fit(np.eye(3, dtype=np.float32), [0, 1, 1])
    assert knn.predict(np.eye(3, dtype=np.float32)).shape == (3,)
    with pytest.raises(RuntimeError, match="fit"):
        LargeMarginKNN().predict(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="labels"):
        LargeMarginKNN().fit(np.zeros((2, 2)), [0])
