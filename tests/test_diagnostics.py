"""Collapse diagnostics against hand-worked tables, brute force and scikit-learn."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from lmle_core import diagnostics as dg

# 1-D points on a line (as 2-D rows): every D an exact integer. D from point 0 at the origin:
# 1: 1, 2: 9, 3: 4, 4: 25, 5: 36, 6: 16 ; from point 6 at (-4, 0): 7 (at 7): 121, 4 (at -5): 1
X = np.array([[0, 0], [1, 0], [3, 0], [2, 0], [-5, 0], [6, 0], [-4, 0], [7, 0]], dtype=np.float64)
Y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
# hardest-like rows: [anchor, p+, p-, p--, n]
REVERSED = np.array([[0, 5, 3, 5, 6],      # D 36, 4, 36, 16: g1 reversed, g2 kept, g3 reversed
                     [6, 7, -1, 7, 4],     # D 121, -, 121, 1: g1, g2 masked, g3 reversed
                     [1, -1, -1, -1, -1]])  # not mined: left out of every share
ORDERED = np.array([[0, 1, 3, 2, 6],       # D 1, 4, 9, 16: the order holds
                    [6, -1, -1, -1, 4]])   # only n: every term masked


def test_member_distances_and_reversals_by_hand():
    d = dg.member_distances(X, REVERSED)
    np.testing.assert_array_equal(d[0], [36, 4, 36, 16])
    np.testing.assert_array_equal(d[1], [121, np.nan, 121, 1])
    r = dg.order_reversals(X, REVERSED)
    assert r == {"reversed_g1": 1.0, "reversed_g2": 0.0, "reversed_g3": 1.0, "reversed_any": 1.0,
                 "masked_g1": 0.5, "masked_g2": 0.5, "masked_g3": 0.0}
    r = dg.order_reversals(X, ORDERED)
    assert r["reversed_g1"] == r["reversed_g2"] == r["reversed_g3"] == r["reversed_any"] == 0.0
    assert (r["masked_g1"], r["masked_g2"], r["masked_g3"]) == (0.5, 0.5, 0.5)
    # a triplet table [anchor, p, n]: D(0,5) = 36 > D(0,6) = 16 reversed; D(6,7) = 121 > D(6,4) = 1 reversed;
    # D(1,0) = 1 < D(1,6) = 25 kept
    t = dg.order_reversals(X, np.array([[0, 5, 6], [6, 7, 4], [1, 0, 6]]))
    assert t["reversed_g"] == pytest.approx(2 / 3) and t["reversed_any"] == pytest.approx(2 / 3)


def test_hub_concentration_by_hand():
    table = np.array([[0, 1, 2, 3, 6], [1, 0, 2, 3, 6], [2, 1, 0, 3, 6], [3, 1, 0, 2, 7], [4, -1, 5, 1, 6],
                      [5, -1, -1, -1, -1]])
    h = dg.hub_concentration(table, top=1)
    # n: 6 four times, 7 once -> 4/5; p--: 3 three times of 5 -> 3/5; p-: 2 and 0 twice each (5 once),
    # the tie to the lower id (0) -> 2/5; p+: 1 three times of 4 (one missing) -> 3/4
    assert h == {"hub_p+": 0.75, "hub_p-": 0.4, "hub_p--": 0.6, "hub_n": 0.8}
    assert dg.hub_concentration(table, top=2)["hub_n"] == 1.0


def test_table_losses_by_hand():
    out = dg.table_losses(X, REVERSED, margins=(1.0, 2.0, 3.0))
    # row 0: [1 + 36 - 4]+ + [2 + 4 - 36]+ + [3 + 36 - 16]+ = 33 + 0 + 23 = 56; row 6: only g3: 3 + 121 - 1 = 123
    assert out["loss"] == pytest.approx((56 + 123) / 2)
    # collapsed (every D = 0): row 0: 1 + 2 + 3, row 6: 3
    assert out["collapsed_loss"] == pytest.approx((6 + 3) / 2)
    # below the start: the reversed table's hinge is lower at a point than here (issue 18)
    assert out["collapsed_loss"] < out["loss"]
    # euclidean: row 0: [1 + 6 - 2]+ + [2 + 2 - 6]+ + [3 + 6 - 4]+ = 5 + 0 + 5; row 6: 3 + 11 - 1 = 13
    assert dg.table_losses(X, REVERSED, (1.0, 2.0, 3.0), distance="euclidean")["loss"] == pytest.approx(11.5)
    # ordered: [1 + 1 - 4]+ + [2 + 4 - 9]+ + [3 + 9 - 16]+ = 0 on row 0, row 6 all masked
    ordered = dg.table_losses(X, ORDERED, (1.0, 2.0, 3.0))
    assert ordered["loss"] == 0.0 and ordered["collapsed_loss"] == pytest.approx(3.0)
    # per-row margins and weights: row 0 weighs 3, row 6 weighs 1 (rows as the table's)
    g = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0], [9.0, 9.0, 9.0]])
    w = np.array([3.0, 1.0, 0.0])
    out = dg.table_losses(X, REVERSED, g, weights=w)
    assert out["loss"] == pytest.approx((3 * 56 + 125) / 2)
    assert out["collapsed_loss"] == pytest.approx((3 * 6 + 5) / 2)
    # triplet table, one margin
    tri = dg.table_losses(X, np.array([[0, 5, 6], [1, 0, 6]]), 2.0)
    assert tri["loss"] == pytest.approx((2 + 36 - 16 + 0) / 2) and tri["collapsed_loss"] == 2.0


def test_class_pair_distances_against_brute_force_expectation():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [7, 4, 2])
    x = rng.normal(size=(len(y), 3)) + 3 * y[:, None]
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    same = y[:, None] == y[None]
    # an anchor drawn uniformly, then a partner uniformly among its class (not itself) / the other classes
    within = np.mean([d[i, same[i] & (np.arange(len(y)) != i)].mean() for i in range(len(y))])
    between = np.mean([d[i, ~same[i]].mean() for i in range(len(y))])
    out = dg.class_pair_distances(x, y, n_pairs=400_000, seed=1)
    assert out["within_class_distance"] == pytest.approx(within, rel=0.01)
    assert out["between_class_distance"] == pytest.approx(between, rel=0.01)
    assert out["random_distance"] == pytest.approx(2 * (x ** 2).sum(1).mean())
    # never an anchor with itself: two distinct points per class, all pairs at D = 1 within a class
    x2 = np.array([[0, 0], [1, 0], [10, 0], [11, 0]], dtype=float)
    out = dg.class_pair_distances(x2, [0, 0, 1, 1], n_pairs=1000)
    assert out["within_class_distance"] == 1.0


def test_linear_probe_matches_sklearn_and_reads_chance_on_a_point():
    rng = np.random.default_rng(0)
    y = rng.choice(3, 600, p=[0.6, 0.3, 0.1])
    x = rng.normal(size=(600, 4)) + 1.5 * np.eye(4)[y]
    xe, ye = x[:400], y[:400]
    held = slice(400, None)
    want = balanced_accuracy_score(y[held], LogisticRegression(max_iter=500, class_weight="balanced")
                                   .fit(xe, ye).predict(x[held]))
    assert dg.linear_probe(xe, ye, x[held], y[held]) == pytest.approx(want)
    assert want > 0.7
    point = np.ones((600, 4))
    assert dg.linear_probe(point[:400], ye, point[held], y[held]) == pytest.approx(1 / 3)


def _sphere_classes(n=600, d=16, spread=0.15, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(4, n, p=[0.5, 0.3, 0.15, 0.05])
    x = np.eye(d)[y] + spread * rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


def _table_for(x, y):
    """A plain table: each anchor's nearest same-class point as all three same-class members, nearest other."""
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    same = y[:, None] == y[None]
    pos = np.where(same, d, np.inf).argmin(1)
    neg = np.where(~same, d, np.inf).argmin(1)
    return np.stack([np.arange(len(y)), pos, pos, pos, neg], 1)


def test_collapse_report_passes_a_healthy_embedding_and_flags_a_point():
    x, y = _sphere_classes()
    table = _table_for(x, y)
    margins = (0.1, 0.2, 0.3)
    healthy = dg.collapse_report(x, y, table, margins)
    assert not healthy["collapsed"] and healthy["collapse_reasons"] == ""
    assert healthy["between_class_distance"] > 1.5 and healthy["probe_balanced_accuracy"] > 0.95
    assert healthy["reversed_g3"] == 0.0 and healthy["mined_rows"] == len(y)
    point = np.tile(x[:1], (len(x), 1))                           # every embedding the same point
    collapsed = dg.collapse_report(point, y, table, margins, reference=healthy)
    assert collapsed["collapsed"]
    assert collapsed["collapse_reasons"] == ("between-class distance at the floor; between-class distance shrunk "
                                             "from the start; loss at the collapsed value")
    assert collapsed["loss"] == pytest.approx(collapsed["collapsed_loss"]) == pytest.approx(0.6)
    assert collapsed["probe_balanced_accuracy"] == pytest.approx(0.25)
    # nearly a point (a 1e-3 spread around one direction): the floor catches it without a reference
    rng = np.random.default_rng(1)
    near = x[:1] + 1e-3 * rng.normal(size=x.shape)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    assert dg.collapse_report(near, y, probe=False)["collapse_reasons"] == "between-class distance at the floor"


def test_collapse_rule_criteria_one_at_a_time():
    x, y = _sphere_classes(seed=2)
    table = _table_for(x, y)
    start = dg.collapse_report(x, y, table, (0.1, 0.2, 0.3), probe=False)
    # shrunk 20-fold towards one point but above the floor: flagged only against the start
    shrunk = x[:1] + (x - x[:1]) / np.sqrt(20)
    only_shrink = dg.collapse_report(shrunk, y, probe=False, reference=start)
    assert only_shrink["collapse_reasons"] == "between-class distance shrunk from the start"
    assert not dg.collapse_report(shrunk, y, probe=False, rule=dg.CollapseRule(floor=0.0))["collapsed"]
    # the training loss at the collapsed value (here 0.6, every term of every row valid)
    at_point = dg.collapse_report(x, y, table, (0.1, 0.2, 0.3), probe=False, observed_loss=0.6 * 1.005)
    assert at_point["collapse_reasons"] == "loss at the collapsed value"
    assert not dg.collapse_report(x, y, table, (0.1, 0.2, 0.3), probe=False, observed_loss=0.6 * 1.05)["collapsed"]


def test_balance_classes_weighs_each_class_the_same():
    # classes 0 (6 rows) and 1 (2 rows): row i has only its g3 term, margin 1 for class 0 rows, 4 for class 1
    x = np.arange(8, dtype=float)[:, None] * np.array([[1.0, 0.0]])
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    table = np.array([[i, -1, -1, (i + 1) % 6 if i < 6 else 6 + (7 - i), 7 if i < 6 else 0] for i in range(8)])
    g = np.where(y[:, None] == 0, [0.0, 0.0, 1.0], [0.0, 0.0, 4.0])
    plain = dg.collapse_report(x, y, table, g, probe=False)
    balanced = dg.collapse_report(x, y, table, g, probe=False, balance_classes=True)
    assert plain["collapsed_loss"] == pytest.approx((6 * 1 + 2 * 4) / 8)
    assert balanced["collapsed_loss"] == pytest.approx((1 + 4) / 2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="table"):
        dg.order_reversals(X, np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="table ids"):
        dg.member_distances(X, np.array([[0, 1, 2, 3, 99]]))
    with pytest.raises(ValueError, match="margins"):
        dg.table_losses(X, REVERSED, (1.0, 2.0))
    with pytest.raises(ValueError, match="margins"):
        dg.collapse_report(X, Y, REVERSED, probe=False)
    with pytest.raises(ValueError, match="embeddings"):
        dg.collapse_report(X[:5], Y, probe=False)


def test_report_gives_the_mean_member_distances():
    rep = dg.collapse_report(X, Y, REVERSED, (1.0, 2.0, 3.0), probe=False)
    # mined rows 0 and 6: p+ 36 and 121, p- 4 only, p-- 36 and 121, n 16 and 1
    assert (rep["mean_D_p+"], rep["mean_D_p-"], rep["mean_D_p--"], rep["mean_D_n"]) == (78.5, 4.0, 78.5, 8.5)
    assert rep["mined_rows"] == 2
