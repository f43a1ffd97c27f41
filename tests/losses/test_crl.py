"""CRL: profiling by hand, miners against brute force, loss values against plain-Python loops,
gradients by gradcheck, and pytorch-metric-learning where it implements the same thing."""
import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import ContrastiveLoss, HistogramLoss, TripletMarginLoss
from pytorch_metric_learning.miners import BatchHardMiner
from pytorch_metric_learning.reducers import MeanReducer

from lmle_core.losses import (crl_alpha, crl_loss, crl_objective, crl_step_log, histogram_loss, imbalance_measure,
                              minority_anchors, minority_classes, minority_logit_push, multilabel_crl_loss)

# 7 / 4 / 2 / 1 samples: minorities {1, 2, 3}; class 3 is a singleton, so the anchors are classes 1, 2
LABELS = [0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 2, 0, 1, 0]


# ------------------------------------------------------------------ plain-Python reference
def ref_minority(counts, rho=0.5):
    order = sorted(range(len(counts)), key=lambda c: counts[c])
    chosen, total = [], 0
    for c in order:
        if total + counts[c] > rho * sum(counts):
            break
        chosen.append(c)
        total += counts[c]
    left = [c for c in order if c not in chosen]
    cut = counts[left[0]] if left else None
    return {c for c in chosen if 0 < counts[c] != cut}


def ref_mined(labels, probs, emb, level, k):
    """{anchor: (hard positives, hard negatives)} by sorting every candidate list."""
    counts = [labels.count(c) for c in range(len(probs[0]) if probs else max(labels) + 1)]
    minority = ref_minority(counts)
    out = {}
    for a, c in enumerate(labels):
        if c not in minority or counts[c] < 2:
            continue
        pos = [j for j in range(len(labels)) if labels[j] == c and j != a]
        neg = [j for j in range(len(labels)) if labels[j] != c]
        if level == "class":   # lowest probability of c first / highest first
            pos.sort(key=lambda j: probs[j][c])
            neg.sort(key=lambda j: -probs[j][c])
        else:                  # farthest first / nearest first
            pos.sort(key=lambda j: -math.dist(emb[a], emb[j]))
            neg.sort(key=lambda j: math.dist(emb[a], emb[j]))
        out[a] = (pos[:k], neg[:k])
    return out


def ref_histogram(values, n_bins):
    step = 2.0 / n_bins
    nodes = [-1 + r * step for r in range(n_bins + 1)]
    h = [0.0] * (n_bins + 1)
    for v in values:
        for r, t in enumerate(nodes):
            if r > 0 and nodes[r - 1] <= v <= t:
                h[r] += (v - nodes[r - 1]) / step
            elif r < n_bins and t <= v <= nodes[r + 1]:
                h[r] += (nodes[r + 1] - v) / step
    return [x / len(values) for x in h]


def ref_histogram_loss(pos, neg, n_bins):
    hp, hn = ref_histogram(pos, n_bins), ref_histogram(neg, n_bins)
    return sum(hn[r] * sum(hp[:r + 1]) for r in range(n_bins + 1))


def ref_crl(labels, probs, emb, level, form, k, margin, distance, n_bins=100, squared_positive=False):
    mined = ref_mined(labels, probs, emb, level, k)
    if not mined:
        return 0.0

    def dist(a, j, negative):
        if distance == "probability":
            c = labels[a]
            return probs[a][c] - probs[j][c] if negative else abs(probs[a][c] - probs[j][c])
        return math.dist(emb[a], emb[j])

    def sim(a, j, negative):
        if distance == "probability":
            return -dist(a, j, negative)
        return sum(x * y for x, y in zip(emb[a], emb[j])) / math.hypot(*emb[a]) / math.hypot(*emb[j])

    if form == "relative":
        v = [max(0.0, margin + dist(a, p, False) - dist(a, n, True))
             for a, (ps, ns) in mined.items() for p in ps for n in ns]
        return sum(v) / len(v)
    if form == "absolute":
        dp = [dist(a, p, False) ** (2 if squared_positive else 1) for a, (ps, _) in mined.items() for p in ps]
        dn = [max(0.0, margin - dist(a, n, True)) ** 2 for a, (_, ns) in mined.items() for n in ns]
        return 0.5 * (sum(dp) / len(dp) + sum(dn) / len(dn))
    sp = [sim(a, p, False) for a, (ps, _) in mined.items() for p in ps]
    sn = [sim(a, n, True) for a, (_, ns) in mined.items() for n in ns]
    return ref_histogram_loss(sp, sn, n_bins)


def _batch(labels, n_classes, d=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(len(labels), d, generator=gen, dtype=dtype)
    scores = torch.randn(len(labels), n_classes, generator=gen, dtype=dtype) * 2
    return emb, torch.tensor(labels), scores


def _valid_lists(indices, valid, t, a):
    return [int(j) for j, ok in zip(indices[t, a], valid[t, a]) if ok]


# ------------------------------------------------------------------------------- profiling
def test_multiclass_minority_profiling_by_hand():
    # batch 20, half 10: sorted 1 (c1), 2 (c3), 3 (c2), 5 (c0), 9 (c4); 1 + 2 + 3 = 6 <= 10, + 5 > 10
    assert minority_classes([5, 1, 3, 2, 9]).tolist() == [False, True, True, True, False]
    # batch 16, half 8: 1 (c0) + 4 (c1) = 5 fits, c2 (also 4) does not: the tie at the cut leaves both out
    assert minority_classes([1, 4, 4, 7]).tolist() == [True, False, False, False]
    # a balanced batch has no minority; absent classes are never minorities
    assert not minority_classes([2, 2, 2, 2]).any()
    assert minority_classes([0, 3, 9]).tolist() == [False, True, False]
    # rho = 0.75 takes more classes: 1 + 4 + 4 = 9 <= 12
    assert minority_classes([1, 4, 4, 7], rho=0.75).tolist() == [True, True, True, False]


@pytest.mark.parametrize("counts,expected", [([3, 5], [True, False]), ([6, 2], [False, True]),
                                             ([4, 4], [False, False]), ([0, 8], [False, False])])
def test_binary_minority_is_the_smaller_class(counts, expected):
    assert minority_classes(counts).tolist() == expected
    assert minority_classes(torch.tensor([counts] * 3)).tolist() == [expected] * 3   # batched rows


def test_anchors_skip_singleton_minorities():
    anchors, minority = minority_anchors(torch.tensor([LABELS]), 4)
    assert minority[0].tolist() == [False, True, True, True]
    assert anchors[0].tolist() == [c in (1, 2) for c in LABELS]


# ---------------------------------------------------------------------------------- miners
@pytest.mark.parametrize("level", ["class", "instance"])
def test_miners_match_brute_force(level):
    labels = [0, 1, 2, 0, 0, 1, 0, 0, 2, 0, 0, 1, 0, 2, 0, 0, 0, 1, 0, 0]
    emb, y, scores = _batch(labels, 3, seed=1)
    _, det = crl_loss(emb, y, scores, level=level, k=3, return_details=True)
    want = ref_mined(labels, scores.softmax(1).tolist(), emb.tolist(), level, 3)
    hard = det.hard_examples
    assert {a for a in range(len(labels)) if hard.anchors[0, a]} == set(want)
    for a, (pos, neg) in want.items():
        assert _valid_lists(hard.positives, hard.positive_valid, 0, a) == pos
        assert _valid_lists(hard.negatives, hard.negative_valid, 0, a) == neg


def test_instance_miner_k1_matches_pml_batch_hard_miner():
    labels = [0, 1, 0, 0, 1, 0, 0, 2, 0, 2, 1, 0]
    emb, y, _ = _batch(labels, 3, seed=2)
    _, det = crl_loss(emb, y, level="instance", k=1, return_details=True)
    a, p, n = BatchHardMiner(distance=LpDistance(normalize_embeddings=False))(emb, y)
    pml = {int(i): (int(j), int(m)) for i, j, m in zip(a, p, n)}
    hard = det.hard_examples
    anchors = [i for i in range(len(labels)) if hard.anchors[0, i]]
    assert anchors   # classes 1 and 2 are the minorities
    for i in anchors:
        assert (int(hard.positives[0, i, 0]), int(hard.negatives[0, i, 0])) == pml[i]


# ------------------------------------------------------------------------------ loss values
CASES = [("class", "probability"), ("class", "euclidean"), ("instance", "euclidean")]


@pytest.mark.parametrize("level,distance", CASES)
@pytest.mark.parametrize("form", ["relative", "absolute", "distribution"])
def test_multiclass_values_match_loop(level, distance, form):
    emb, y, scores = _batch(LABELS, 4, seed=3)
    got, det = crl_loss(emb, y, scores, level=level, form=form, k=3, margin=0.4, distance=distance,
                        n_bins=25, return_details=True)
    want = ref_crl(LABELS, scores.softmax(1).tolist(), emb.tolist(), level, form, 3, 0.4, distance, n_bins=25)
    assert got.item() == pytest.approx(want, rel=1e-10, abs=1e-12)
    assert det.num_anchors.tolist() == [6]
    # class 1 anchors: 3 positives x 3 negatives; class 2 anchors: 1 positive x 3 negatives
    assert det.num_triplets.tolist() == [4 * 9 + 2 * 3]


def test_absolute_squared_positive_matches_loop():
    emb, y, scores = _batch(LABELS, 4, seed=4)
    got = crl_loss(emb, y, scores, level="instance", form="absolute", k=2, margin=1.5, squared_positive=True)
    want = ref_crl(LABELS, None, emb.tolist(), "instance", "absolute", 2, 1.5, "euclidean", squared_positive=True)
    assert got.item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("level,distance", CASES)
@pytest.mark.parametrize("form", ["relative", "absolute", "distribution"])
def test_gradcheck(level, distance, form):
    labels = [0, 1, 0, 1, 0, 0, 2, 0, 2, 0]
    emb, y, scores = _batch(labels, 3, seed=5)
    # the loss is differentiable in what its distances use (mining is a selection)
    wrt = scores if distance == "probability" else emb

    def f(x):
        e, s = (emb, x) if distance == "probability" else (x, scores)
        return crl_loss(e, y, s, level=level, form=form, k=2, margin=0.7, distance=distance, n_bins=10)
    assert torch.autograd.gradcheck(f, (wrt.requires_grad_(True),), eps=1e-6, atol=1e-6, fast_mode=True)


# ------------------------------------------------------------- pytorch-metric-learning (pml)
def _triplets(hard):
    trip = [(a, int(p), int(n)) for a in range(hard.anchors.shape[1])
            for p, pv in zip(hard.positives[0, a], hard.positive_valid[0, a]) if pv
            for n, nv in zip(hard.negatives[0, a], hard.negative_valid[0, a]) if nv]
    return tuple(torch.tensor(x) for x in zip(*trip))


def test_relative_matches_pml_triplet_margin_loss():
    emb, y, _ = _batch(LABELS, 4, seed=6)
    got, det = crl_loss(emb, y, level="instance", form="relative", k=3, margin=0.3, return_details=True)
    pml = TripletMarginLoss(margin=0.3, distance=LpDistance(normalize_embeddings=False), reducer=MeanReducer())
    assert got.item() == pytest.approx(pml(emb, indices_tuple=_triplets(det.hard_examples)).item(), rel=1e-10)


def test_absolute_positive_term_matches_pml_contrastive_loss():
    # pml's ContrastiveLoss is Hadsell's hinge without the square on the negative term, so only the
    # positive term is compared: with margin 0 both negative terms vanish and ours is 0.5 * pml's.
    emb, y, _ = _batch(LABELS, 4, seed=7)
    got, det = crl_loss(emb, y, level="instance", form="absolute", k=3, margin=0.0, return_details=True)
    h = det.hard_examples
    pos = [(a, int(p)) for a in range(len(LABELS)) for p, ok in zip(h.positives[0, a], h.positive_valid[0, a]) if ok]
    neg = [(a, int(n)) for a in range(len(LABELS)) for n, ok in zip(h.negatives[0, a], h.negative_valid[0, a]) if ok]
    tup = tuple(torch.tensor(x) for x in (*zip(*pos), *zip(*neg)))
    pml = ContrastiveLoss(pos_margin=0.0, neg_margin=0.0, distance=LpDistance(normalize_embeddings=False),
                          reducer=MeanReducer())
    assert got.item() == pytest.approx(0.5 * pml(emb, indices_tuple=tup).item(), rel=1e-10)


@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence:UserWarning")   # inside pml 2.9
def test_histogram_loss_matches_pml_on_all_pairs():
    # pml builds the unordered distinct pairs of the batch; every class has >= 2 samples so none is lost.
    # pml picks each value's bin in float32, so it agrees to float32 precision, not float64.
    labels = [0, 1, 0, 2, 1, 0, 2, 0, 1, 0, 0, 2, 0, 1, 0, 0]
    emb, y, _ = _batch(labels, 3, d=4, seed=8)
    unit = torch.nn.functional.normalize(emb, dim=1)
    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    sims = {(i, j): float(unit[i] @ unit[j]) for i, j in pairs}
    pos = torch.tensor([s for (i, j), s in sims.items() if labels[i] == labels[j]], dtype=torch.float64)
    neg = torch.tensor([s for (i, j), s in sims.items() if labels[i] != labels[j]], dtype=torch.float64)
    for n_bins in (10, 100):
        ours = histogram_loss(pos, neg, n_bins).item()
        assert ours == pytest.approx(HistogramLoss(n_bins=n_bins)(emb, y).item(), rel=1e-6)
        assert ours == pytest.approx(ref_histogram_loss(pos.tolist(), neg.tolist(), n_bins), rel=1e-9)


# ------------------------------------------------------------------------------ multi-label
@pytest.mark.parametrize("level,distance", CASES)
@pytest.mark.parametrize("form", ["relative", "absolute", "distribution"])
@pytest.mark.parametrize("shared", [True, False])
def test_multilabel_minorities_of_both_signs(level, distance, form, shared):
    # attribute 0: 3 positives (minority = 1); attribute 1: 3 negatives (minority = 0);
    # attribute 2: 5 / 5 (no minority)
    a0 = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    a1 = [1, 1, 0, 1, 1, 1, 1, 0, 1, 0]
    a2 = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    labels = torch.tensor([a0, a1, a2]).t()
    gen = torch.Generator().manual_seed(9)
    scores = torch.randn(10, 3, generator=gen, dtype=torch.float64) * 2
    emb = torch.randn(10, 4, generator=gen, dtype=torch.float64) if shared else \
        torch.randn(10, 3, 4, generator=gen, dtype=torch.float64)
    got, det = multilabel_crl_loss(emb, labels, scores, level=level, form=form, k=2, margin=0.6,
                                   distance=distance, n_bins=20, return_details=True)
    assert det.minority_classes.tolist() == [[False, True], [True, False], [False, False]]
    assert det.active.tolist() == [True, True, False]
    want = []
    for attr, lab in enumerate((a0, a1)):
        p = torch.sigmoid(scores[:, attr]).tolist()
        probs = [[1 - q, q] for q in p]
        e = (emb if shared else emb[:, attr]).tolist()
        want.append(ref_crl(lab, probs, e, level, form, 2, 0.6, distance, n_bins=20))
    assert det.per_task_loss.tolist() == pytest.approx(want + [0.0], rel=1e-9, abs=1e-12)
    assert got.item() == pytest.approx(sum(want) / 2, rel=1e-9)


def test_no_minority_gives_zero_with_gradient_path():
    labels = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]])   # both attributes 2 / 2
    scores = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    emb = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    for level in ("class", "instance"):
        loss = multilabel_crl_loss(emb, labels, scores, level=level, form="relative")
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()
    assert scores.grad.abs().sum() == 0 and emb.grad.abs().sum() == 0
    single = crl_loss(emb, torch.tensor([0, 1, 0, 1]), scores, form="distribution")
    assert single.item() == 0.0 and single.requires_grad


def test_argument_errors():
    emb, y, scores = _batch(LABELS, 4)
    with pytest.raises(ValueError, match="level"):
        crl_loss(emb, y, scores, level="pixel")
    with pytest.raises(ValueError, match="scores"):
        crl_loss(emb, y, None, level="class")
    with pytest.raises(ValueError, match="embeddings"):
        crl_loss(None, y, scores, level="instance")
    with pytest.raises(ValueError, match="labels"):
        crl_loss(emb, y + 1, scores)


# ----------------------------------------------------------------------------- alpha (Eq. 8)
def test_alpha_rule_by_hand():
    # Omega_imb = sum_c max(0, n_c / N - 1 / C)
    assert imbalance_measure([90, 10]).item() == pytest.approx(0.4)
    assert imbalance_measure([5, 1, 1, 1]).item() == pytest.approx(0.625 - 0.25)
    alpha = crl_alpha([[90, 10], [50, 50], [2, 98]], eta=2.0)
    assert alpha.tolist() == pytest.approx([0.8, 0.0, 0.96])
    assert crl_alpha([[90, 10]], eta=3.0).tolist() == [1.0]   # clipped
    crl = torch.tensor([0.2, 0.0, 1.0])
    ce = torch.tensor([0.7, 0.5, 0.3])
    want = sum(a * c + (1 - a) * e for a, c, e in zip(alpha.tolist(), crl.tolist(), ce.tolist())) / 3
    assert crl_objective(crl, ce, alpha).item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError):
        imbalance_measure([7])


# --------------------------------------------------------- the push on the minority logits (issue 19)
MINORITY_LOGITS = [-9.0, -7.0, -5.0, -3.0, -1.0, 0.0, 7.0, 9.0]   # 8 positives: a saturated tail, two mid, two sure
NEGATIVE_LOGIT, N_NEGATIVES = -4.0, 32


def _push_batch(minority_logits=MINORITY_LOGITS, negatives=N_NEGATIVES, flip=False):
    z = torch.tensor(list(minority_logits) + [NEGATIVE_LOGIT] * negatives, dtype=torch.float64)
    y = torch.tensor([1] * len(minority_logits) + [0] * negatives)
    return (-z, 1 - y) if flip else (z, y)


def hand_push(minority_logits, negative_logit, k, margin=0.5, whole_batch=False):
    """The push derived by hand from Eq. 9-10 (no autograd). p = sigmoid(z) is the probability of the
    anchor's class (the minority, here the positives); an anchor's hard positives are the k other
    minority samples of lowest p, its hard negatives k majority samples of highest p (all equal here,
    so each (anchor, positive) pair stands for k identical triplets). A triplet's term is
    [m + |p_a - p_+| - p_a + p_-]_+; when active, its derivative in p is
      p_+ < p_a:  [m - p_+ + p_-]             -> -1 on p_+, 0 on p_a;
      p_+ > p_a:  [m + p_+ - 2 p_a + p_-]     -> +1 on p_+, -2 on p_a,
    and dp/dz = p (1 - p). The push is minus the logits' gradient, summed over the minority samples,
    and the loss is the mean over all k_anchors x k x k triplets:
      push = (k / T) * sum over active pairs of [ sigma'_+ (positive below) | 2 sigma'_a - sigma'_+ (above) ].
    Kappa 5 (per negative, sigma' = 1.2e-4, 9.1e-4, 6.6e-3, .045, .197, .25, 9.1e-4, 1.2e-4 by rank):
      the tail anchors -9, -7, -5, -3 have positives up to rank 6: each drags the two mid samples
      (-1, 0; sigma' .197 and .25) down, -.50, -.49, -.45, -.26; the anchors 0, 7 and 9 lift the
      flat tail and -1, +.25 each; the anchor -1 lifts the tail and is lifted by 0 above it, +.20.
      Sum -0.755, push = -0.755 * 5 / 200 = -0.0189.
    Kappa 7 (all 7 other minority samples): the tail anchors now also drag 7 and 9 (flat: -0.001);
    the mid anchors -1 and 0 pair with 7 and 9 above them and are lifted twice at full slope:
    +.98 and +1.25; the anchors 7 and 9 lift both mid samples: +.50 each (7 with 9 is inactive:
    .5 + 1 - 2 + .02 < 0). Sum +1.736, push = 1.736 * 7 / 392 = +0.0310.
    ``whole_batch``: every logit of the batch, the hard negatives too: each active triplet pushes its
    negative down by sigma'_- = 0.0177 (p_- = 0.018), so the push drops by (active share) x 0.0177:
    kappa 5: -0.0188 - 0.0177 = -0.0365; kappa 7: 0.0310 - (378 / 392) x 0.0177 = +0.0140."""
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    p = [sig(z) for z in minority_logits]
    slope = [q * (1 - q) for q in p]
    p_neg = sig(negative_logit)
    total, triplets = 0.0, 0
    for a in range(len(p)):
        others = sorted((j for j in range(len(p)) if j != a), key=lambda j: p[j])[:k]
        for j in others:
            triplets += 1
            if p[j] < p[a] and margin - p[j] + p_neg > 0:
                total += slope[j] - (p_neg * (1 - p_neg) if whole_batch else 0)
            elif p[j] > p[a] and margin + p[j] - 2 * p[a] + p_neg > 0:
                total += 2 * slope[a] - slope[j] - (p_neg * (1 - p_neg) if whole_batch else 0)
    return total / triplets     # the k identical negatives cancel between the sum and the count


def test_push_by_hand_is_negative_for_kappa_5_and_positive_for_kappa_covering_the_minority():
    z, y = _push_batch()
    assert hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 5) == pytest.approx(-0.01884, abs=5e-5)
    assert hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 7) == pytest.approx(0.03103, abs=5e-5)
    for k in (5, 7):
        got = minority_logit_push(z[:, None], y[:, None], k=k, margin=0.5)
        assert got.item() == pytest.approx(hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, k), rel=1e-9)
    assert minority_logit_push(z[:, None], y[:, None], k=5).item() < 0
    for k in (7, 8, 40):   # kappa >= the 7 other minority samples: all of them are positives
        assert minority_logit_push(z[:, None], y[:, None], k=k).item() > 0


def test_push_by_autograd_through_the_multiclass_loss():
    """Independently: the same batch as a two-class problem (scores [0, z]: softmax = sigmoid) through
    crl_loss, differentiated by torch.autograd, summed over the minority samples' logits."""
    z, y = _push_batch()
    for k, sign in ((5, -1), (7, 1)):
        zz = z.clone().requires_grad_(True)
        scores = torch.stack([torch.zeros_like(zz), zz], 1)
        loss = crl_loss(None, y, scores, level="class", form="relative", k=k, margin=0.5)
        grad, = torch.autograd.grad(loss, zz)
        push = -grad[y == 1].sum().item()
        assert math.copysign(1, push) == sign
        assert minority_logit_push(z[:, None], y[:, None], k=k).item() == pytest.approx(push, rel=1e-9)


def test_push_is_oriented_towards_the_minority_class():
    # the mirrored batch (labels and logits negated): the minority is class 0, same geometry, same push
    z, y = _push_batch(flip=True)
    for k in (5, 7):
        flipped = minority_logit_push(z[:, None], y[:, None], k=k).item()
        assert flipped == pytest.approx(hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, k), rel=1e-9)
    # two attributes at once: each its own task; a balanced attribute has no minority and no push
    z2 = torch.stack([_push_batch()[0], torch.linspace(-1, 1, 40, dtype=torch.float64)], 1)
    y2 = torch.stack([_push_batch()[1], torch.tensor([0, 1] * 20)], 1)
    got = minority_logit_push(z2, y2, k=5)
    assert got.tolist() == pytest.approx([hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 5), 0.0], rel=1e-9)


def test_step_log_quantities():
    z, y = _push_batch()
    z2 = torch.stack([z, torch.linspace(-1, 1, 40, dtype=torch.float64)], 1)
    y2 = torch.stack([y, torch.tensor([0, 1] * 20)], 1)
    log = crl_step_log(z2, y2, alpha=[0.25, 0.0], k=7, margin=0.5)
    assert log.minority_class.tolist() == [1, -1]
    assert log.minority_count.tolist() == [8, 0] and log.anchors.tolist() == [8, 0]
    # relative, kappa 7: 8 anchors x 7 positives x 7 negatives; inactive: (7 | 9) and (9 | 7), 7 triplets each
    assert log.active_share[0] == pytest.approx(1 - 14 / 392)
    assert np.isnan(log.active_share[1])
    assert log.logit_mean[0] == pytest.approx(z.mean().item())
    assert log.logit_std[0] == pytest.approx(z.std(unbiased=False).item())
    assert log.minority_logit_mean[0] == pytest.approx(np.mean(MINORITY_LOGITS))
    # bias gradients: the sum of the logits' gradients, by autograd on the per-attribute terms
    zz = z.clone().requires_grad_(True)
    _, info = multilabel_crl_loss(None, y[:, None], zz[:, None], k=7, return_details=True)
    crl_grad, = torch.autograd.grad(info.per_task_loss[0], zz)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(zz, y.double())
    ce_grad, = torch.autograd.grad(ce, zz)
    assert log.crl_bias_grad[0] == pytest.approx(crl_grad.sum().item(), rel=1e-9)
    assert log.ce_bias_grad[0] == pytest.approx(ce_grad.sum().item(), rel=1e-9)
    assert log.objective_bias_grad[0] == pytest.approx(0.25 * log.crl_bias_grad[0] + 0.75 * log.ce_bias_grad[0])
    assert log.crl_push[0] == pytest.approx(-crl_grad[:8].sum().item(), rel=1e-9)
    assert log.ce_push[0] == pytest.approx(-ce_grad[:8].sum().item(), rel=1e-9) and log.ce_push[0] > 0
    assert log.crl_push[1] == 0 and log.crl_bias_grad[1] == 0
    # the whole batch's push (minus the bias gradient): by hand, negative for kappa 5, positive for kappa 7
    assert log.crl_batch_push[0] == pytest.approx(-log.crl_bias_grad[0])
    assert log.crl_batch_push[0] == pytest.approx(hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 7, whole_batch=True))
    assert hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 7, whole_batch=True) == pytest.approx(0.0140, abs=5e-5)
    kappa5 = crl_step_log(z[:, None], y[:, None], k=5).crl_batch_push[0]
    assert kappa5 == pytest.approx(hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 5, whole_batch=True), rel=1e-9)
    assert kappa5 == pytest.approx(-0.0365, abs=5e-5)
    assert set(log.means()) >= {"crl_push", "active_share", "minority_count"}
    # absolute form: the share of negative pairs inside the margin (p_a - p_- < 0.5)
    absolute = crl_step_log(z[:, None], y[:, None], k=7, form="absolute", margin=0.5)
    p = torch.sigmoid(z[:8])
    assert absolute.active_share[0] == pytest.approx(((p - torch.sigmoid(torch.tensor(NEGATIVE_LOGIT))) < 0.5)
                                                     .double().mean().item())


# ------------------------------------------------------------ kappa = every minority sample (issue 19)
def test_kappa_all_takes_every_minority_sample_of_the_batch():
    """kappa "all" (0, Budget.crl_k = 0 or "all"): each anchor's positives are all the other samples of its
    class in the batch and it gets as many hardest negatives. On the hand-worked batch (8 minority samples)
    that is kappa 7: the push on the minority logits turns from negative (kappa 5) to positive."""
    from lmle_core.methods import Budget

    z, y = _push_batch()
    for every in ("all", 0):
        push = minority_logit_push(z[:, None], y[:, None], k=every).item()
        assert push == pytest.approx(hand_push(MINORITY_LOGITS, NEGATIVE_LOGIT, 7), rel=1e-9) and push > 0
        assert crl_step_log(z[:, None], y[:, None], k=every).crl_batch_push[0] > 0
    assert minority_logit_push(z[:, None], y[:, None], k=5).item() < 0
    # per anchor by class count: 14-sample batch, minority classes 1 (4 samples) and 2 (2 samples)
    scores = torch.randn(len(LABELS), 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    _, info = crl_loss(None, LABELS, scores, k="all", return_details=True)
    mined = info.hard_examples
    labels = torch.tensor(LABELS)
    for a in torch.nonzero(mined.anchors[0]).flatten().tolist():
        n_same = int((labels == labels[a]).sum()) - 1
        assert int(mined.positive_valid[0, a].sum()) == n_same == int(mined.negative_valid[0, a].sum())
        assert set(mined.positives[0, a][mined.positive_valid[0, a]].tolist()) == \
            set(torch.nonzero(labels == labels[a]).flatten().tolist()) - {a}
    assert Budget(crl_k="all").crl_k == 0 and Budget(crl_k=0).crl_k == 0
    for bad in (-1, "every", 2.5, True):
        with pytest.raises(ValueError, match="crl_k"):
            Budget(crl_k=bad)
    with pytest.raises(ValueError, match="kappa"):
        crl_loss(None, LABELS, scores, k="every")


def test_training_log_averages_the_step_logs_of_every_kth_batch():
    from lmle_core.losses.crl_log import active_log, record_crl_steps

    z, y = _push_batch()
    z2 = torch.stack([z, torch.linspace(-1, 1, 40, dtype=torch.float64)], 1)
    y2 = torch.stack([y, torch.tensor([0, 1] * 20)], 1)
    batches = [(z2, y2), (z2 * 0.5, y2), (z2 + 1, y2)]
    with record_crl_steps(every=2) as log:
        assert active_log() is log
        for zz, yy in batches:
            log.observe(zz, yy, [0.25, 0.0], None, k=5, margin=0.5)
    assert active_log() is None and log.batches == 2
    steps = [crl_step_log(zz, yy, alpha=[0.25, 0.0], k=5, margin=0.5) for zz, yy in (batches[0], batches[2])]
    table = log.table(["rare", "balanced"])
    assert table.attribute.tolist() == ["rare", "balanced"]
    assert table.loc[0, "crl_bias_grad"] == pytest.approx(np.mean([s.crl_bias_grad[0] for s in steps]))
    assert table.loc[0, "logit_std"] == pytest.approx(np.mean([s.logit_std[0] for s in steps]))
    assert table.loc[0, "minority_count"] == 8 and table.loc[1, "minority_count"] == 0
    assert np.isnan(table.loc[1, "logit_mean"])        # the balanced attribute has no minority to log


def test_step_log_of_instance_level_crl_has_no_logit_gradient():
    """Instance-level CRL moves the embedding only: its push and bias gradient on the logits are 0
    (the training log calls this with detached embeddings)."""
    z, y = _push_batch()
    emb = torch.nn.functional.normalize(torch.randn(len(z), 3, dtype=torch.float64,
                                                    generator=torch.Generator().manual_seed(0)), dim=-1)
    log = crl_step_log(z[:, None], y[:, None], embeddings=emb, level="instance", k="all")
    assert log.crl_bias_grad[0] == 0 and log.crl_push[0] == 0 and log.crl_loss[0] > 0
