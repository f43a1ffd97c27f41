"""cluster_per_class: cluster counts, same-class membership, nearest-centroid assignment."""
import numpy as np
import pytest

from lmle_core.clustering import cluster_per_class


def test_counts_membership_and_assignment(search_backend):
    rng = np.random.default_rng(0)
    sizes = {0: 1000, 1: 250, 2: 90, 3: 430}
    labels = np.concatenate([np.full(n, c) for c, n in sizes.items()])
    x = rng.normal(size=(len(labels), 6)).astype(np.float32) + labels[:, None]
    res = cluster_per_class(x, labels, cluster_size=200, seed=1)
    per_class = res.clusters_per_class()
    for c, n in sizes.items():
        # max(1, round(N_c / l)) clusters, fewer only if k-means left one empty
        assert 1 <= per_class[c] <= max(1, round(n / 200))
    assert per_class[0] >= 4 and per_class[2] == 1
    # every sample's cluster belongs to its own class
    np.testing.assert_array_equal(res.centroid_labels[res.assignments], labels)
    # every sample sits in its nearest centroid of its class
    for i in range(0, len(x), 7):
        own = np.flatnonzero(res.centroid_labels == labels[i])
        d = ((res.centroids[own] - x[i]) ** 2).sum(1)
        assert res.assignments[i] == own[np.argmin(d)] or \
            np.isclose(d.min(), ((res.centroids[res.assignments[i]] - x[i]) ** 2).sum(), rtol=1e-4)
    assert (res.sizes() > 0).all()


def test_seeded_and_ids_are_global(search_backend):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 900)
    x = rng.normal(size=(900, 4)).astype(np.float32)
    a = cluster_per_class(x, labels, cluster_size=100, seed=5)
    b = cluster_per_class(x, labels, cluster_size=100, seed=5)
    np.testing.assert_array_equal(a.assignments, b.assignments)
    assert set(np.unique(a.assignments)) == set(range(a.n_clusters))
    assert np.all(np.diff(a.centroid_labels) >= 0)  # class by class


def test_centroids_are_cluster_means_for_well_separated_blobs(search_backend):
    rng = np.random.default_rng(2)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    x = np.concatenate([c + 0.1 * rng.normal(size=(100, 2)) for c in centers]).astype(np.float32)
    labels = np.zeros(400, int)
    res = cluster_per_class(x, labels, cluster_size=100, seed=0)
    assert res.n_clusters == 4
    for k in range(4):
        np.testing.assert_allclose(res.centroids[k], x[res.assignments == k].mean(0), atol=1e-3)


def test_errors():
    with pytest.raises(ValueError, match="cluster_size"):
        cluster_per_class(np.zeros((4, 2)), [0, 0, 1, 1], cluster_size=0)
    with pytest.raises(ValueError, match="labels"):
        cluster_per_class(np.zeros((4, 2)), [0, 0, 1], cluster_size=2)


@pytest.mark.parametrize("features, labels, cluster_size, words", [
    (np.array([[0.0, np.nan], [1, 1], [2, 2], [3, 3]]), [0, 0, 1, 1], 2, r"^features holds 1 non-finite"),
    (np.array([[0.0, np.inf], [1, 1], [2, 2], [3, 3]]), [0, 0, 1, 1], 2, r"^features holds 1 non-finite"),
    (np.zeros((0, 2)), [], 2, r"^features is empty"),
    (np.zeros((4, 2)), ["a", "a", "b", "b"], 2, r"^labels must hold integer class labels, got dtype <U1"),
    (np.zeros((4, 2)), [0, 0.5, 1, 1], 2, r"^labels must hold integer class labels, found 0.5"),
    (np.zeros((4, 2)), [0, np.nan, 1, 1], 2, r"^labels holds 1 non-finite"),
    (np.zeros((4, 2)), [0, 0, 1, 1], 2.5, r"^cluster_size must be a positive integer, got 2.5"),
    (np.zeros((4, 2)), [0, 0, 1, 1], -1, r"^cluster_size must be a positive integer, got -1"),
])
def test_bad_input_is_a_value_error_naming_the_argument(features, labels, cluster_size, words):
    """Issue 21: NaN features were clustered, string labels gave raw numpy / faiss errors."""
    with pytest.raises(ValueError, match=words):
        cluster_per_class(features, labels, cluster_size=cluster_size)


def test_whole_float_labels_still_work():
    a = cluster_per_class(np.arange(8.0)[:, None], [0, 0, 0, 0, 1, 1, 1, 1], cluster_size=2)
    b = cluster_per_class(np.arange(8.0)[:, None], np.array([0, 0, 0, 0, 1, 1, 1, 1], float), cluster_size=2)
    np.testing.assert_array_equal(a.assignments, b.assignments)
