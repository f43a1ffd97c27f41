"""Today's losses against their papers' formulas (plain-Python loops), binary forms against the
two-logit softmax they stand for, gradients by gradcheck, focal against torchvision."""
import math

import pytest
import torch

from lmle_core.losses import (balanced_softmax_cross_entropy, binary_balanced_softmax_loss, binary_class_counts,
                              binary_ldam_loss, binary_logit_adjusted_loss, binary_posthoc_logit_adjustment,
                              class_balanced_weights, class_prior, class_weighted_cross_entropy,
                              class_weighted_sigmoid_cross_entropy, deferred_reweighting_weights, focal_loss,
                              ldam_loss, ldam_margins, logit_adjusted_cross_entropy,
                              positive_weighted_sigmoid_cross_entropy, positive_weights, posthoc_logit_adjustment,
                              sigmoid_focal_loss)

COUNTS = [500, 120, 30, 6]          # a long-tailed 4-class training set
POS, NEG = [30, 400, 250], [470, 100, 250]   # 3 attributes: rare, common, balanced positives


def _multiclass(seed=0, n=9, c=4):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=gen, dtype=torch.float64) * 2
    return logits, torch.randint(0, c, (n,), generator=gen)


def _multilabel(seed=0, n=7, a=3):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, a, generator=gen, dtype=torch.float64) * 2
    return logits, torch.randint(0, 2, (n, a), generator=gen)


def log_softmax_at(z, y):
    return z[y] - math.log(sum(math.exp(v) for v in z))


def log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def cb_weights_by_hand(counts, beta):
    w = [(1 - beta) / (1 - beta ** n) for n in counts]
    return [x * len(counts) / sum(w) for x in w]


# ----------------------------------------------------------------------------- statistics
def test_class_balanced_weights_and_drw():
    w = class_balanced_weights(COUNTS, beta=0.99)
    assert w.tolist() == pytest.approx(cb_weights_by_hand(COUNTS, 0.99), rel=1e-12)
    assert w.sum().item() == pytest.approx(4.0)
    # beta = 0 is no re-weighting; rows of an (A, 2) table are normalised separately
    assert class_balanced_weights(COUNTS, beta=0.0).tolist() == pytest.approx([1.0] * 4)
    table = class_balanced_weights(binary_class_counts(POS, NEG), beta=0.999)
    assert table.sum(1).tolist() == pytest.approx([2.0] * 3)
    assert table[0].tolist() == pytest.approx(cb_weights_by_hand([470, 30], 0.999), rel=1e-12)
    # DRW: plain weights before the deferral point, class-balanced from it on
    assert deferred_reweighting_weights(COUNTS, progress=159, defer_at=160).tolist() == [1.0] * 4
    assert deferred_reweighting_weights(COUNTS, 160, 160, beta=0.99).tolist() == pytest.approx(w.tolist())


def test_ldam_margins_prior_and_positive_weights():
    m = ldam_margins(COUNTS, max_margin=0.5)
    assert m.max().item() == pytest.approx(0.5)
    want = [n ** -0.25 for n in COUNTS]
    assert m.tolist() == pytest.approx([0.5 * x / max(want) for x in want], rel=1e-12)
    assert class_prior(COUNTS).tolist() == pytest.approx([n / sum(COUNTS) for n in COUNTS])
    assert positive_weights(POS, NEG).tolist() == pytest.approx([n / p for p, n in zip(POS, NEG)])
    # an absent class counts as one sample, so nothing is infinite
    assert torch.isfinite(class_balanced_weights([0, 10])).all() and torch.isfinite(ldam_margins([0, 10])).all()


# ---------------------------------------------------------------------------- multi-class
def test_focal_and_weighted_ce_match_loop():
    logits, y = _multiclass()
    alpha = [0.1, 0.3, 0.7, 0.9]
    w = class_balanced_weights(COUNTS, beta=0.999)
    want = []
    for z, t in zip(logits.tolist(), y.tolist()):
        lp = log_softmax_at(z, t)
        want.append(-alpha[t] * w[t].item() * (1 - math.exp(lp)) ** 2.5 * lp)
    got = focal_loss(logits, y, gamma=2.5, alpha=torch.tensor(alpha, dtype=torch.float64), class_weights=w)
    assert got.item() == pytest.approx(sum(want) / len(want), rel=1e-12)
    # gamma = 0 and no alpha: class-weighted cross-entropy
    ce = [-w[t].item() * log_softmax_at(z, t) for z, t in zip(logits.tolist(), y.tolist())]
    assert class_weighted_cross_entropy(logits, y, w).item() == pytest.approx(sum(ce) / len(ce), rel=1e-12)
    assert focal_loss(logits, y, gamma=0.0, class_weights=w).item() == pytest.approx(sum(ce) / len(ce), rel=1e-12)


def test_ldam_matches_loop():
    logits, y = _multiclass(seed=1)
    delta = [0.4 * n ** -0.25 / min(COUNTS) ** -0.25 for n in COUNTS]
    w = deferred_reweighting_weights(COUNTS, 5, 3, beta=0.999)
    want = []
    for z, t in zip(logits.tolist(), y.tolist()):
        shifted = [10.0 * (v - (delta[t] if j == t else 0.0)) for j, v in enumerate(z)]
        want.append(-w[t].item() * log_softmax_at(shifted, t))
    got = ldam_loss(logits, y, COUNTS, max_margin=0.4, scale=10.0, class_weights=w)
    assert got.item() == pytest.approx(sum(want) / len(want), rel=1e-12)


def test_logit_adjustment_and_balanced_softmax_match_loop():
    logits, y = _multiclass(seed=2)
    prior = [n / sum(COUNTS) for n in COUNTS]
    la = [-log_softmax_at([v + 1.5 * math.log(p) for v, p in zip(z, prior)], t)
          for z, t in zip(logits.tolist(), y.tolist())]
    assert logit_adjusted_cross_entropy(logits, y, COUNTS, tau=1.5).item() == pytest.approx(sum(la) / len(la))
    # Ren et al.: -log(n_y e^{z_y} / sum_j n_j e^{z_j})
    bs = [-math.log(COUNTS[t] * math.exp(z[t]) / sum(n * math.exp(v) for n, v in zip(COUNTS, z)))
          for z, t in zip(logits.tolist(), y.tolist())]
    got = balanced_softmax_cross_entropy(logits, y, COUNTS).item()
    assert got == pytest.approx(sum(bs) / len(bs), rel=1e-12)
    assert got == pytest.approx(logit_adjusted_cross_entropy(logits, y, COUNTS, tau=1.0).item(), rel=1e-12)
    adjusted = posthoc_logit_adjustment(logits, COUNTS, tau=0.5)
    want = [[v - 0.5 * math.log(p) for v, p in zip(z, prior)] for z in logits.tolist()]
    assert adjusted.tolist() == [pytest.approx(r, rel=1e-12) for r in want]


# ------------------------------------------------------------------------ binary attributes
def test_sigmoid_focal_matches_loop_and_torchvision():
    logits, y = _multilabel()
    w = class_balanced_weights(binary_class_counts(POS, NEG), beta=0.999)
    alpha = [0.25, 0.6, 0.5]
    want = []
    for i in range(logits.shape[0]):
        for a in range(logits.shape[1]):
            z, t = logits[i, a].item(), int(y[i, a])
            p_t = 1 / (1 + math.exp(-z)) if t else 1 / (1 + math.exp(z))
            a_t = alpha[a] if t else 1 - alpha[a]
            want.append(-a_t * w[a, t].item() * (1 - p_t) ** 2 * math.log(p_t))
    got = sigmoid_focal_loss(logits, y, gamma=2.0, alpha=torch.tensor(alpha, dtype=torch.float64), class_weights=w)
    assert got.item() == pytest.approx(sum(want) / len(want), rel=1e-10)
    tv = pytest.importorskip("torchvision.ops")
    ref = tv.sigmoid_focal_loss(logits, y.double(), alpha=0.25, gamma=1.5, reduction="mean")
    assert sigmoid_focal_loss(logits, y, gamma=1.5, alpha=0.25).item() == pytest.approx(ref.item(), rel=1e-10)


def test_weighted_sigmoid_cross_entropies_match_loop():
    logits, y = _multilabel(seed=1)
    w = class_balanced_weights(binary_class_counts(POS, NEG), beta=0.99)
    cb, pw = [], []
    for i in range(logits.shape[0]):
        for a in range(logits.shape[1]):
            z, t = logits[i, a].item(), int(y[i, a])
            bce = -(log_sigmoid(z) if t else log_sigmoid(-z))
            cb.append(w[a, t].item() * bce)
            pw.append(-(NEG[a] / POS[a] * log_sigmoid(z) if t else log_sigmoid(-z)))
    assert class_weighted_sigmoid_cross_entropy(logits, y, w).item() == pytest.approx(sum(cb) / len(cb), rel=1e-12)
    got = positive_weighted_sigmoid_cross_entropy(logits, y, POS, NEG).item()
    assert got == pytest.approx(sum(pw) / len(pw), rel=1e-12)


def _two_logit_loop(logits, y, make_logits):
    """Mean softmax CE of the two-logit form [class 0, class 1] built per element."""
    v = [-log_softmax_at(make_logits(logits[i, a].item(), a, int(y[i, a])), int(y[i, a]))
         for i in range(logits.shape[0]) for a in range(logits.shape[1])]
    return sum(v) / len(v)


def test_binary_ldam_is_the_two_logit_ldam():
    logits, y = _multilabel(seed=2)
    margins = [[0.5 * n ** -0.25 / min(p, q) ** -0.25 for n in (q, p)] for p, q in zip(POS, NEG)]  # [neg, pos]

    def two_logit(z, a, t):   # logits (0, z); the true class's logit lowers by its margin; scale s = 4
        zs = [0.0, z]
        zs[t] -= margins[a][t]
        return [4.0 * v for v in zs]
    got = binary_ldam_loss(logits, y, POS, NEG, max_margin=0.5, scale=4.0)
    assert got.item() == pytest.approx(_two_logit_loop(logits, y, two_logit), rel=1e-12)


def test_binary_logit_adjustment_is_the_two_logit_form():
    logits, y = _multilabel(seed=3)
    priors = [(q / (p + q), p / (p + q)) for p, q in zip(POS, NEG)]   # [neg, pos]
    la = _two_logit_loop(logits, y, lambda z, a, t: [0.7 * math.log(priors[a][0]), z + 0.7 * math.log(priors[a][1])])
    assert binary_logit_adjusted_loss(logits, y, POS, NEG, tau=0.7).item() == pytest.approx(la, rel=1e-12)
    bs = _two_logit_loop(logits, y, lambda z, a, t: [math.log(NEG[a]), z + math.log(POS[a])])
    assert binary_balanced_softmax_loss(logits, y, POS, NEG).item() == pytest.approx(bs, rel=1e-12)
    # post hoc: positive exactly where the two-logit argmax of z - tau log pi is the positive class
    adjusted = binary_posthoc_logit_adjustment(logits, POS, NEG, tau=1.0)
    for i in range(logits.shape[0]):
        for a in range(logits.shape[1]):
            z = logits[i, a].item()
            two = [-math.log(priors[a][0]), z - math.log(priors[a][1])]
            assert (adjusted[i, a].item() > 0) == (two[1] > two[0])
            assert adjusted[i, a].item() == pytest.approx(z - math.log(POS[a] / NEG[a]), rel=1e-12)


# ------------------------------------------------------------------------------- gradients
def test_gradcheck_all_losses():
    logits, y = _multiclass(seed=4, n=5)
    ml, my = _multilabel(seed=4, n=4)
    w = class_balanced_weights(COUNTS, beta=0.999)
    wb = class_balanced_weights(binary_class_counts(POS, NEG), beta=0.999)
    alpha = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=torch.float64)
    multiclass = [lambda z: focal_loss(z, y, gamma=1.7, alpha=alpha, class_weights=w),
                  lambda z: ldam_loss(z, y, COUNTS, scale=3.0, class_weights=w),
                  lambda z: logit_adjusted_cross_entropy(z, y, COUNTS, tau=1.3),
                  lambda z: balanced_softmax_cross_entropy(z, y, COUNTS),
                  lambda z: class_weighted_cross_entropy(z, y, w)]
    multilabel = [lambda z: sigmoid_focal_loss(z, my, gamma=1.7, alpha=0.3, class_weights=wb),
                  lambda z: binary_ldam_loss(z, my, POS, NEG, scale=3.0, class_weights=wb),
                  lambda z: binary_logit_adjusted_loss(z, my, POS, NEG, tau=1.3),
                  lambda z: binary_balanced_softmax_loss(z, my, POS, NEG),
                  lambda z: positive_weighted_sigmoid_cross_entropy(z, my, POS, NEG),
                  lambda z: class_weighted_sigmoid_cross_entropy(z, my, wb)]
    for f in multiclass:
        assert torch.autograd.gradcheck(f, (logits.clone().requires_grad_(True),))
    for f in multilabel:
        assert torch.autograd.gradcheck(f, (ml.clone().requires_grad_(True),))
