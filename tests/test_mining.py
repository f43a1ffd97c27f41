"""Quintuplet rows against a brute-force loop over the definitions of LMLE Sec. 3.1."""
import numpy as np
import pytest

from lmle_core.mining import build_quintuplets, nearest_other_class, select_candidates


def brute_force_quintuplets(x, labels, clusters, candidates, groups=None):
    n = len(x)
    groups = np.arange(n) if groups is None else groups
    cand = set(candidates.tolist())
    out = np.full((n, 5), -1, dtype=np.int64)
    for i in range(n):
        out[i, 0] = i
        best = {"p+": (-np.inf, -1), "p-": (np.inf, -1), "p--": (-np.inf, -1), "n": (np.inf, -1)}
        for j in range(n):
            if j == i or j not in cand:
                continue
            d = float(((x[i].astype(np.float64) - x[j]) ** 2).sum())
            if labels[j] == labels[i] and groups[j] == groups[i]:
                continue  # a copy of the anchor's own source image is never a member
            if labels[j] == labels[i]:
                if clusters[j] == clusters[i] and d > best["p+"][0]:
                    best["p+"] = (d, j)
                if clusters[j] != clusters[i] and d < best["p-"][0]:
                    best["p-"] = (d, j)
                if d > best["p--"][0]:
                    best["p--"] = (d, j)
            elif d < best["n"][0]:
                best["n"] = (d, j)
        out[i, 1:] = [best[k][1] for k in ("p+", "p-", "p--", "n")]
    return out


def _random_problem(n=240, d=8, n_classes=3, n_clusters=9, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, n_classes, n)
    # clusters nested in classes: cluster id encodes its class
    clusters = labels * 100 + rng.integers(0, n_clusters // n_classes, n)
    return x, labels, clusters


@pytest.fixture(params=["default tiles", "small tiles"])
def tiles(request, monkeypatch):
    """Small tiles exercise the tile loop, cluster-disjoint tiles and running reductions."""
    if request.param == "small tiles":
        import lmle_core.search as search
        monkeypatch.setattr(search, "_tile_sizes", lambda device: (16, 24))
    return request.param


@pytest.mark.parametrize("seed", [0, 1])
def test_quintuplets_match_brute_force_full_subset(seed, search_backend, tiles):
    x, labels, clusters = _random_problem(seed=seed)
    table = build_quintuplets(x, labels, clusters, subset_fraction=1.0, seed=seed)
    expected = brute_force_quintuplets(x, labels, clusters, np.arange(len(x)))
    np.testing.assert_array_equal(table, expected)


def test_quintuplets_match_brute_force_on_random_subset(search_backend, tiles):
    x, labels, clusters = _random_problem(n=200, seed=3)
    table = build_quintuplets(x, labels, clusters, subset_fraction=0.5, seed=11)
    cand = select_candidates(len(x), 0.5, 11)
    assert len(cand) == 100
    np.testing.assert_array_equal(table, brute_force_quintuplets(x, labels, clusters, cand))
    members = table[:, 1:]
    assert np.isin(members[members >= 0], cand).all()


def test_missing_members_are_minus_one(search_backend):
    # class 0 has a single cluster (no p-), sample 5 is alone in its cluster (no p+),
    # and with one class there is no negative at all.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    clusters = np.array([0, 0, 0, 1, 1, 2])
    t = build_quintuplets(x, labels, clusters, subset_fraction=1.0)
    assert (t[:3, 2] == -1).all()          # p- missing for the one-cluster class
    assert t[5, 1] == -1                   # p+ missing for a singleton cluster
    assert (t[:, 4] >= 0).all()
    single = build_quintuplets(x, np.zeros(6, int), np.zeros(6, int), subset_fraction=1.0)
    assert (single[:, 4] == -1).all() and (single[:, 2] == -1).all()
    np.testing.assert_array_equal(single[:, 0], np.arange(6))


def test_nearest_other_class_is_column_n(search_backend):
    x, labels, clusters = _random_problem(n=150, seed=5)
    t = build_quintuplets(x, labels, clusters, subset_fraction=0.5, seed=2)
    np.testing.assert_array_equal(nearest_other_class(x, labels, 0.5, seed=2), t[:, 4])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="subset_fraction"):
        build_quintuplets(np.zeros((3, 2)), [0, 1, 1], [0, 1, 1], subset_fraction=0)
    with pytest.raises(ValueError, match="same length"):
        build_quintuplets(np.zeros((3, 2)), [0, 1], [0, 1, 1])


def test_quintuplets_exclude_the_anchors_own_copies(search_backend, tiles):
    """Mirror images / augmented copies share a group: none is a member of its source's quintuplet."""
    x, labels, clusters = _random_problem(n=120, seed=5)
    copies = x + np.random.default_rng(0).normal(scale=0.01, size=x.shape).astype(np.float32)
    # the copies form clusters of their own (as augmented copies can), inside the same classes
    x2, labels2, clusters2 = np.concatenate([x, copies]), np.tile(labels, 2), np.concatenate([clusters, clusters + 50])
    groups = np.tile(np.arange(len(x)), 2)
    table = build_quintuplets(x2, labels2, clusters2, subset_fraction=1.0, groups=groups)
    np.testing.assert_array_equal(table, brute_force_quintuplets(x2, labels2, clusters2, np.arange(len(x2)), groups))
    members = table[:, 1:4]
    assert not ((members >= 0) & (groups[np.maximum(members, 0)] == groups[:, None])).any()
    # without groups the near-identical copy in the other cluster is the anchor's p-
    plain = build_quintuplets(x2, labels2, clusters2, subset_fraction=1.0)
    assert ((plain[:, 1:4] >= 0) & (groups[np.maximum(plain[:, 1:4], 0)] == groups[:, None])).any()


def test_table_for_the_anchors_of_a_round_only(search_backend):
    """Mining only the anchors a round will draw gives exactly their rows of the full table."""
    x, labels, clusters = _random_problem(n=150, seed=7)
    full = build_quintuplets(x, labels, clusters, subset_fraction=0.5, seed=2)
    anchors = np.random.default_rng(0).choice(150, 40, replace=False)
    part = build_quintuplets(x, labels, clusters, subset_fraction=0.5, seed=2, anchors=anchors)
    np.testing.assert_array_equal(part[anchors], full[anchors])
    others = np.setdiff1d(np.arange(150), anchors)
    assert (part[others, 1:] == -1).all() and (part[:, 0] == np.arange(150)).all()
    neg = nearest_other_class(x, labels, 0.5, seed=2, anchors=anchors)
    np.testing.assert_array_equal(neg[anchors], full[anchors, 4])
    assert (neg[others] == -1).all()


@pytest.mark.parametrize("features, labels, assignments, words", [
    (np.array([[0.0, np.nan], [1, 1], [2, 2]]), [0, 1, 1], [0, 1, 1], r"^features holds 1 non-finite"),
    (np.array([[0.0, -np.inf], [1, 1], [2, 2]]), [0, 1, 1], [0, 1, 1], r"^features holds 1 non-finite"),
    (np.zeros((0, 2)), [], [], r"^features is empty"),
    (np.zeros((3, 2)), ["a", "b", "b"], [0, 1, 1], r"^labels must hold integer class labels"),
    (np.zeros((3, 2)), [0, 1, 1], [0, 1.5, 1], r"^assignments must hold integer class labels, found 1.5"),
    (np.zeros((3, 2)), [0, np.nan, 1], [0, 1, 1], r"^labels holds 1 non-finite"),
])
def test_bad_input_is_a_value_error_naming_the_argument(features, labels, assignments, words):
    """Issue 21: NaN features were mined (arbitrary members); strings gave raw numpy errors."""
    with pytest.raises(ValueError, match=words):
        build_quintuplets(features, labels, assignments)
    if "assignments" not in words:
        with pytest.raises(ValueError, match=words):
            nearest_other_class(features, labels)


def test_nearest_other_class_length_mismatch_is_named():
    with pytest.raises(ValueError, match=r"^labels has 2 entries for 3 feature rows"):
        nearest_other_class(np.zeros((3, 2)), [0, 1])
