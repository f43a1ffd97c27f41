"""CRL: profiling by hand, miners against brute force, loss values against plain-Python loops,
gradients by gradcheck, and pytorch-metric-learning where it implements the same thing."""
import math

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import ContrastiveLoss, HistogramLoss, TripletMarginLoss
from pytorch_metric_learning.miners import BatchHardMiner
from pytorch_metric_learning.reducers import MeanReducer

from lmle_core.losses import (crl_alpha, crl_loss, crl_objective, histogram_loss, imbalance_measure,
                              minority_anchors, minority_classes, multilabel_crl_loss)

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
