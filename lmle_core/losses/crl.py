"""The Class Rectification Loss (CRL) of Dong, Gong & Zhu: "Class Rectification Hard Mining for
Imbalanced Deep Learning" (ICCV 2017) and "Imbalanced Deep Learning by Minority Class Incremental
Rectification" (TPAMI 2018, arXiv 1804.10851).

What the papers define, and how it is built here
------------------------------------------------
1. Batch-wise minority class profiling (TPAMI Eq. 3): in every batch and for every task (one
   attribute, or one multi-class label), the minority classes are the smallest classes whose
   total count is at most rho = 0.5 of the batch. For a binary attribute that is the class with
   fewer samples. See ``lmle_core.mining.crl.minority_classes``.
2. Hard mining, kappa per anchor (the anchors are the minority-class samples):
   - class level (TPAMI Eq. 4-5): hard positives = same-class samples with the LOWEST predicted
     probability of the anchor's class; hard negatives = other-class samples with the HIGHEST
     probability of the anchor's class;
   - instance level (Eq. 6-7): hard positives = the farthest same-class samples, hard
     negatives = the nearest other-class samples, in the embedding (Euclidean distance).
   The triplets are all kappa x kappa (anchor, positive, negative) combinations of an anchor.
3. The loss, in three forms: relative (triplet ranking, Eq. 9), absolute (contrastive, Eq. 13 /
   the poster), distribution (the histogram loss of Ustinova & Lempitsky, NIPS 2016, Eq. 14-16).
4. The objective (Eq. 8): L_bln = alpha * L_crl + (1 - alpha) * L_ce with alpha = eta * Omega_imb,
   Omega_imb "the minimum percentage count of data samples required over all classes in order to
   form an overall uniform (balanced) class distribution in the training data", eta a parameter
   estimated by cross-validation.

Sources: the ICCV poster (its equations for the three forms), the papers' abstracts, and write-ups
that quote the TPAMI equations (numbers below are TPAMI's); the full texts were not available to
us, so the points marked "could not check" rest on those quotes.

Where the papers leave a choice open, and what we chose
--------------------------------------------------------
- Ties and tiny classes: a class tied with the first class left out of the minority set is left
  out too (otherwise the set would depend on class order); so a binary batch with equal counts, or
  with a single class, has no minority. A minority class with a single sample in the batch gives
  no anchor (it has no positive; TPAMI skips such classes too, per a quoted footnote). An anchor
  is never its own positive (the pair has distance 0 and no gradient).
- kappa (``k``) is a parameter of the papers whose value we could not check; the TPAMI analysis
  is quoted as finding kappa = 1 (only the single hardest sample) worse. We use k = 5 by default
  (25 triplets per anchor). Mining is a selection: no gradient flows through it. kappa, eta and the
  margin decide the outcome on attributes: see "What decides the outcome" below before using the
  defaults. ``k = 0`` or ``"all"`` (``mining.crl.ALL_MINORITY``, ``Budget.crl_k = 0``) is kappa
  covering every minority sample: each anchor's hard positives are all the other samples of its
  class in the batch (count - 1 of them) and it gets as many hardest negatives.
- Distances. Instance level: Euclidean, not squared (TPAMI Eq. 11). Class level: TPAMI Eq. 10
  measures the distance on the probability p of the anchor's class: d(a, +) = |p_a - p_+|,
  d(a, -) = p_a - p_- (``distance="probability"``, the default at class level); the ICCV version
  leaves dist() generic, so ``distance="euclidean"`` gives class-level mining with embedding
  distances. Probabilities: softmax of the scores (multi-class), sigmoid (binary attributes,
  p(class 0) = 1 - sigmoid).
- Margin: one ``margin`` for the triplet and for the contrastive negative term, default 0.5.
  Probability distances lie in [-1, 1] and Euclidean distances of unit-norm embeddings in [0, 2],
  so 0.5 is a moderate margin on both scales. TPAMI Eq. 12 derives a per-attribute margin from the
  classes' spacing on a circle; we could not check its exact form, so it is left to the caller.
- Absolute form: the poster's 0.5 * (mean d(a, +) + mean max(m - d(a, -), 0)^2) by default; the
  TPAMI version squares the positive distance too (``squared_positive=True``).
- Distribution form: the histogram loss on similarities in [-1, 1] with Ustinova's linear
  interpolation onto ``n_bins`` + 1 nodes (step 2 / n_bins; default 100 bins, the
  pytorch-metric-learning default), each histogram normalised to sum 1 (TPAMI divides by the bin
  width; the poster does not: a constant factor). Loss = sum_r h-_r * sum_{q <= r} h+_q, the
  probability that a negative pair is more similar than a positive pair. With
  ``distance="euclidean"`` the similarity is the cosine similarity of the embeddings (Ustinova's
  definition; on unit-norm embeddings it equals 1 - d^2 / 2, so the order is that of d); with
  ``distance="probability"`` it is -d (Eq. 10), which is the poster's sum_t h+_t sum_{k<=t} h-_k
  over distances. The pairs are the mined (anchor, positive) and (anchor, negative) pairs; a pair
  mined from both of its ends counts twice.
- alpha: we read Omega_imb as the smallest fraction of the training samples that would have to
  change class for the class distribution to be uniform, i.e. the total-variation distance to
  the uniform distribution, sum_c max(0, n_c / N - 1 / C); 0 for balanced data, 0.5 - (minority
  share) for a binary attribute. eta is cross-validated in the papers (its value is not in the
  sources we could read; public re-implementations use 0.01); our default eta = 1 gives
  alpha = Omega_imb, from 0 (balanced: plain CE) to 0.5 (extreme binary imbalance: equal weights).
  alpha is clipped to [0, 1].
- Multi-label: every attribute is its own task with its own minority, anchors and alpha
  (``crl_alpha`` of an (A, 2) count table). The loss is the mean over the attributes that have
  anchors in the batch; with none it is 0, still attached to the inputs' graph.

What decides the outcome: kappa, eta and the margin (issue 19)
--------------------------------------------------------------
With the defaults (kappa 5, eta 1, margin 0.5) class-level CRL lowered minority recall far below
plain cross-entropy on CelebA (quick profile, 40 attributes: CRL(C) relative 61.8 mean balanced
accuracy at threshold 0.5 and 28.8 % recall, against Softmax's 74.0 and 54.6 %; 21 attributes at
exactly 50.0). An audit found no sign, index or label bug. The three values, never searched, decide
it, and what they move is the THRESHOLD, not the ranking. Measured with
``python scripts/crl_choices.py celeba`` (this repository): the CelebA aligned images present under
the data root (train 12,000 / val 4,535 / test 4,640), 10 of the 40 attributes spanning the imbalance
levels (Smiling, Heavy_Makeup, Wavy_Hair, Arched_Eyebrows, Brown_Hair, Bangs, 5_o_Clock_Shadow, Goatee,
Pale_Skin, Bald; an attribute trains the same alone or among others), the frozen-trunk protocol with
the quick profile's CRL budget (prior 800 iterations on all 40 attributes, then 2 rounds x 300
iterations of batches of 200 images, lr 0.01), seed 0, one axis at a time from the defaults; kappa
"all" = 100, half the batch, the most a batch's minority can hold. A shared 2-core x86_64 CPU, torch
2.14. Means over the 10 attributes, %; "tuned": a threshold per attribute chosen on validation
(``metrics.read_twice``); AUC and AP from the logits on test::

    setting                 val BA   BA at 0.5   BA tuned    AUC     AP   recall at 0.5   at 50.0
    Softmax (CE alone)       77.4       77.3       86.9     93.3   70.1       61.4            0
    kappa 5 (the default)    61.8       61.6       86.6     92.9   66.5       25.3            5
    kappa 10                 65.0       64.6       86.5     93.1   68.6       31.6            3
    kappa 25                 77.0       76.7       86.6     93.2   68.6       57.9            0
    kappa all (100)          84.8       84.5       86.6     93.2   67.5       78.8            0
    eta 0.01                 77.2       77.3       86.9     93.3   70.1       61.3            0
    eta 0.1                  75.8       76.2       86.4     93.3   70.3       58.5            0
    eta 0.3                  72.3       72.1       86.5     93.3   70.2       49.6            1
    margin 0.1               61.9       61.7       86.5     92.9   66.7       25.4            5
    margin 0.25              61.0       60.9       86.7     92.9   66.8       23.9            5
    best of each axis on validation (kappa all, eta 0.01, margin 0.1):
                             77.3       77.3       86.8     93.3   70.1       61.3            0

(val BA: validation, threshold 0.5, the selection criterion.) Balanced accuracy at 0.5 spans 61 to 85,
while at a validation-tuned threshold every setting, Softmax included, lies within 86.4-86.9 and
AUC within 92.9-93.3: kappa and eta move where the logit's zero falls. kappa = all beats Softmax
by 7.2 points at 0.5 and loses 0.2 at tuned thresholds and 0.2 in AUC: like the prior correction,
a moved threshold. eta = 0.01 makes alpha <= 0.005, i.e. cross-entropy alone. The margin hardly
matters at kappa 5. Each axis's edge won (kappa all, eta 0.01, margin 0.1: 0.06 points, noise), and
the per-axis combination is not a joint optimum (eta 0.01 switches CRL off, so it equals Softmax):
validation prefers kappa all at eta 1. Search kappa and eta jointly, and read CRL with AUC and
tuned balanced accuracy beside balanced accuracy at 0.5. (The committed results/quick numbers
predate later changes of the core; these were measured with this code. In that script kappa "all"
was k = 100; the library's ``k = "all"`` is the per-anchor count above, which mines the same
positives and at most as many negatives.)

The CRL study (``notebooks/crl.ipynb``) therefore searches kappa x eta, then the margin, per mining
level and form on validation (``lmle_core.study.crl_search``) and trains its CRL rows with the
chosen values; its run prints the evidence with every profile: the search table, the range of
validation balanced accuracy against the range of validation AUC over the grid (``crl_search_spread``),
each CRL method before and after the search read twice (``crl_before_after_search``), and the
per-attribute training log (``losses.crl_log``: minority count per batch, active-triplet share,
logit mean and spread, head-bias gradients).

The same grid on synthetic attributes (``python scripts/crl_choices.py synthetic``: 10 attributes,
positive rates 1-45 %, Gaussian 64-d features, heads trained from random initialisation by the same
loop, 2 rounds x 300 iterations, batches of 200; same CPU): Softmax 60.1 at 0.5 / 74.2 tuned / AUC
82.6; CRL kappa 5: 53.7 / 71.8 / 78.9 (8 of 10 attributes at 50.0); kappa 10, 25, all: 54.1, 55.1,
59.2 at 0.5, AUC 79.6, 80.4, 81.5; eta 0.01, 0.1, 0.3: 60.0, 58.7, 56.6 at 0.5, AUC 82.6, 82.5, 82.0;
margins 0.1 and 0.25 train exactly as 0.5 (every triplet is active, and an active hinge's gradient
does not depend on the margin). Without a trained prior, CRL at kappa 5 costs ranking too (AUC -3.8),
and no setting beats CE.

The mechanism, measured by ``crl_diagnostics`` (``crl_step_log``) on 20 random training batches of
200 images of the same attributes, logits of the trained networks. "minority push": minus the CRL
term's gradient on the minority samples' logits, towards the minority class; "batch push": the
same over every sample of the batch (minus the gradient on the head's bias, which moves the
threshold); means over batches and attributes, and the share of batch-attribute pairs below 0::

    logits of        kappa   minority push  (< 0)    batch push  (< 0)    active triplets
    Softmax            5        +0.136     (0.5 %)    -0.047    (75 %)       100 %
    Softmax           25        +0.156     (0.5 %)    +0.005    (50 %)        88 %
    Softmax          all        +0.131     (0.5 %)    +0.068     (2 %)        70 %
    CRL, kappa 5       5        +0.159       (0 %)    -0.026    (79 %)       100 %
    CRL, kappa all   all        +0.120     (0.5 %)    +0.042     (5 %)        55 %

On these batches the minority samples' own logits are pushed up at every kappa; the sign that flips
is the whole batch's (synthetic, Softmax's logits: batch push < 0 in 89 % of pairs at kappa 5, 35 %
at kappa all; minority push < 0 in 6 %). With kappa = 5 the hard positives are the lowest-scored minority samples, on
the flat tail of the sigmoid, so lifting them moves their logits little, while the hard negatives
are the majority samples scored nearest the boundary, at full slope, and are pushed down: the net
push on the attribute's logit (its bias) is towards the majority, and the threshold drifts until
rare attributes predict "absent" everywhere (balanced accuracy 50.0). With kappa covering all the
minority samples the mid-range positives enter and the net push turns towards the minority. The
minority-sample push can turn negative too, when the hard positives are a saturated tail that drags
mid-range positives down (anchor below its positive: Eq. 9 with Eq. 10 lifts the anchor twice and
drags the positive once); ``tests/losses/test_crl.py`` works such a batch by hand (kappa 5: -0.019,
kappa 7: +0.031), but it is not what happens on these CelebA batches.

Usage, 40 binary attributes (``train_pos`` / ``train_neg``: (A,) training counts)::

    crl, info = multilabel_crl_loss(emb, labels, logits, level="class", form="relative",
                                    return_details=True)
    ce = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none").mean(0)  # (A,)
    alpha = crl_alpha(binary_class_counts(train_pos, train_neg))                              # (A,)
    loss = crl_objective(info.per_task_loss, ce, alpha)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..mining.crl import (HardExamples, anchor_class_probability, batch_class_counts, mine_class_level,
                         mine_instance_level, minority_anchors, minority_classes)

LEVELS = ("class", "instance")
FORMS = ("relative", "absolute", "distribution")
DISTANCES = ("probability", "euclidean")

__all__ = ["CRLDetails", "HardExamples", "batch_class_counts", "crl_alpha", "crl_loss", "crl_objective",
           "histogram_loss", "imbalance_measure", "mine_class_level", "mine_instance_level", "minority_anchors",
           "minority_classes", "multilabel_crl_loss", "similarity_histogram"]


# ----------------------------------------------------------------------------- alpha (Eq. 8)
def imbalance_measure(class_counts) -> torch.Tensor:
    """Omega_imb per row of ``class_counts`` (..., C): sum_c max(0, n_c / N - 1 / C)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.shape[-1] < 2 or (counts < 0).any() or (counts.sum(-1) <= 0).any():
        raise ValueError("class_counts must hold >= 2 non-negative counts per row, not all zero")
    share = counts / counts.sum(-1, keepdim=True)
    return (share - 1.0 / counts.shape[-1]).clamp_min(0).sum(-1)


def crl_alpha(class_counts, eta: float = 1.0) -> torch.Tensor:
    """alpha = eta * Omega_imb, clipped to [0, 1]; (A, 2) counts [negatives, positives] give (A,)."""
    return (eta * imbalance_measure(class_counts)).clamp(0.0, 1.0)


def crl_objective(crl, cross_entropy, alpha) -> torch.Tensor:
    """mean of alpha * crl + (1 - alpha) * cross_entropy; scalars, or (A,) per attribute (an
    attribute without anchors in the batch has crl = 0 and contributes (1 - alpha) * ce)."""
    alpha = torch.as_tensor(alpha, dtype=cross_entropy.dtype, device=cross_entropy.device)
    return (alpha * crl + (1 - alpha) * cross_entropy).mean()


# ---------------------------------------------------------------- histogram loss (Ustinova)
def similarity_histogram(values: torch.Tensor, mask: Optional[torch.Tensor] = None,
                         n_bins: int = 100) -> torch.Tensor:
    """(..., n_bins + 1) histogram of similarities ``values`` (..., N) in [-1, 1] on the nodes
    -1 + r * 2 / n_bins, each value split linearly between its two nodes; sums to 1 per row."""
    step = 2.0 / n_bins
    x = (values.clamp(-1, 1) + 1) / step
    lower = x.detach().floor().clamp(0, n_bins - 1)   # the node below (a value at +1 uses the last bin)
    upper_share = x - lower                            # the gradient flows through the shares
    w = torch.ones_like(values) if mask is None else mask.to(values.dtype)
    hist = values.new_zeros(*values.shape[:-1], n_bins + 1)
    hist = hist.scatter_add(-1, lower.long(), (1 - upper_share) * w)
    hist = hist.scatter_add(-1, lower.long() + 1, upper_share * w)
    return hist / w.sum(-1, keepdim=True).clamp_min(1)


def histogram_loss(positive_similarity, negative_similarity, n_bins: int = 100,
                   positive_mask=None, negative_mask=None) -> torch.Tensor:
    """sum_r h-_r * cumsum(h+)_r: the estimated probability that a negative pair is at least as
    similar as a positive pair (Ustinova & Lempitsky 2016). Batched over leading dims."""
    h_pos = similarity_histogram(positive_similarity, positive_mask, n_bins)
    h_neg = similarity_histogram(negative_similarity, negative_mask, n_bins)
    return (h_neg * h_pos.cumsum(-1)).sum(-1)


# --------------------------------------------------------------------------- the loss forms
@dataclass
class CRLDetails:
    """Diagnostics of one CRL evaluation; one entry per task (attribute, or the single task)."""

    per_task_loss: torch.Tensor        # (T,) CRL of each task, 0 where inactive
    active: torch.Tensor               # (T,) bool: the task has anchors in this batch
    minority_classes: torch.Tensor     # (T, C) bool: the batch's minority classes
    num_anchors: torch.Tensor          # (T,)
    num_triplets: torch.Tensor         # (T,) valid (anchor, positive, negative) combinations
    num_positive_pairs: torch.Tensor   # (T,)
    num_negative_pairs: torch.Tensor   # (T,)
    hard_examples: HardExamples


def _masked_mean(values, mask, dims):
    mask = mask.to(values.dtype)
    return (values * mask).sum(dims) / mask.sum(dims).clamp_min(1)


def _gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (E, B, ...) with E in {1, T}, idx (T, B, k) -> x[t, idx[t, a, i]] as (T, B, k, ...).

    By index_select on the flattened rows: the backward of advanced indexing adds rows with parallel
    atomics on CPU, so its gradient sums would vary from run to run."""
    t, b = idx.shape[0], x.shape[1]
    flat = x.expand(t, *x.shape[1:]).reshape(t * b, *x.shape[2:])
    offsets = torch.arange(t, device=idx.device)[:, None, None] * b
    return flat.index_select(0, (idx + offsets).reshape(-1)).view(*idx.shape, *x.shape[2:])


def pair_distances(mined, labels, probabilities, embeddings, distance):
    """(T, B, k) anchor-positive and anchor-negative distances, with gradients."""
    if distance == "probability":   # TPAMI Eq. 10
        p = anchor_class_probability(probabilities, labels)
        p_anchor = p.diagonal(dim1=1, dim2=2)[..., None]
        return (p_anchor - p.gather(2, mined.positives)).abs(), p_anchor - p.gather(2, mined.negatives)
    anchor = embeddings[:, :, None, :]

    def dist(idx):  # clamp: no NaN gradient at distance 0 (an anchor paired with itself is masked out)
        return (anchor - _gather_rows(embeddings, idx)).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    return dist(mined.positives), dist(mined.negatives)


def _pair_similarities(mined, labels, probabilities, embeddings, distance):
    """(T, B, k) similarities in [-1, 1] for the histogram loss."""
    if distance == "probability":
        d_pos, d_neg = pair_distances(mined, labels, probabilities, None, distance)
        return -d_pos, -d_neg
    unit = F.normalize(embeddings, dim=-1)
    anchor = unit[:, :, None, :]
    return ((anchor * _gather_rows(unit, mined.positives)).sum(-1),
            (anchor * _gather_rows(unit, mined.negatives)).sum(-1))


def _relative(d_pos, d_neg, pv, nv, anchors, margin) -> torch.Tensor:
    """(T,) Eq. 9 per task: the mean over its valid (anchor, positive, negative) triplets of
    [margin + d(a, +) - d(a, -)]_+. Only the anchors' rows are expanded to positives x negatives, and
    only as far as the longest valid list (the miners put the valid entries first): a kappa covering a
    whole batch costs (anchors x minority x kappa), not (tasks x batch x kappa x kappa)."""
    t_idx, b_idx = anchors.nonzero(as_tuple=True)
    rows = t_idx * anchors.shape[1] + b_idx
    n_pos, n_neg = int(pv.sum(-1).max()), int(nv.sum(-1).max())   # 0 when there is no anchor

    def take(x, width):
        return x.reshape(-1, x.shape[-1]).index_select(0, rows)[:, :width]
    dp, dn, pvr, nvr = take(d_pos, n_pos), take(d_neg, n_neg), take(pv, n_pos), take(nv, n_neg)
    valid = (pvr[:, :, None] & nvr[:, None, :]).to(dp.dtype)
    violation = F.relu(margin + dp[:, :, None] - dn[:, None, :]) * valid
    # per task sums as a product with the rows' one-hot task matrix (deterministic, unlike index_add)
    owner = F.one_hot(t_idx, anchors.shape[0]).to(dp.dtype).t()             # (T, R)
    total = owner @ violation.sum((1, 2))
    count = owner @ valid.sum((1, 2))
    # d_pos * 0 keeps tasks without anchors attached to the graph (their loss is 0)
    return total / count.clamp_min(1) + 0 * d_pos.sum((1, 2))


def _check(level, form, distance, probabilities, embeddings):
    if level not in LEVELS or form not in FORMS:
        raise ValueError(f"level must be one of {LEVELS} and form one of {FORMS}, got {level!r}, {form!r}")
    distance = distance or ("probability" if level == "class" else "euclidean")
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if (level == "class" or distance == "probability") and probabilities is None:
        raise ValueError("class-level mining and probability distances need the classifier scores")
    if (level == "instance" or distance == "euclidean") and embeddings is None:
        raise ValueError("instance-level mining and Euclidean distances need the embeddings")
    return distance


def _reference_tensor(scores, embeddings) -> torch.Tensor:
    if scores is None and embeddings is None:
        raise ValueError("CRL needs the embeddings, the classifier scores, or both")
    return scores if scores is not None else embeddings


def _crl(labels, num_classes, probabilities, embeddings, *, level, form, k, margin, distance, n_bins,
         squared_positive, rho, min_minority_samples, return_details):
    distance = _check(level, form, distance, probabilities, embeddings)
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    anchors, minority = minority_anchors(labels, num_classes, rho, min_minority_samples)
    if level == "class":
        mined = mine_class_level(labels, probabilities, anchors, k)
    else:
        mined = mine_instance_level(labels, embeddings, anchors, k)
    pv, nv = mined.positive_valid, mined.negative_valid
    if form == "distribution":
        s_pos, s_neg = _pair_similarities(mined, labels, probabilities, embeddings, distance)
        per_task = histogram_loss(s_pos.flatten(1), s_neg.flatten(1), n_bins, pv.flatten(1), nv.flatten(1))
    else:
        d_pos, d_neg = pair_distances(mined, labels, probabilities, embeddings, distance)
        if form == "relative":   # Eq. 9: mean over the triplets T
            per_task = _relative(d_pos, d_neg, pv, nv, anchors, margin)
        else:                    # Eq. 13 / poster: 0.5 * (positive term + negative term)
            positive = d_pos.pow(2) if squared_positive else d_pos
            per_task = 0.5 * (_masked_mean(positive, pv, (1, 2))
                              + _masked_mean(F.relu(margin - d_neg).pow(2), nv, (1, 2)))
    active = anchors.any(1)
    # inactive tasks have per_task == 0 built from the inputs, so the result keeps a gradient path
    loss = per_task.sum() / active.sum().clamp_min(1)
    if not return_details:
        return loss
    details = CRLDetails(per_task_loss=per_task, active=active, minority_classes=minority,
                         num_anchors=anchors.sum(1), num_triplets=(pv.sum(-1) * nv.sum(-1)).sum(1),
                         num_positive_pairs=pv.sum((1, 2)), num_negative_pairs=nv.sum((1, 2)),
                         hard_examples=mined)
    return loss, details


def crl_loss(embeddings: Optional[torch.Tensor], labels, scores: Optional[torch.Tensor] = None, *,
             level: str = "class", form: str = "relative", k: int = 5, margin: float = 0.5,
             distance: Optional[str] = None, n_bins: int = 100, squared_positive: bool = False,
             rho: float = 0.5, min_minority_samples: int = 2, return_details: bool = False):
    """CRL of one multi-class task. ``embeddings`` (B, d) (may be None at class level with
    probability distances), ``labels`` (B,) integer classes, ``scores`` (B, C) logits (softmax
    gives the probabilities). ``level`` "class" | "instance", ``form`` "relative" | "absolute" |
    "distribution", ``distance`` "probability" (class-level default) | "euclidean" (instance-level
    default). Returns the loss, or (loss, CRLDetails) with ``return_details``; 0 (attached to the
    graph) when the batch has no minority anchor."""
    ref = _reference_tensor(scores, embeddings)
    labels = torch.as_tensor(labels, device=ref.device).long().reshape(1, -1)
    num_classes = scores.shape[1] if scores is not None else int(labels.max()) + 1
    probabilities = scores.softmax(-1)[None] if scores is not None else None
    emb = embeddings[None] if embeddings is not None else None
    return _crl(labels, num_classes, probabilities, emb, level=level, form=form, k=k, margin=margin,
                distance=distance, n_bins=n_bins, squared_positive=squared_positive, rho=rho,
                min_minority_samples=min_minority_samples, return_details=return_details)


def multilabel_crl_loss(embeddings: Optional[torch.Tensor], labels, scores: Optional[torch.Tensor] = None, *,
                        level: str = "class", form: str = "relative", k: int = 5, margin: float = 0.5,
                        distance: Optional[str] = None, n_bins: int = 100, squared_positive: bool = False,
                        rho: float = 0.5, min_minority_samples: int = 2, return_details: bool = False):
    """CRL of A binary attributes, each its own task. ``labels`` (B, A) in {0, 1}, ``scores``
    (B, A) logits (p(class 1) = sigmoid), ``embeddings`` (B, d) shared or (B, A, d) one per
    attribute. Returns the mean over the attributes with anchors in the batch (0, attached to the
    graph, when none), or (loss, CRLDetails) whose ``per_task_loss`` (A,) feeds ``crl_objective``."""
    ref = _reference_tensor(scores, embeddings)
    labels = torch.as_tensor(labels, device=ref.device).long()
    if labels.dim() != 2:
        raise ValueError(f"labels must be (B, A), got {tuple(labels.shape)}")
    probabilities = None
    if scores is not None:
        if scores.shape != labels.shape:
            raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} must match")
        z = scores.t()
        probabilities = torch.stack([torch.sigmoid(-z), torch.sigmoid(z)], -1)   # (A, B, 2)
    emb = None
    if embeddings is not None:
        emb = embeddings[None] if embeddings.dim() == 2 else embeddings.transpose(0, 1)
        if emb.shape[0] not in (1, labels.shape[1]):
            raise ValueError(f"embeddings must be (B, d) or (B, A, d), got {tuple(embeddings.shape)}")
    return _crl(labels.t(), 2, probabilities, emb, level=level, form=form, k=k, margin=margin,
                distance=distance, n_bins=n_bins, squared_positive=squared_positive, rho=rho,
                min_minority_samples=min_minority_samples, return_details=return_details)
