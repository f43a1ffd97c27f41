"""Training: one loop for the softmax, triplet and quintuplet (LMLE) embeddings.

LMLE (Sec. 3.2): in rounds, (1) cluster each class on the current features
(round 0: the prior, softmax-pretrained features), (2) build the quintuplet
table on a random 50% candidate subset, (3) train ``iters_per_round`` steps on
(optionally class-balanced) mini-batches of anchors whose five quintuplet
members go through the network in ONE batched forward pass, with the
triple-header hinge loss and (optionally) in-batch class costs, then
re-cluster with the learned features; stop when the validation balanced
accuracy stops improving (the paper: within 4 rounds of 5,000 iterations).

Triplet baseline: anchor, a random positive of the anchor's class (drawn each
step) and the nearest other-class candidate from the per-round table; one
margin (the inter-class bound g3 times ``margin_scale``).

Softmax baseline: cross-entropy on the classifier head, same sampling/cost options;
rounds are only validation checkpoints.

Single-label (multi-class) data; classification of embeddings by
``LargeMarginKNN`` on per-class cluster centroids, of softmax by its argmax.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import clustering, losses, metrics, mining, objectives, sampling
from .imageset import ImageSet
from .knn import LargeMarginKNN
from .run_state import RunState

LOSSES = ("softmax", "triplet", "quintuplet")


@dataclass
class TrainConfig:
    loss: str = "quintuplet"
    resample: bool = False
    cost: bool = False
    iters_per_round: int = 5000
    max_rounds: int = 4
    patience: int = 1               # rounds without validation gain before stopping
    batch_size: int = 40            # anchors (softmax: images) per step
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    cluster_size: int = 200
    subset_fraction: float = 0.5
    margin_scale: float = 0.5       # margins = margin_scale * geometric upper bounds
    sphere_fraction: float = 1.0    # the paper's s in the bounds
    knn_k: int = 20
    eval_batch_size: int = 2048
    seed: int = 0
    positive_sharing: float = 0.0   # costs: weight of the positive super-class vs the negative class (edges)
    negative_class: Optional[int] = None
    objective: str = "ce"           # classification loss of softmax methods (lmle_core.objectives)
    crl: str = ""                   # Class Rectification Loss as "<level>-<form>", e.g. "class-relative"
    crl_eta: float = 1.0            # alpha = crl_eta * Omega_imb (losses.crl_alpha)
    crl_k: int = 5                  # CRL: hard positives / negatives per minority anchor (kappa)
    crl_margin: float = 0.5         # CRL: the margin of the relative and absolute forms
    margin_bounds: str = "chord"    # bounds on squared distances: "chord" 2 sin(.) as the paper writes, or "squared"
    cap_g2: bool = False            # cap the g2 angle at pi/2 (classes over half the data)
    triplet_mining: str = "table"   # triplet: "table" (random positive, nearest negative per round) or
                                    # "semi-hard" (FaceNet, in the batch of 5 x batch_size images)
    recluster: bool = True          # False: keep round 1's clusters and quintuplets (a control)
    lr_decay: float = 1.0           # learning rate x lr_decay at every round after the first (a control)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}; expected one of {LOSSES}")
        if self.crl and (self.loss != "softmax" or self.crl.count("-") != 1):
            raise ValueError(f"crl={self.crl!r}: CRL is '<class|instance>-<relative|absolute|distribution>' "
                             f"on a softmax method")
        if self.margin_bounds not in ("chord", "squared"):
            raise ValueError(f"margin_bounds={self.margin_bounds!r}; expected 'chord' or 'squared'")
        if self.triplet_mining not in ("table", "semi-hard"):
            raise ValueError(f"triplet_mining={self.triplet_mining!r}; expected 'table' or 'semi-hard'")
        for name in ("iters_per_round", "max_rounds", "batch_size", "cluster_size", "knn_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class RoundLog:
    round: int
    iterations: int
    mean_loss: float
    val_balanced_accuracy: float
    train_seconds: float
    images_per_second: float
    cluster_seconds: float = 0.0
    mining_seconds: float = 0.0
    eval_seconds: float = 0.0


@dataclass
class TrainResult:
    net: nn.Module
    config: TrainConfig
    history: List[RoundLog] = field(default_factory=list)
    best_round: int = -1
    train_features: Optional[torch.Tensor] = None  # embeddings of the training set (best net)
    predictor: Optional[Callable[[ImageSet], np.ndarray]] = None

    @property
    def iterations(self) -> int:
        return sum(r.iterations for r in self.history)


@torch.no_grad()
def _batched_eval(net: nn.Module, data: ImageSet, batch_size: int, fn) -> list:
    """fn(net, x) over the whole set in eval mode (training mode restored afterwards)."""
    was_training = net.training
    net.eval()
    out = []
    with _autocast(data.device):
        for s in range(0, len(data), batch_size):
            out.append(fn(net, _layout(data.batch(np.arange(s, min(s + batch_size, len(data)))))))
    net.train(was_training)
    return out


def embed(net: nn.Module, data: ImageSet, batch_size: int = 2048, raw: bool = False) -> torch.Tensor:
    """Embeddings (N, d) (L2-normalised unless ``raw``) of every image, on the data's device."""
    out = _batched_eval(net, data, batch_size, lambda n, x: (n.raw_embedding(x) if raw else n(x)).float())
    return torch.cat(out) if out else torch.empty(0)


def predict_softmax(net: nn.Module, data: ImageSet, batch_size: int = 2048) -> np.ndarray:
    out = _batched_eval(net, data, batch_size, lambda n, x: n.logits(x).argmax(1).cpu())
    return torch.cat(out).numpy()


def knn_predictor(net, train_features, train_labels, cluster_size, k, seed=0, eval_batch_size=2048):
    """LMLE-kNN: cluster the training embeddings per class, Eq. 3 over the k nearest centroids."""
    clusters = clustering.cluster_per_class(train_features, train_labels, cluster_size, seed=seed)
    knn = LargeMarginKNN(k=k).fit(clusters.centroids, clusters.centroid_labels)

    def predict(data: ImageSet) -> np.ndarray:
        return knn.predict(embed(net, data, eval_batch_size))

    predict.clusters = clusters
    return predict


def make_predictor(net, cfg: TrainConfig, train_features, train_labels):
    if cfg.loss == "softmax":
        return lambda data: predict_softmax(net, data, cfg.eval_batch_size)
    return knn_predictor(net, train_features, train_labels, cfg.cluster_size, cfg.knn_k,
                         cfg.seed, cfg.eval_batch_size)


def train(net: nn.Module, train_set: ImageSet, val_set: ImageSet, cfg: TrainConfig,
          progress: bool = True, desc: str = "", checkpoint: Optional[Path] = None,
          initial_features=None, groups=None, curve_iters=(), on_curve=None) -> TrainResult:
    """Train ``net`` in place by ``cfg``; returns the best-on-validation state and its history.

    ``initial_features`` (N, d): prior features for the first round's clusters / quintuplets or
    nearest negatives (the edge task's hand-crafted features) instead of the network's embeddings.
    ``groups`` (N,): source-image ids (augmented copies share one); no quintuplet member comes
    from its anchor's group. ``on_curve(iteration, net)`` is called after each global iteration
    listed in ``curve_iters`` (a budget curve from one run; it must leave the net as it found it).
    """
    if train_set.labels.ndim != 1:
        raise ValueError("training.train handles single-label data; labels must be (N,)")
    device = train_set.device
    torch.manual_seed(cfg.seed)
    net.to(device)
    if device.type == "cuda":
        net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    labels = train_set.labels.astype(np.int64)
    state = RunState(result=TrainResult(net=net, config=cfg))
    if checkpoint is not None:
        state.load(checkpoint, cfg, net, opt)
    bounds = losses.margin_upper_bounds(np.bincount(labels), cfg.cluster_size, cfg.sphere_fraction,
                                        squared=cfg.margin_bounds == "squared", cap_half=cfg.cap_g2) \
        if len(np.unique(labels)) > 1 else None
    curve_iters, done_iters, first_plan = set(int(i) for i in curve_iters), cfg.iters_per_round * state.next_round, None
    per_step = 5 if cfg.loss == "triplet" and cfg.triplet_mining == "semi-hard" else 1
    if state.features is not None or cfg.loss == "softmax":
        features = state.features
    elif initial_features is not None:
        features = torch.as_tensor(np.asarray(initial_features), dtype=torch.float32, device=device)
    else:
        features = embed(net, train_set, cfg.eval_batch_size)

    for rnd in range(state.next_round, cfg.max_rounds):
        t0 = time.perf_counter()
        if first_plan is not None and not cfg.recluster:
            plan = {**first_plan, "progress": rnd / cfg.max_rounds, "cluster_seconds": 0.0, "mining_seconds": 0.0}
        else:
            plan = _plan_round(cfg, features, labels, rnd, groups)
            first_plan = plan
        for group in opt.param_groups:
            group["lr"] = cfg.lr * cfg.lr_decay ** rnd
        t_mined = time.perf_counter()
        sampler = sampling.BatchSampler(labels, cfg.batch_size * per_step, cfg.resample, seed=cfg.seed + 1000 * rnd)
        step = _STEPS[cfg.loss]
        losses_seen, n_images = [], 0
        net.train()
        rng = np.random.default_rng(cfg.seed + 17 * rnd)
        iterator = range(cfg.iters_per_round)
        bar = _progress(iterator, progress, f"{desc} round {rnd + 1}/{cfg.max_rounds}")
        t_train = time.perf_counter()
        for it in bar:
            anchors = sampler.next()
            weights = _costs(cfg, labels[anchors]) if cfg.cost else None
            with deterministic_algorithms(device):
                with _autocast(device):
                    loss, imgs = step(net, train_set, labels, anchors, weights, plan, bounds, cfg, rng)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()
            losses_seen.append(float(loss.detach()))
            n_images += imgs
            if progress and it % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses_seen[-20:]):.4f}")
            done_iters += 1
            if done_iters in curve_iters and on_curve is not None:
                on_curve(done_iters, net)
        train_s = time.perf_counter() - t_train
        t_eval = time.perf_counter()
        features = embed(net, train_set, cfg.eval_batch_size) if cfg.loss != "softmax" else None
        predictor = make_predictor(net, cfg, features, labels)
        val_score = metrics.balanced_accuracy(val_set.labels, predictor(val_set))
        log = RoundLog(round=rnd + 1, iterations=cfg.iters_per_round,
                       mean_loss=float(np.mean(losses_seen)),
                       val_balanced_accuracy=val_score, train_seconds=train_s,
                       images_per_second=n_images / max(train_s, 1e-9),
                       cluster_seconds=plan.get("cluster_seconds", 0.0),
                       mining_seconds=plan.get("mining_seconds", t_mined - t0 - plan.get("cluster_seconds", 0.0)),
                       eval_seconds=time.perf_counter() - t_eval)
        stop = state.record(log, net, features, predictor)
        if checkpoint is not None:
            state.save(checkpoint, cfg, net, opt, features)
        if stop:
            break
    return state.finish(net, train_set)


def _plan_round(cfg: TrainConfig, features, labels, rnd: int, groups=None) -> dict:
    """Per-round offline tables: clusters + quintuplets (LMLE) or nearest negatives (triplet); for
    softmax methods the fraction of training done (deferred re-weighting)."""
    plan = {"progress": rnd / cfg.max_rounds}
    if cfg.loss == "quintuplet":
        t = time.perf_counter()
        clusters = clustering.cluster_per_class(features, labels, cfg.cluster_size, seed=cfg.seed + rnd)
        plan["cluster_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        plan["table"] = mining.build_quintuplets(features, labels, clusters.assignments,
                                                 cfg.subset_fraction, seed=cfg.seed + rnd, groups=groups)
        plan["mining_seconds"] = time.perf_counter() - t
        plan["n_clusters"] = clusters.n_clusters
    elif cfg.loss == "triplet" and cfg.triplet_mining == "table":
        t = time.perf_counter()
        plan["negatives"] = mining.nearest_other_class(features, labels, cfg.subset_fraction,
                                                       seed=cfg.seed + rnd)
        plan["members"] = sampling.ClassMembers(labels)
        plan["mining_seconds"] = time.perf_counter() - t
    return plan


def _softmax_step(net, data, labels, anchors, weights, plan, bounds, cfg, rng):
    """Softmax classification (cross-entropy or another objective), plus CRL when the method has it."""
    x = _layout(data.batch(anchors))
    raw = net.raw_embedding(x)
    logits = net.classifier(raw).float()
    target = torch.as_tensor(labels[anchors], device=logits.device)
    counts = np.bincount(labels, minlength=logits.shape[1])
    progress = plan.setdefault("progress", 0.0)
    plan["progress"] = progress + 1.0 / (cfg.iters_per_round * cfg.max_rounds)
    loss = objectives.classification_loss(cfg.objective, logits, target, counts, progress, _to(weights, logits))
    if cfg.crl:  # Dong et al.: alpha * L_crl + (1 - alpha) * L_ce, alpha from the training imbalance
        level, form = cfg.crl.split("-")
        crl = losses.crl_loss(F.normalize(raw.float(), dim=-1), target, logits, level=level, form=form,
                              k=cfg.crl_k, margin=cfg.crl_margin)
        alpha = float(losses.crl_alpha(counts, cfg.crl_eta))
        loss = alpha * crl + (1 - alpha) * loss
    return loss, len(anchors)


def _quintuplet_step(net, data, labels, anchors, weights, plan, bounds, cfg, rng):
    rows = plan["table"][anchors]
    valid = losses.quintuplet_term_mask(rows)
    filled = np.where(rows >= 0, rows, rows[:, :1])  # a missing member is replaced by the anchor, then masked
    emb = net(_layout(data.batch(filled.reshape(-1)))).float().view(len(anchors), 5, -1)
    margins = torch.as_tensor(bounds.scaled(cfg.margin_scale, labels[anchors]), device=emb.device).float()
    loss = losses.triple_header_hinge(emb[:, 0], emb[:, 1], emb[:, 2], emb[:, 3], emb[:, 4], margins,
                                      weights=_to(weights, emb), valid=torch.as_tensor(valid, device=emb.device))
    return loss, filled.size


def _triplet_step(net, data, labels, anchors, weights, plan, bounds, cfg, rng):
    if cfg.triplet_mining == "semi-hard":  # the batch is 5 x batch_size images; triplets mined inside it
        emb = net(_layout(data.batch(anchors))).float()
        target = torch.as_tensor(labels[anchors], device=emb.device)
        return losses.semihard_triplet_loss(emb, target, cfg.margin_scale * bounds.g3, _to(weights, emb)), len(anchors)
    positives = plan["members"].draw(labels[anchors], rng)
    negatives = plan["negatives"][anchors]
    valid = negatives >= 0
    idx = np.stack([anchors, positives, np.where(valid, negatives, anchors)], 1)
    emb = net(_layout(data.batch(idx.reshape(-1)))).float().view(len(anchors), 3, -1)
    loss = losses.triplet_hinge(emb[:, 0], emb[:, 1], emb[:, 2], cfg.margin_scale * bounds.g3,
                                weights=_to(weights, emb), valid=torch.as_tensor(valid, device=emb.device))
    return loss, idx.size


_STEPS = {"softmax": _softmax_step, "quintuplet": _quintuplet_step, "triplet": _triplet_step}


def _costs(cfg: TrainConfig, batch_labels: np.ndarray) -> np.ndarray:
    if cfg.negative_class is not None and cfg.positive_sharing > 0:
        return sampling.positive_sharing_costs(batch_labels, cfg.negative_class, cfg.positive_sharing)
    return sampling.batch_costs(batch_labels)


def _to(weights, like: torch.Tensor):
    return None if weights is None else torch.as_tensor(weights, device=like.device, dtype=torch.float32)


def _layout(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


@contextlib.contextmanager
def deterministic_algorithms(device: torch.device):
    """On CPU, torch's deterministic kernels for the duration (restored afterwards): a loss that
    gathers rows with ``x[idx]`` would otherwise sum their gradients with parallel atomics, whose
    order changes from run to run. On CUDA the fast kernels stay (determinism is promised on CPU)."""
    if device.type != "cpu":
        yield
        return
    before, warn_only = torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return _Quiet(iterable)
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, leave=False, mininterval=1.0)


class _Quiet:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **_):
        pass
