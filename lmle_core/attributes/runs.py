"""Running a registered method on multi-label attribute data (CelebA): prior, training, decisions.

The protocol (see DESIGN.md, "CelebA on a CPU"):

1. The prior: the multi-task network (DeepID2-like trunk, a shared feature layer, one two-layer
   head and sigmoid classifier per attribute) trained once with multi-label sigmoid
   cross-entropy on plain batches with random mirror flips (DeepID2, the paper's prior, is not
   available). Every method starts from it, heads included.
2. ``budget.trunk == "frozen"`` (the CPU protocol): the prior's shared features of every image
   and of its mirror image are cached; each method trains its per-attribute heads on them with
   the paper's schedule (rounds, re-clustering). ``"train"``: end to end, trunk included.
3. Decisions: the method's own (threshold 0.5 / Eq. 3), or a variant on the same trained network
   (the training prior's threshold correction; instance-wise kNN), each an estimator of
   :mod:`lmle_core.classifiers` whose ``decision_function`` gives every image a score per attribute.

Every stage is stored in a :class:`~lmle_core.runcache.RunCache` keyed by the data's content,
the method's training identity, the budget and the core's code, so the attribute notebooks
reuse each other's trained methods.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
import torch

from .. import classifiers, metrics, nets
from ..imageset import PreparedData
from ..methods import Budget, Method, get_method
from ..runcache import RunCache
from ..losses import crl_log
from ..training import TrainTask, train
from .model import AttributeModel, CachedFeatures, TrunkFeatures, attribute_embeddings

CRL_LOG_EVERY = 10   # CRL methods log every 10th training batch (losses.crl_log; a float64 re-evaluation)


@dataclass
class AttributeResult:
    """One method on a set of attributes: test predictions, metrics per attribute, history, timings."""

    method: str
    description: str
    classifier: str
    tasks: List[str]
    test_predictions: np.ndarray                # (N_test, A) {0, 1}
    test_labels: np.ndarray                     # (N_test, A)
    per_attribute: Dict[str, np.ndarray]        # balanced_accuracy, accuracy, precision, recall: (A,)
    val_balanced_accuracy: np.ndarray           # (A,) at the selected round (the method's own decision)
    history: List[dict]
    iterations: int
    train_seconds: float
    prior_seconds: float
    images_per_second: float
    test_scores: Optional[np.ndarray] = None    # (N_test, A) the decision rule's scores (logits; Eq. 3 margins)
    val_scores: Optional[np.ndarray] = None     # (N_val, A) the same rules' scores on validation (issue 19:
    val_labels: Optional[np.ndarray] = None     # thresholds are tuned there, never on test)
    from_cache: bool = False
    heads: Optional[torch.nn.Module] = field(default=None, repr=False)
    source: object = field(default=None, repr=False)
    train_labels: Optional[np.ndarray] = field(default=None, repr=False)   # (rows, A) of the source's train rows
    crl_log: Optional[pd.DataFrame] = field(default=None, repr=False)  # CRL methods: per-attribute training log

    @property
    def balanced_accuracy(self) -> float:
        """Mean balanced accuracy over the attributes (the papers' attribute metric)."""
        return float(np.mean(self.per_attribute["balanced_accuracy"]))

    def table(self) -> pd.DataFrame:
        """One row per attribute: balanced accuracy, accuracy, precision, recall (%)."""
        return pd.DataFrame({"attribute": self.tasks, **{k: 100 * v for k, v in self.per_attribute.items()}})

    def summary(self) -> dict:
        return {"method": self.method, **{f"mean_{k}": 100 * float(np.nanmean(v)) for k, v in self.per_attribute.items()},
                "val_mean_balanced_accuracy": 100 * float(np.mean(self.val_balanced_accuracy)),
                "iterations": self.iterations, "rounds": len(self.history), "train_seconds": self.train_seconds,
                "images_per_second": self.images_per_second, "classifier": self.classifier,
                "from_cache": self.from_cache}

    def embeddings(self, split: str, attribute: str) -> np.ndarray:
        """(N, d) embeddings of one attribute's head for every row of ``split`` (train: images then mirrors
        in the frozen protocol)."""
        return attribute_embeddings(self.heads, self.source, split, self.tasks.index(attribute)).cpu().numpy()


# ----------------------------------------------------------------------------------------------
# The prior
# ----------------------------------------------------------------------------------------------
def _prior_parts(data: PreparedData, budget: Budget) -> dict:
    return {"kind": "attribute-prior", "data": data.fingerprint(), "net": data.net, "tasks": data.tasks,
            **{k: getattr(budget, k) for k in ("prior_iters", "prior_batch_size", "prior_lr", "embedding_dim",
                                               "feature_dim", "head_hidden", "prior_seed")}}


def _build_net(data: PreparedData, budget: Budget, n_tasks: int):
    return nets.build_net(data.net, budget.embedding_dim, n_tasks=n_tasks, feature_dim=budget.feature_dim,
                          hidden=budget.head_hidden)


def _sets(data: PreparedData) -> dict:
    return {"train": data.train, "val": data.val, "test": data.test}


def _train_prior(data: PreparedData, budget: Budget, progress: bool) -> dict:
    torch.manual_seed(budget.prior_seed)
    net = _build_net(data, budget, len(data.tasks)).to(data.train.device)
    source = TrunkFeatures(net, _sets(data), seed=budget.prior_seed)
    t = time.perf_counter()
    history = []
    if budget.prior_iters > 0:
        task = TrainTask(data.train.labels, data.val.labels, task_ids=range(len(data.tasks)))
        res = train(AttributeModel(net.heads, source), task, get_method("Softmax"), budget.for_prior(multilabel=True),
                    progress=progress, desc=f"{data.name} prior (sigmoid cross-entropy)")
        history = [dataclasses.asdict(h) for h in res.history]
    seconds = time.perf_counter() - t
    net.eval()
    feats = {split: torch.cat(list(source.all_features(split))).cpu() for split in ("train", "val", "test")}
    feats["train_mirror"] = torch.cat(list(source.all_features("train", mirror=True))).cpu()
    return {"net_state": {k: v.cpu() for k, v in net.state_dict().items()}, "features": feats, "seconds": seconds,
            "history": history}


def attribute_prior(data: PreparedData, budget: Budget, progress: bool = True, cache: Optional[RunCache] = None):
    """(prior dict, from cache?): the prior network's state, its shared features of every split (and
    of the training images' mirrors), and its training time."""
    cache = cache or RunCache(enabled=False)
    return cache.get_or_compute(_prior_parts(data, budget), lambda: _train_prior(data, budget, progress))


# ----------------------------------------------------------------------------------------------
# Methods
# ----------------------------------------------------------------------------------------------
def _source_and_labels(prior: dict, data: PreparedData, budget: Budget, net=None):
    device = data.train.device
    if budget.trunk == "frozen":
        f = {k: v.to(device).float() for k, v in prior["features"].items()}
        source = CachedFeatures(torch.cat([f["train"], f["train_mirror"]]), f["val"], f["test"],
                                n_images=len(data.train))
        return source, np.concatenate([data.train.labels, data.train.labels])
    return TrunkFeatures(net, _sets(data), seed=budget.seed), data.train.labels


def _heads_from_prior(prior: dict, data: PreparedData, budget: Budget, sel: List[int]):
    """The prior network with only the selected attributes' heads (every method's starting point)."""
    full = _build_net(data, budget, len(data.tasks))
    full.load_state_dict(prior["net_state"])
    net = _build_net(data, budget, len(sel))
    net.trunk.load_state_dict(full.trunk.state_dict())
    net.shared.load_state_dict(full.shared.state_dict())
    with torch.no_grad():
        for name, p in net.heads.named_parameters():
            p.copy_(getattr(full.heads, name)[sel])
    return net.to(data.train.device)


def _train_method(method: Method, prior, data, budget, sel, progress) -> dict:
    net = _heads_from_prior(prior, data, budget, sel)
    source, labels = _source_and_labels(prior, data, budget, net)
    model = AttributeModel(net.heads, source)
    task = TrainTask(labels[:, sel], data.val.labels[:, sel], task_ids=sel, groups=source.groups())
    t = time.perf_counter()
    with crl_log.record_crl_steps(CRL_LOG_EVERY) as log:     # only CRL objectives write to it
        res = train(model, task, method, budget, progress=progress, desc=f"{data.name} {method.name}")
    seconds = time.perf_counter() - t
    state = model.state_dict()
    return {"heads_state": state["heads"], "source_state": state["source"], "seconds": seconds,
            "crl_log": log.table([data.tasks[a] for a in sel]) if log.batches else None,
            "history": [dataclasses.asdict(h) for h in res.history], "iterations": res.iterations,
            "best_round": res.best_round, "val_balanced_accuracy": res.val_balanced_accuracy,
            "knn_state": [r.state() for r in res.rules] if method.head == "embedding" else None}


def _decide(method: Method, trained: dict, prior, data, budget, sel) -> dict:
    """Per attribute, the method's decision rule on the test set: predictions (N, A) and scores (N, A)."""
    net = _heads_from_prior(prior, data, budget, sel)
    if trained["source_state"] is not None:   # end to end: the whole trained network
        net.load_state_dict(trained["source_state"])
    net.heads.load_state_dict(trained["heads_state"])
    source, labels = _source_and_labels(prior, data, budget, net)
    labels = labels[:, sel]
    model = AttributeModel(net.heads, source).train(False)
    embedding = method.head == "embedding"
    def outputs(split: str) -> list:
        if embedding:
            return [model.embeddings(split, a) for a in range(len(sel))]
        logits = model.logits(split).cpu().numpy()
        return [logits[:, a] for a in range(len(sel))]

    test, val = outputs("test"), outputs("val")
    rules = []
    for a in range(len(sel)):
        rule = method.test_rule(budget, seed=0)
        if rule is not None:     # a decision of its own, fitted on the training rows (embeddings or labels)
            rules.append(rule.fit(model.embeddings("train", a) if embedding else None, labels[:, a]))
        elif embedding:          # Eq. 3 over the centroids the best round was validated with
            st = trained["knn_state"][a]
            rules.append(classifiers.LMLEKNNClassifier.from_centroids(st["centroids"], st["centroid_labels"],
                                                                      k=budget.knn_k))
        else:
            rules.append(classifiers.ArgmaxClassifier().fit(None, labels[:, a]))
    pred = np.stack([rule.predict(x) for rule, x in zip(rules, test)], 1).astype(np.int8)
    scores = np.stack([rule.decision_function(x) for rule, x in zip(rules, test)], 1)
    val_scores = np.stack([rule.decision_function(x) for rule, x in zip(rules, val)], 1)
    return {"predictions": pred, "scores": scores, "val_scores": val_scores, "net": net, "source": source,
            "labels": labels}


def run_attributes(method: Method, data: PreparedData, budget: Budget, attributes: Optional[List[str]] = None,
                   progress: bool = True, cache: Optional[RunCache] = None) -> AttributeResult:
    """Train (or take from ``cache``) ``method`` on the attributes of ``data`` and evaluate it on the test set."""
    if not data.multilabel or not data.tasks:
        raise ValueError("run_attributes needs multi-label data with attribute names (PreparedData.tasks)")
    names = list(data.tasks) if attributes is None else list(attributes)
    unknown = [a for a in names if a not in data.tasks]
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; choose from {data.tasks}")
    sel = [data.tasks.index(a) for a in names]
    cache = cache or RunCache(enabled=False)
    prior, _ = attribute_prior(data, budget, progress, cache)
    parts = {"kind": "attribute-method", "data": data.fingerprint(), "training": method.training,
             "budget": dataclasses.asdict(budget), "attributes": names}
    trained, hit = cache.get_or_compute(parts, lambda: _train_method(method, prior, data, budget, sel, progress))
    decided = _decide(method, trained, prior, data, budget, sel)
    y = data.test.labels[:, sel]
    hist = trained["history"]
    return AttributeResult(
        method=method.name, description=method.description, classifier=method.classifier, tasks=names,
        test_predictions=decided["predictions"], test_labels=y,
        per_attribute=metrics.attribute_metrics(y, decided["predictions"]),
        val_balanced_accuracy=np.asarray(trained["val_balanced_accuracy"]), history=hist,
        iterations=trained["iterations"], train_seconds=trained["seconds"], prior_seconds=prior["seconds"],
        images_per_second=float(np.mean([h["images_per_second"] for h in hist])) if hist else 0.0,
        test_scores=decided["scores"], val_scores=decided["val_scores"], val_labels=data.val.labels[:, sel],
        from_cache=hit, crl_log=trained.get("crl_log"), heads=decided["net"].heads, source=decided["source"],
        train_labels=decided["labels"])


def margin_search(method: Method, data: PreparedData, budget: Budget, scales, attributes: Optional[List[str]] = None,
                  progress: bool = True, cache: Optional[RunCache] = None):
    """The paper's coarse grid search of the margins (Sec. 3.2: "several decreasing margins"): train
    ``method`` with each ``margin_scale`` of ``scales`` (margins = scale x the geometric upper bounds)
    on ``attributes`` (default: all) and keep the scale with the best mean VALIDATION balanced
    accuracy. Returns (best scale, DataFrame of every scale's validation score)."""
    rows = []
    for scale in scales:
        b = dataclasses.replace(budget, margin_scale=float(scale))
        r = run_attributes(method, data, b, attributes=attributes, progress=progress, cache=cache)
        rows.append({"method": method.name, "margin_scale": float(scale),
                     "validation mean balanced accuracy": 100 * float(np.mean(r.val_balanced_accuracy)),
                     "train seconds": r.train_seconds, "from run cache": r.from_cache})
    table = pd.DataFrame(rows)
    best = float(table.loc[table["validation mean balanced accuracy"].idxmax(), "margin_scale"])
    return best, table
