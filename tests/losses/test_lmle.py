"""Loss values against explicit loops, gradients by gradcheck, margin bounds by hand."""
import math

import numpy as np
import pytest
import torch

from lmle_core.losses import (cost_sensitive_cross_entropy, margin_upper_bounds, quintuplet_term_mask,
                              triple_header_hinge, triplet_hinge)


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
