"""Loss values against explicit loops, gradients by gradcheck, margin bounds by hand."""
import math

import numpy as np
import pytest
import torch

from lmle_core.losses import (MarginBounds, cost_sensitive_cross_entropy, euclidean_distance, extend_grid,
                              margin_scale_grid, margin_scales, margin_upper_bounds, quintuplet_term_mask,
                              squared_distance, triple_header_hinge, triplet_hinge)


def loop_triple_header(a, pp, pm, pmm, n, g, w=None, valid=None):
    total = 0.0
    for i in range(len(a)):
        d = [sum((a[i][k] - m[i][k]) ** 2 for k in range(len(a[i]))) for m in (pp, pm, pmm, n)]
        terms = [max(0.0, g[0] + d[0] - d[1]), max(0.0, g[1] + d[1] - d[2]), max(0.0, g[2] + d[2] - d[3])]
        if valid is not None:
            terms = [t if v else 0.0 for t, v in zip(terms, valid[i])]
        total += (1.0 if w is None else w[i]) * sum(terms)
    return total / len(a)


def _members(n=7, d=5, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=gen, dtype=dtype) * 0.6 for _ in range(5)]


def test_value_matches_loop():
    m = _members()
    g = (0.1, 0.3, 0.5)
    w = [0.5, 1.0, 2.0, 1.5, 0.2, 1.0, 0.8]
    got = triple_header_hinge(*m, margins=g, weights=torch.tensor(w, dtype=torch.float64))
    want = loop_triple_header(*[x.tolist() for x in m], g, w)
    assert got.item() == pytest.approx(want, rel=1e-12)
    assert triple_header_hinge(*m, margins=g).item() == pytest.approx(
        loop_triple_header(*[x.tolist() for x in m], g), rel=1e-12)


def test_per_sample_margins_and_valid_mask():
    m = _members(seed=1)
    g = torch.rand(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    valid = np.random.default_rng(0).random((7, 3)) > 0.4
    got = triple_header_hinge(*m, margins=g, valid=torch.as_tensor(valid)).item()
    total = sum(loop_triple_header(*[x[i:i + 1].tolist() for x in m], g[i].tolist(), valid=valid[i:i + 1])
                for i in range(7)) / 7
    assert got == pytest.approx(total, rel=1e-12)


def test_gradcheck_float64():
    m = [x.clone().requires_grad_(True) for x in _members(n=4, d=3, seed=3)]
    w = torch.tensor([1.0, 0.5, 2.0, 1.0], dtype=torch.float64)
    # margins chosen so no hinge sits exactly at its kink
    assert torch.autograd.gradcheck(lambda *a: triple_header_hinge(*a, margins=(0.13, 0.37, 0.71), weights=w),
                                    tuple(m), eps=1e-6, atol=1e-8)
    t = [x.clone().requires_grad_(True) for x in _members(n=4, d=3, seed=4)[:3]]
    assert torch.autograd.gradcheck(lambda a, p, n: triplet_hinge(a, p, n, 0.4, weights=w), tuple(t))


def test_triplet_matches_loop():
    a, p, n = _members(seed=5)[:3]
    want = np.mean([max(0.0, 0.3 + ((a[i] - p[i]) ** 2).sum().item() - ((a[i] - n[i]) ** 2).sum().item())
                    for i in range(len(a))])
    assert triplet_hinge(a, p, n, 0.3).item() == pytest.approx(want, rel=1e-12)


def test_zero_when_order_holds_with_margin():
    a = torch.zeros(1, 2)
    at = lambda r: torch.tensor([[r, 0.0]])  # noqa: E731  (member at distance r, D = r^2)
    loss = triple_header_hinge(a, at(0.1), at(0.5), at(0.8), at(1.2), margins=(0.1, 0.1, 0.1))
    assert loss.item() == 0.0
    loss = triple_header_hinge(a, at(0.5), at(0.1), at(0.8), at(1.2), margins=(0.0, 0.0, 0.0))
    assert loss.item() == pytest.approx(0.25 - 0.01, rel=1e-6)


def test_term_mask():
    rows = np.array([[0, 1, 2, 3, 4], [5, -1, 2, 3, 4], [6, 1, -1, 3, 4], [7, 1, 2, 3, -1]])
    np.testing.assert_array_equal(quintuplet_term_mask(rows),
                                  [[1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 1, 0]])


def test_margin_upper_bounds_by_hand():
    b = margin_upper_bounds([1000, 600, 150], cluster_size=200, sphere_fraction=0.5)
    L = 1750
    assert b.g1 == pytest.approx(2 * math.sin(math.pi * 0.5 * 200 / L))
    np.testing.assert_allclose(b.g2, [2 * math.sin(math.pi * 0.5 * 800 / L),
                                      2 * math.sin(math.pi * 0.5 * 400 / L), 0.0])
    assert b.g3 == pytest.approx(2 * math.sin(math.pi / 3))
    per_anchor = b.scaled(0.5, np.array([0, 2]))
    np.testing.assert_allclose(per_anchor[1], [b.g1 / 2, 0.0, b.g3 / 2])
    with pytest.raises(ValueError, match="sphere_fraction"):
        margin_upper_bounds([10, 10], sphere_fraction=0)


def test_cost_sensitive_cross_entropy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 0])
    w = torch.tensor([1.0, 2.0, 0.5])
    ce = [-math.log(math.exp(l[t]) / sum(math.exp(v) for v in l)) for l, t in zip(logits.tolist(), y.tolist())]
    assert cost_sensitive_cross_entropy(logits, y, w).item() == pytest.approx(
        sum(c * wi for c, wi in zip(ce, w.tolist())) / 3, rel=1e-6)


def test_margin_bounds_squared_and_capped_by_hand():
    sizes, l = [9000, 800, 200], 100
    total = sum(sizes)
    chord = margin_upper_bounds(sizes, cluster_size=l)
    sq = margin_upper_bounds(sizes, cluster_size=l, squared=True)
    assert sq.g1 == pytest.approx((2 * math.sin(math.pi * l / total)) ** 2)
    assert sq.g3 == pytest.approx((2 * math.sin(math.pi / 3)) ** 2)
    np.testing.assert_allclose(sq.g2, chord.g2 ** 2)
    # the majority class holds 89 % of the sphere: its angle pi * 8900 / 10000 is past pi / 2, so the
    # chord shrinks (2 sin(0.89 pi) = 0.68) below a smaller class's; capped, it is the diameter 2
    capped = margin_upper_bounds(sizes, cluster_size=l, cap_half=True)
    assert chord.g2[0] == pytest.approx(2 * math.sin(math.pi * 8900 / total)) and chord.g2[0] < 0.7
    assert capped.g2[0] == pytest.approx(2.0)
    np.testing.assert_allclose(capped.g2[1:], chord.g2[1:])


# ---- distances in the paper's units, per-margin scales, the margin grid (issue 18) ----

def loop_triple_header_euclidean(a, pp, pm, pmm, n, g, valid=None):
    total = 0.0
    for i in range(len(a)):
        d = [math.sqrt(sum((a[i][k] - m[i][k]) ** 2 for k in range(len(a[i])))) for m in (pp, pm, pmm, n)]
        terms = [max(0.0, g[0] + d[0] - d[1]), max(0.0, g[1] + d[1] - d[2]), max(0.0, g[2] + d[2] - d[3])]
        if valid is not None:
            terms = [t if v else 0.0 for t, v in zip(terms, valid[i])]
        total += sum(terms)
    return total / len(a)


def test_euclidean_hinge_matches_loop_and_differs_from_squared():
    m = _members(seed=6)
    g = (0.1, 0.3, 0.5)
    valid = np.random.default_rng(1).random((7, 3)) > 0.3
    got = triple_header_hinge(*m, margins=g, valid=torch.as_tensor(valid), distance="euclidean").item()
    assert got == pytest.approx(loop_triple_header_euclidean(*[x.tolist() for x in m], g, valid), rel=1e-12)
    squared = triple_header_hinge(*m, margins=g, valid=torch.as_tensor(valid)).item()
    assert squared == pytest.approx(loop_triple_header(*[x.tolist() for x in m], g, valid=valid), rel=1e-12)
    assert abs(got - squared) > 1e-3
    # by hand: members at distances 1, 2, 4, 3 from the anchor (order reversed in the last term)
    a = torch.zeros(1, 2, dtype=torch.float64)
    at = lambda r: torch.tensor([[r, 0.0]], dtype=torch.float64)  # noqa: E731
    args = (a, at(1.0), at(2.0), at(4.0), at(3.0))
    # euclidean: [0.5 + 1 - 2]+ + [0.5 + 2 - 4]+ + [0.5 + 4 - 3]+ = 0 + 0 + 1.5
    assert triple_header_hinge(*args, margins=(0.5, 0.5, 0.5), distance="euclidean").item() == pytest.approx(1.5)
    # squared: [0.5 + 1 - 4]+ + [0.5 + 4 - 16]+ + [0.5 + 16 - 9]+ = 7.5
    assert triple_header_hinge(*args, margins=(0.5, 0.5, 0.5)).item() == pytest.approx(7.5)
    with pytest.raises(ValueError, match="distance"):
        triple_header_hinge(*args, margins=(0.5, 0.5, 0.5), distance="cosine")


def test_euclidean_triplet_hinge_by_hand():
    a = torch.zeros(2, 2, dtype=torch.float64)
    p = torch.tensor([[3.0, 4.0], [1.0, 0.0]], dtype=torch.float64)   # distances 5, 1
    n = torch.tensor([[0.0, 2.0], [0.0, 3.0]], dtype=torch.float64)   # distances 2, 3
    # [0.2 + 5 - 2]+ = 3.2 and [0.2 + 1 - 3]+ = 0 -> mean 1.6 (squared: [0.2 + 25 - 4]+ = 21.2, 0 -> 10.6)
    assert triplet_hinge(a, p, n, 0.2, distance="euclidean").item() == pytest.approx(1.6)
    assert triplet_hinge(a, p, n, 0.2).item() == pytest.approx(10.6)


def test_euclidean_gradient_is_exact_away_from_zero_and_zero_at_it():
    m = [x.clone().requires_grad_(True) for x in _members(n=4, d=3, seed=7)]
    assert torch.autograd.gradcheck(
        lambda *t: triple_header_hinge(*t, margins=(0.13, 0.37, 0.71), distance="euclidean"), tuple(m),
        eps=1e-6, atol=1e-8)
    # a member ON the anchor (D = 0): finite gradients, the norm's subgradient 0 for that pair
    a = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    same = a.detach().clone().requires_grad_(True)
    far = torch.tensor([[1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    assert euclidean_distance(a, same).item() == 0.0
    loss = triple_header_hinge(a, same, far, far, far, margins=(0.1, 0.1, 0.1), distance="euclidean")
    loss.backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(same.grad).all()
    assert same.grad.abs().max().item() == 0.0
    # for contrast: sqrt of the squared distance gives NaN there
    b = a.detach().clone().requires_grad_(True)
    squared_distance(b, a.detach()).sqrt().sum().backward()
    assert torch.isnan(b.grad).all()


def test_per_margin_scales_by_hand():
    b = MarginBounds(g1=0.2, g2=np.array([0.8, 0.4]), g3=1.0)
    np.testing.assert_allclose(b.scaled((1.0, 0.5, 0.25)), [0.2, 0.3, 0.25])      # g2 mean 0.6 x 0.5
    np.testing.assert_allclose(b.scaled((0.5, 1.0, 2.0), np.array([1, 0])), [[0.1, 0.4, 2.0], [0.1, 0.8, 2.0]])
    np.testing.assert_array_equal(b.scaled(0.5), b.scaled((0.5, 0.5, 0.5)))
    np.testing.assert_allclose(margin_scales(0.3), [0.3, 0.3, 0.3])
    for bad in ((1.0, 2.0), -0.1, (0.1, float("nan"), 0.1)):
        with pytest.raises(ValueError, match="margin scale"):
            b.scaled(bad)


def test_margin_scale_grid_by_hand():
    assert margin_scale_grid() == [1.0, 0.5, 0.25, 0.125]
    assert margin_scale_grid(3, top=0.4, ratio=0.1) == pytest.approx([0.4, 0.04, 0.004])
    per = margin_scale_grid(2, per_margin=True)
    assert per == [(1.0, 1.0, 1.0), (1.0, 1.0, 0.5), (1.0, 0.5, 1.0), (1.0, 0.5, 0.5),
                   (0.5, 1.0, 1.0), (0.5, 1.0, 0.5), (0.5, 0.5, 1.0), (0.5, 0.5, 0.5)]
    for kw in ({"size": 0}, {"ratio": 1.0}, {"ratio": 2.0}, {"top": 0.0}):
        with pytest.raises(ValueError):
            margin_scale_grid(**kw)


def test_extend_grid_past_the_winning_edge():
    grid = [1.0, 0.5, 0.25, 0.1]
    assert extend_grid(grid, 0.1) == pytest.approx([0.04, 0.016])         # bottom edge: / (0.25 / 0.1)
    assert extend_grid(grid, 1.0) == pytest.approx([2.0, 4.0])            # top edge: x (1 / 0.5)
    assert extend_grid(grid, 1.0, upper=1.0) == []                        # capped at the paper's bounds
    assert extend_grid(grid, 0.5) == [] and extend_grid(grid, 0.25) == []
    assert extend_grid(grid, 0.1, steps=1) == pytest.approx([0.04])
    assert extend_grid([0.3], 0.3, steps=1) == pytest.approx([0.6, 0.15])  # one value: both ways by 2
    # per-margin grid: only the coordinates on their edge move, the others stay at best's
    per = margin_scale_grid(2, per_margin=True)                           # values 1 and 0.5 on each axis
    assert extend_grid(per, (1.0, 0.5, 0.5), steps=1) == [(2.0, 0.5, 0.5), (1.0, 0.25, 0.5), (1.0, 0.5, 0.25)]
    coarse = [(s1, s2, s3) for s1 in (1.0, 0.5, 0.25) for s2 in (1.0, 0.5, 0.25) for s3 in (1.0, 0.5, 0.25)]
    assert extend_grid(coarse, (0.5, 0.5, 0.25), steps=1) == [(0.5, 0.5, 0.125)]
    with pytest.raises(ValueError, match="not a value"):
        extend_grid(grid, 0.3)
    with pytest.raises(ValueError):
        extend_grid([], 0.3)
