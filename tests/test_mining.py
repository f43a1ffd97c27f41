"""Quintuplet rows against a brute-force loop over the definitions of LMLE Sec. 3.1."""
from pathlib import Path

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
        monkeypatch.setattr(search, "tile_sizes", lambda device: (16, 24))
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
# ---- member selection (issue 18): the hardest tables frozen, the order-keeping readings by hand ----

GOLDEN = Path(__file__).parent / "golden" / "quintuplets_hardest_927424a.npz"


def golden_cases():
    """Seeded inputs of the golden tables: the tables in GOLDEN were written by build_quintuplets at
    commit 927424a (before ``selection`` existed) from exactly these inputs (torch and faiss alike)."""
    rng = np.random.default_rng(2016)
    n, d = 420, 16
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.choice(4, n, p=[0.55, 0.25, 0.15, 0.05])
    clusters = labels * 100 + np.where(labels == 3, 0, rng.integers(0, 3, n))  # class 3: one cluster (no p-)
    groups = rng.integers(0, n // 3, n)
    anchors = np.sort(rng.choice(n, 150, replace=False))
    base = dict(features=x, labels=labels, assignments=clusters)
    return {
        "half": dict(base, subset_fraction=0.5, seed=3),
        "full": dict(base, subset_fraction=1.0, seed=0),
        "groups": dict(base, subset_fraction=0.5, seed=5, groups=groups),
        "anchors": dict(base, subset_fraction=0.5, seed=7, groups=groups, anchors=anchors),
    }


@pytest.mark.parametrize("case", ["half", "full", "groups", "anchors"])
def test_hardest_is_bit_identical_to_the_tables_before_selection(case, search_backend):
    golden = np.load(GOLDEN)[case]
    kwargs = golden_cases()[case]
    np.testing.assert_array_equal(build_quintuplets(**kwargs), golden)
    np.testing.assert_array_equal(build_quintuplets(**kwargs, selection="hardest"), golden)
    # margins are read by the semi-hard band only
    np.testing.assert_array_equal(build_quintuplets(**kwargs, margins=(0.1, 0.2, 0.3)), golden)


# Hand case (2-D, integer coordinates so every D is an exact integer). Class A = 0 with clusters 0 and 1,
# class B = 1 with cluster 2. D from the anchor 0 at the origin, written beside each point:
HAND_X = np.array([[0, 0],     # 0  A c0  the anchor
                   [1, 0],     # 1  A c0  D = 1
                   [3, 0],     # 2  A c0  D = 9
                   [2, 0],     # 3  A c1  D = 4
                   [-5, 0],    # 4  A c1  D = 25
                   [6, 0],     # 5  A c0  D = 36
                   [-4, 0],    # 6  B c2  D = 16
                   [7, 0],     # 7  B c2  D = 49
                   [-2, -2],   # 8  A c1  D = 8
                   [-1, 2]],   # 9  A c0  D = 5
                  dtype=np.float32)
HAND_Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 0])
HAND_C = np.array([0, 0, 0, 1, 1, 0, 2, 2, 1, 0])


def _hand(selection="hardest", **kw):
    return build_quintuplets(HAND_X, HAND_Y, HAND_C, subset_fraction=1.0, selection=selection, **kw)


def test_hand_case_hardest(search_backend):
    t = _hand()
    # p+ farthest of c0 {1:1, 2:9, 5:36, 9:5} = 5; p- nearest of c1 {3:4, 4:25, 8:8} = 3;
    # p-- farthest of A = 5 (36); n nearest of B {6:16, 7:49} = 6: the order 36 > 4 and 36 > 16 reversed
    np.testing.assert_array_equal(t[0], [0, 5, 3, 5, 6])
    # anchor 6 (B, one cluster): p+ = 7 (its only cluster mate), no p-, p-- = 7; n: D from (-4, 0) to
    # the A points: 1:25, 2:49, 3:36, 4:1, 5:100, 8:8, 9:13, 0:16 -> 4
    np.testing.assert_array_equal(t[6], [6, 7, -1, 7, 4])


def test_hand_case_order_consistent(search_backend):
    t = _hand("order-consistent")
    # n = 6 (16); p-- farthest of A below 16 {1:1, 2:9, 3:4, 8:8, 9:5} = 2 (9); p- nearest of c1 below 9
    # {3:4, 8:8} = 3 (4); p+ farthest of c0 below 4 {1:1} = 1: 1 < 4 < 9 < 16
    np.testing.assert_array_equal(t[0], [0, 1, 3, 2, 6])
    # anchor 6: n = 4 (D 1); no B point nearer than 1 (7 is at 121): p--, p-, p+ all missing
    np.testing.assert_array_equal(t[6], [6, -1, -1, -1, 4])
    # the anchor's own group excluded: with 2 a copy of 0, p-- = farthest below 16 of {1, 3, 8, 9} = 8 (8),
    # p- = nearest of c1 below 8 {3:4} = 3, p+ = farthest of c0 below 4 = 1
    groups = np.array([0, 1, 0, 3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(_hand("order-consistent", groups=groups)[0], [0, 1, 3, 8, 6])


def test_hand_case_semi_hard(search_backend):
    # g2 = 3 (squared units): p-'s band [9 - 3, 9) = [6, 9) holds 8 (8) -> p- = 8, and then p+ = farthest
    # of c0 below 8 {1:1, 9:5} = 9; p-- and n as order-consistent
    np.testing.assert_array_equal(_hand("semi-hard", margins=(0.0, 3.0, 0.0))[0], [0, 9, 8, 2, 6])
    # g1 and g3 change no choice (module docstring of mining.ordered)
    np.testing.assert_array_equal(_hand("semi-hard", margins=(50.0, 3.0, 50.0))[0], [0, 9, 8, 2, 6])
    # g2 = 0.5: the band [8.5, 9) is empty -> the order-consistent p- (3) and p+ (1) stay
    np.testing.assert_array_equal(_hand("semi-hard", margins=(0.0, 0.5, 0.0))[0], [0, 1, 3, 2, 6])
    # per-anchor margins: row 0 gets g2 = 3
    per_anchor = np.zeros((10, 3))
    per_anchor[0, 1] = 3.0
    np.testing.assert_array_equal(_hand("semi-hard", margins=per_anchor)[0], [0, 9, 8, 2, 6])
    # euclidean units: sqrt(D(a,p-)) >= sqrt(9) - g2. g2 = 0.2: >= 2.8, i.e. D >= 7.84: 8 is in;
    # g2 = 0.1: D >= 8.41: nothing -> 3. In squared units g2 = 0.2 is the empty band [8.8, 9).
    np.testing.assert_array_equal(_hand("semi-hard", margins=(0, 0.2, 0), distance="euclidean")[0], [0, 9, 8, 2, 6])
    np.testing.assert_array_equal(_hand("semi-hard", margins=(0, 0.1, 0), distance="euclidean")[0], [0, 1, 3, 2, 6])
    np.testing.assert_array_equal(_hand("semi-hard", margins=(0, 0.2, 0))[0], [0, 1, 3, 2, 6])


def brute_force_ordered(x, labels, clusters, candidates, groups=None, g2=None, distance="squared"):
    """ordered.py's rules, one anchor and one candidate at a time, in float64."""
    n = len(x)
    groups = np.arange(n) if groups is None else groups
    out = np.full((n, 5), -1, dtype=np.int64)
    out[:, 0] = np.arange(n)
    for i in range(n):
        d = {j: float(((x[i].astype(np.float64) - x[j]) ** 2).sum()) for j in candidates
             if j != i and not (labels[j] == labels[i] and groups[j] == groups[i])}
        pick = lambda keys, f: f(keys, key=lambda j: (d[j], j)) if keys else -1  # noqa: E731
        other = [j for j in d if labels[j] != labels[i]]
        same = [j for j in d if labels[j] == labels[i]]
        n_i = pick(other, min)
        up = d[n_i] if n_i >= 0 else np.inf
        pmm = pick([j for j in same if d[j] < up], max)
        up = d[pmm] if pmm >= 0 else up
        off = [j for j in same if clusters[j] != clusters[i] and d[j] < up]
        pm = pick(off, min)
        if g2 is not None and pmm >= 0:
            edge = d[pmm] - g2[i] if distance == "squared" else np.sqrt(d[pmm]) - g2[i]
            inside = [j for j in off if (d[j] if distance == "squared" else np.sqrt(d[j])) >= edge]
            pm = pick(inside, min) if inside else pm
        up = d[pm] if pm >= 0 else up
        pp = pick([j for j in same if clusters[j] == clusters[i] and d[j] < up], max)
        out[i, 1:] = [pp, pm, pmm, n_i]
    return out


def _structured_problem(n=220, d=3, seed=0):
    """Classes as blobs of cluster blobs (3-D): the literal members still reverse Eq. 1 often, but most
    anchors have members that keep it, so the order-keeping readings have choices to make."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    sub = rng.integers(0, 3, n)
    class_centre = rng.normal(scale=3.0, size=(3, d))
    cluster_offset = rng.normal(scale=1.0, size=(3, 3, d))
    x = class_centre[labels] + cluster_offset[labels, sub] + rng.normal(scale=0.5, size=(n, d))
    return x.astype(np.float32), labels, labels * 100 + sub


@pytest.mark.parametrize("selection,distance", [("order-consistent", "squared"), ("semi-hard", "squared"),
                                                ("semi-hard", "euclidean")])
def test_ordered_selections_match_brute_force(selection, distance, search_backend, tiles):
    x, labels, clusters = _structured_problem(seed=4)
    groups = np.random.default_rng(1).integers(0, 150, len(x))
    g = np.random.default_rng(2).uniform(0.2, 1.5, (len(x), 3))
    kw = dict(margins=g, distance=distance) if selection == "semi-hard" else {}
    table = build_quintuplets(x, labels, clusters, subset_fraction=0.6, seed=9, groups=groups,
                              selection=selection, **kw)
    cand = select_candidates(len(x), 0.6, 9)
    expected = brute_force_ordered(x, labels, clusters, cand, groups, g[:, 1] if kw else None, distance)
    np.testing.assert_array_equal(table, expected)
    assert (table[:, 1:] >= 0).mean() > 0.5          # the case exercises members, not only -1s
    if selection == "semi-hard":                     # and the band moved some p-
        plain = build_quintuplets(x, labels, clusters, subset_fraction=0.6, seed=9, groups=groups,
                                  selection="order-consistent")
        assert (plain[:, 2] != table[:, 2]).sum() > 5


@pytest.mark.parametrize("selection", ["order-consistent", "semi-hard"])
def test_ordered_members_keep_eq1_order(selection, search_backend):
    x, labels, clusters = _structured_problem(n=300, seed=8)
    t = build_quintuplets(x, labels, clusters, 0.5, seed=1, selection=selection, margins=(0.3, 0.6, 0.9))
    d = np.where(t >= 0, ((x[:, None, :] - x[np.maximum(t, 0)]) ** 2).sum(-1), np.nan)
    # every pair of consecutive existing members is strictly ordered
    for lo in range(1, 4):
        for hi in range(lo + 1, 5):
            have = (t[:, lo] >= 0) & (t[:, hi] >= 0)
            assert (d[have, lo] < d[have, hi]).all()
    # and n is the hardest table's n
    np.testing.assert_array_equal(t[:, 4], build_quintuplets(x, labels, clusters, 0.5, seed=1)[:, 4])


def test_selection_arguments_are_checked():
    x, y, c = HAND_X, HAND_Y, HAND_C
    with pytest.raises(ValueError, match="selection"):
        build_quintuplets(x, y, c, selection="hard")
    with pytest.raises(ValueError, match="margins"):
        build_quintuplets(x, y, c, selection="semi-hard")
    with pytest.raises(ValueError, match="margins"):
        build_quintuplets(x, y, c, selection="semi-hard", margins=(0.1, 0.2))
    with pytest.raises(ValueError, match="margins"):
        build_quintuplets(x, y, c, selection="semi-hard", margins=(0.1, -0.2, 0.3))
    with pytest.raises(ValueError, match="distance"):
        build_quintuplets(x, y, c, selection="semi-hard", margins=(0.1, 0.2, 0.3), distance="cosine")
