"""Multi-label (attribute) training: one embedding head per attribute on shared features.

LMLE for the 40 CelebA attributes (Sec. 5): a shared trunk with one embedding head per
attribute; EVERY attribute has its own per-class clusters, quintuplet table, class-balanced
anchors, in-batch costs, margins and large-margin kNN (k clusters, Eq. 3). One step trains all
attributes: the quintuplet members of every attribute are gathered, their union goes through
the feature source ONCE, and each head embeds its own attribute's members (batched heads).

Feature sources (where the heads' input comes from):

- :class:`CachedFeatures`, the frozen-trunk protocol (CPU): the prior network's shared features
  of every training image and of its mirror image, computed once; the heads train on them.
  Mirror rows share their source image's group, so a mirror is never a member of its own
  image's quintuplet.
- :class:`TrunkFeatures`, end to end (GPU): the trunk runs on the images of the step's union
  (random horizontal flips), and trains with the heads.

Losses per attribute, summed over attributes (so each head gets the gradient of its own loss,
and training A attributes at once equals training each alone when the trunk is frozen):
``softmax`` sigmoid cross-entropy (plain: one shared batch of images; +resample: class-balanced
images per attribute), ``triplet`` (anchor, random positive, nearest other-class negative of the
round's table), ``quintuplet`` (the triple-header hinge). Costs: per attribute, inverse to the
class size in that attribute's batch.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import clustering, distributed, losses, metrics, mining, objectives, sampling
from .imageset import ImageSet
from .knn import InstanceKNN, LargeMarginKNN
from .training import TrainConfig, _autocast, _progress, deterministic_algorithms


# ----------------------------------------------------------------------------------------------
# Feature sources
# ----------------------------------------------------------------------------------------------
class CachedFeatures:
    """Frozen trunk: precomputed shared features. Train rows are the images then their mirrors."""

    trainable = False

    def __init__(self, train: torch.Tensor, val: torch.Tensor, test: torch.Tensor, n_images: int):
        self.splits = {"train": train, "val": val, "test": test}
        self.n_images = n_images                       # train rows = n_images originals + n_images mirrors

    def rows(self, split: str) -> int:
        return int(self.splits[split].shape[0])

    def groups(self) -> np.ndarray:
        return np.tile(np.arange(self.n_images), self.rows("train") // self.n_images)

    def train_features(self, idx: torch.Tensor) -> torch.Tensor:
        return self.splits["train"].index_select(0, idx)

    def all_features(self, split: str, batch_size: int = 8192):
        feats = self.splits[split]
        for s in range(0, feats.shape[0], batch_size):
            yield feats[s:s + batch_size]

    def parameters(self):
        return []

    def train(self, mode: bool = True):
        return self


class TrunkFeatures:
    """End to end: ``net.features`` (trunk + shared layer) on the images, trained with the heads."""

    trainable = True

    def __init__(self, net, sets: dict, flip: bool = True, seed: int = 0):
        self.net, self.sets, self.flip = distributed.sync_batch_norm(net), sets, flip
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.n_images = len(sets["train"])

    def rows(self, split: str) -> int:
        return len(self.sets[split])

    def groups(self) -> np.ndarray:
        return np.arange(self.n_images)

    def train_features(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.sets["train"].batch(idx)
        if self.flip:  # random horizontal flips: the mirror images of the frozen protocol, drawn on the fly
            flip = (torch.rand(len(idx), generator=self.gen) < 0.5).to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.features(x)

    @torch.no_grad()
    def all_features(self, split: str, batch_size: int = 1024, mirror: bool = False):
        """Features of every image of ``split`` in eval mode (``mirror``: of their mirror images)."""
        was = self.net.training
        self.net.eval()
        data = self.sets[split]
        with _autocast(data.device):
            for s in range(0, len(data), batch_size):
                x = data.batch(np.arange(s, min(s + batch_size, len(data))))
                yield self.net.features(x.flip(-1) if mirror else x).float()
        self.net.train(was)

    def parameters(self):
        return list(self.net.trunk.parameters()) + list(self.net.shared.parameters())

    def train(self, mode: bool = True):
        self.net.trunk.train(mode)
        self.net.shared.train(mode)
        return self


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
@dataclass
class RoundLog:
    round: int
    iterations: int
    mean_loss: float
    val_mean_balanced_accuracy: float
    train_seconds: float
    images_per_second: float
    plan_seconds: float = 0.0
    eval_seconds: float = 0.0


@dataclass
class MultiLabelTrainResult:
    config: TrainConfig
    heads_state: dict                          # best-on-validation heads (CPU tensors)
    source_state: Optional[dict]               # best trunk + shared layer (end to end), else None
    history: List[RoundLog] = field(default_factory=list)
    best_round: int = -1
    val_balanced_accuracy: Optional[np.ndarray] = None    # (A,) at the best round
    knn_state: Optional[list] = None           # per attribute: Eq. 3 centroids of the best round (embeddings)

    @property
    def iterations(self) -> int:
        return sum(r.iterations for r in self.history)


# ----------------------------------------------------------------------------------------------
# Embeddings and decisions
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def attribute_embeddings(heads, source, split: str, attribute: int) -> torch.Tensor:
    """(N, d) L2-normalised embeddings of one attribute's head for every row of ``split``."""
    out = [F.normalize(heads.raw_per_task(f[None], tasks=[attribute])[0].float(), dim=-1)
           for f in source.all_features(split)]
    return torch.cat(out)


@torch.no_grad()
def attribute_logits(heads, source, split: str) -> torch.Tensor:
    """(N, A) classifier logits of every attribute for every row of ``split``."""
    return torch.cat([heads.logits_from_raw(heads.raw(f)).float() for f in source.all_features(split)])


@dataclass
class AttributeKNN:
    """One attribute's fitted classifier: Eq. 3 over its per-class clusters (``clusters`` kept: the next
    round's quintuplets use the same clustering), or the instance-wise vote."""

    classifier: object
    clusters: Optional[clustering.ClusterResult] = None

    def state(self) -> dict:
        """What the cache stores: the centroids and their classes (Eq. 3 needs nothing else)."""
        c = self.clusters
        return {"centroids": c.centroids, "centroid_labels": c.centroid_labels}


def fit_attribute_knns(heads, source, labels: np.ndarray, cluster_size: int, k: int, seed: int = 0,
                       instance: bool = False, seed_ids: Optional[Sequence[int]] = None) -> List[AttributeKNN]:
    """Per attribute: cluster the training embeddings of each class (k-means, ``cluster_size``) and fit
    the large-margin cluster kNN (Eq. 3), or with ``instance`` the majority vote over all training rows."""
    seed_ids = range(labels.shape[1]) if seed_ids is None else seed_ids
    out = []
    for a in range(labels.shape[1]):
        emb = attribute_embeddings(heads, source, "train", a)
        y = labels[:, a].astype(np.int64)
        if instance:
            out.append(AttributeKNN(InstanceKNN(k=k).fit(emb, y)))
            continue
        cl = clustering.cluster_per_class(emb, y, cluster_size, seed=seed + seed_ids[a])
        out.append(AttributeKNN(LargeMarginKNN(k=k).fit(cl.centroids, cl.centroid_labels), cl))
    return out


def knns_from_state(states: Sequence[dict], k: int) -> List[AttributeKNN]:
    return [AttributeKNN(LargeMarginKNN(k=k).fit(st["centroids"], st["centroid_labels"])) for st in states]


def predict_knn(heads, source, knns: Sequence[AttributeKNN], split: str) -> np.ndarray:
    """(N, A) predictions of every attribute's kNN on its own embeddings of ``split``."""
    return np.stack([knn.classifier.predict(attribute_embeddings(heads, source, split, a))
                     for a, knn in enumerate(knns)], 1).astype(np.int8)


def threshold_decisions(logits: torch.Tensor, thresholds: Optional[np.ndarray] = None) -> np.ndarray:
    """Positive where the logit exceeds its threshold (default 0: probability 0.5)."""
    t = 0.0 if thresholds is None else torch.as_tensor(thresholds, dtype=logits.dtype, device=logits.device)
    return (logits > t).cpu().numpy().astype(np.int8)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------
def train_attributes(heads, source, labels: np.ndarray, val_labels: np.ndarray, cfg: TrainConfig,
                     progress: bool = True, desc: str = "", attribute_ids: Optional[Sequence[int]] = None
                     ) -> MultiLabelTrainResult:
    """Train ``heads`` (and a trainable source) by ``cfg`` in rounds; keep the best on validation.

    ``attribute_ids``: a stable id of each attribute (default 0..A-1) that seeds its sampler,
    clustering and mining, so an attribute trains the same alone or among others.
    """
    labels = np.asarray(labels).astype(np.int64)
    n_attr = labels.shape[1]
    ids = list(range(n_attr)) if attribute_ids is None else [int(i) for i in attribute_ids]
    device = heads.w1.device
    torch.manual_seed(cfg.seed)
    params = list(heads.parameters()) + list(source.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    bounds = [losses.margin_upper_bounds(np.bincount(labels[:, a], minlength=2), cfg.cluster_size,
                                         cfg.sphere_fraction) for a in range(n_attr)]
    groups = source.groups()
    best, history, bad, knns = {"score": -1.0}, [], 0, None
    for rnd in range(cfg.max_rounds):
        t0 = time.perf_counter()
        schedule = _schedule(labels, cfg, rnd, ids)
        plan = _plan_round(heads, source, labels, groups, cfg, rnd, ids, knns, schedule)
        plan_s = time.perf_counter() - t0
        rngs = [np.random.default_rng([cfg.seed + 17 * rnd, i]) for i in ids]  # one stream per attribute
        step = _STEPS[cfg.loss]
        heads.train()
        source.train(True)
        seen, n_images = [], 0
        t_train = time.perf_counter()
        bar = _progress(range(cfg.iters_per_round), progress, f"{desc} round {rnd + 1}/{cfg.max_rounds}")
        for it in bar:
            with deterministic_algorithms(device):
                with _autocast(device):  # under torchrun each process takes its share of the batch
                    loss, imgs = step(heads, source, labels, schedule[..., it, :], plan, bounds, cfg, rngs, device)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            distributed.average_gradients(params)
            opt.step()
            seen.append(distributed.average_scalar(float(loss.detach())))
            n_images += imgs * distributed.world()[1]
            if progress and it % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(seen[-20:]):.4f}")
        train_s = time.perf_counter() - t_train
        t_eval = time.perf_counter()
        heads.eval()
        source.train(False)
        if cfg.loss == "softmax":
            pred = threshold_decisions(attribute_logits(heads, source, "val"))
        else:  # re-cluster with the learned features: Eq. 3 on validation now, the next round's quintuplets later
            knns = fit_attribute_knns(heads, source, labels, cfg.cluster_size, cfg.knn_k, cfg.seed + rnd + 1,
                                      seed_ids=ids)
            pred = predict_knn(heads, source, knns, "val")
        per_attr = metrics.per_attribute_balanced_accuracy(val_labels, pred)
        score = float(np.mean(per_attr))
        history.append(RoundLog(rnd + 1, cfg.iters_per_round, float(np.mean(seen)), score, train_s,
                                n_images / max(train_s, 1e-9), plan_s, time.perf_counter() - t_eval))
        if score > best["score"]:
            best = {"score": score, "per_attr": per_attr,
                    "heads": {k: v.detach().cpu().clone() for k, v in heads.state_dict().items()},
                    "source": None if not source.trainable else
                    {k: v.detach().cpu().clone() for k, v in source.net.state_dict().items()},
                    "knn": None if knns is None else [k.state() for k in knns]}
            bad = 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    heads.load_state_dict(best["heads"])
    if best["source"] is not None:
        source.net.load_state_dict(best["source"])
    best_round = 1 + max(range(len(history)), key=lambda i: history[i].val_mean_balanced_accuracy)
    return MultiLabelTrainResult(config=cfg, heads_state=best["heads"], source_state=best["source"],
                                 history=history, best_round=best_round, val_balanced_accuracy=best["per_attr"],
                                 knn_state=best["knn"])


def _schedule(labels, cfg: TrainConfig, rnd: int, ids) -> np.ndarray:
    """Every batch of the round, drawn upfront: (A, iters, B) anchors per attribute, or (iters, B)
    images shared by all attributes (plain softmax). Knowing the round's anchors lets the quintuplet
    table be mined for them only."""
    seed = cfg.seed + 1000 * rnd
    if cfg.loss == "softmax" and not cfg.resample:  # one shared batch of images for every attribute
        sampler = sampling.BatchSampler(np.zeros(len(labels), np.int64), cfg.batch_size, False, seed=seed)
        return np.stack([sampler.next() for _ in range(cfg.iters_per_round)])
    samplers = [sampling.BatchSampler(labels[:, a], cfg.batch_size, cfg.resample, seed=seed + 7 * ids[a])
                for a in range(labels.shape[1])]
    return np.stack([np.stack([s.next() for _ in range(cfg.iters_per_round)]) for s in samplers])


def _plan_round(heads, source, labels, groups, cfg: TrainConfig, rnd: int, ids, knns=None, schedule=None) -> dict:
    """Per attribute: clusters + quintuplet table (LMLE) or nearest negatives (triplet). Round 0
    clusters the starting (prior) embeddings; later rounds reuse the clusters the last evaluation
    made of the same learned embeddings."""
    if cfg.loss == "softmax":
        counts = np.stack([(labels == 0).sum(0), (labels == 1).sum(0)], 1)   # (A, 2) training [negatives, positives]
        plan = {"counts": counts, "progress": rnd / cfg.max_rounds, "step": 0,
                "total_steps": cfg.iters_per_round * cfg.max_rounds}
        if cfg.crl:
            plan["crl_alpha"] = losses.crl_alpha(counts, cfg.crl_eta).float().to(heads.w1.device)
        return plan
    heads.eval()
    source.train(False)
    plan = {"tables": [], "members": []}
    for a in range(labels.shape[1]):
        emb = attribute_embeddings(heads, source, "train", a)
        y = labels[:, a]
        seed = cfg.seed + rnd + ids[a]
        used = None if schedule is None else np.unique(schedule[a])
        if cfg.loss == "quintuplet":
            cl = knns[a].clusters if knns is not None else \
                clustering.cluster_per_class(emb, y, cfg.cluster_size, seed=seed)
            plan["tables"].append(mining.build_quintuplets(emb, y, cl.assignments, cfg.subset_fraction, seed=seed,
                                                           groups=groups, anchors=used))
        else:
            plan["tables"].append(mining.nearest_other_class(emb, y, cfg.subset_fraction, seed=seed, anchors=used))
            plan["members"].append(sampling.ClassMembers(y))
    return plan


def _union_embed(heads, source, rows: np.ndarray, device) -> torch.Tensor:
    """(A, M) row ids, row a for attribute a -> (A, M, d) normalised embeddings; the union of all
    rows goes through the feature source once."""
    union, inverse = np.unique(rows, return_inverse=True)
    feats = source.train_features(torch.as_tensor(union, device=device))
    gathered = feats.index_select(0, torch.as_tensor(inverse.reshape(-1), device=device))
    x = gathered.view(rows.shape[0], rows.shape[1], -1)
    return heads.raw_per_task(x), len(union)


def _costs(labels_ab: np.ndarray, cfg: TrainConfig, device) -> Optional[torch.Tensor]:
    if not cfg.cost:
        return None
    return torch.as_tensor(np.stack([sampling.batch_costs(row) for row in labels_ab]), device=device)


def _quintuplet_step(heads, source, labels, anchors, plan, bounds, cfg, rngs, device):
    n_attr = len(anchors)                                                   # anchors: (A, B), the whole batch
    y = np.stack([labels[anchors[a], a] for a in range(n_attr)])            # (A, B)
    w = distributed.shard(_costs(y, cfg, device), axis=1)                  # costs of the whole batch, then
    anchors, y = distributed.shard(anchors, axis=1), distributed.shard(y, axis=1)   # this process's share
    rows = np.stack([plan["tables"][a][anchors[a]] for a in range(n_attr)])  # (A, B', 5)
    valid = losses.quintuplet_term_mask(rows.reshape(-1, 5))
    filled = np.where(rows >= 0, rows, rows[..., :1])
    raw, n_union = _union_embed(heads, source, filled.reshape(n_attr, -1), device)
    emb = F.normalize(raw.float(), dim=-1).reshape(-1, 5, raw.shape[-1])    # (A*B', 5, d)
    margins = np.concatenate([bounds[a].scaled(cfg.margin_scale, y[a]) for a in range(n_attr)])
    loss = losses.triple_header_hinge(emb[:, 0], emb[:, 1], emb[:, 2], emb[:, 3], emb[:, 4],
                                      torch.as_tensor(margins, device=device, dtype=emb.dtype),
                                      weights=None if w is None else w.reshape(-1),
                                      valid=torch.as_tensor(valid, device=device))
    return loss * n_attr, n_union


def _triplet_step(heads, source, labels, anchors, plan, bounds, cfg, rngs, device):
    n_attr = len(anchors)
    positives = np.stack([plan["members"][a].draw(labels[anchors[a], a], rngs[a]) for a in range(n_attr)])
    y = np.stack([labels[anchors[a], a] for a in range(n_attr)])
    w = distributed.shard(_costs(y, cfg, device), axis=1)      # drawn and weighted on the whole batch, then shared
    anchors, positives = distributed.shard(anchors, axis=1), distributed.shard(positives, axis=1)
    negatives = np.stack([plan["tables"][a][anchors[a]] for a in range(n_attr)])
    valid = negatives >= 0
    rows = np.stack([anchors, positives, np.where(valid, negatives, anchors)], -1)     # (A, B', 3)
    raw, n_union = _union_embed(heads, source, rows.reshape(n_attr, -1), device)
    emb = F.normalize(raw.float(), dim=-1).reshape(-1, 3, raw.shape[-1])
    margin = torch.as_tensor(np.repeat([cfg.margin_scale * b.g3 for b in bounds], anchors.shape[1]),
                             device=device, dtype=emb.dtype)
    loss = losses.triplet_hinge(emb[:, 0], emb[:, 1], emb[:, 2], margin,
                                weights=None if w is None else w.reshape(-1),
                                valid=torch.as_tensor(valid.reshape(-1), device=device))
    return loss * n_attr, n_union


def _softmax_step(heads, source, labels, rows, plan, bounds, cfg, rngs, device):
    """Sigmoid classification (cross-entropy or another objective), plus CRL when the method has it
    (under torchrun CRL's batch-wise minority profiling and mining see this process's share)."""
    n_attr = labels.shape[1]
    y = np.stack([labels[rows[a], a] for a in range(n_attr)]) if rows.ndim == 2 else labels[rows].T   # (A, B)
    w = distributed.shard(_costs(y, cfg, device), axis=1)
    rows, y = distributed.shard(rows), distributed.shard(y, axis=1)
    if rows.ndim == 2:                                  # +resample: balanced images per attribute, (A, B)
        raw, n_union = _union_embed(heads, source, rows, device)
        logits = heads.logits_from_raw(raw, task_dim=0)                    # (A, B)
        raw = raw.transpose(0, 1)                                          # (B, A, d)
    else:                                               # one shared batch, every attribute on every image
        raw = heads.raw(source.train_features(torch.as_tensor(rows, device=device)))   # (B, A, d)
        logits = heads.logits_from_raw(raw).T                             # (A, B)
        n_union = len(rows)
    target = torch.as_tensor(y.T, device=device, dtype=torch.float32)     # (B, A): column a is attribute a's batch
    counts = plan["counts"]
    progress = plan["progress"] + plan["step"] / max(1, plan["total_steps"])
    plan["step"] += 1
    if not cfg.crl:
        return objectives.classification_loss(cfg.objective, logits.float().T, target, counts, progress,
                                              None if w is None else w.T), n_union
    # CRL (Dong et al.): per attribute alpha * L_crl + (1 - alpha) * L_ce, alpha from the training imbalance
    ce = F.binary_cross_entropy_with_logits(logits.float().T, target, reduction="none").mean(0)    # (A,)
    level, form = cfg.crl.split("-")
    _, info = losses.multilabel_crl_loss(F.normalize(raw.float(), dim=-1), target.long(), logits.float().T,
                                         level=level, form=form, k=cfg.crl_k, margin=cfg.crl_margin,
                                         return_details=True)
    return losses.crl_objective(info.per_task_loss, ce, plan["crl_alpha"]) * n_attr, n_union


_STEPS: dict = {"softmax": _softmax_step, "triplet": _triplet_step, "quintuplet": _quintuplet_step}
