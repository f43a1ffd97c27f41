"""The ONE function that trains a registered method on prepared data, and the margin search.

Every notebook chooses methods (:data:`METHODS`, registered in :mod:`lmle_core.methods`) and budgets
(:class:`Budget`); none holds a training loop. All methods of one comparison start from the same
softmax-pretrained network (the prior features of LMLE Table 1, computed once per dataset and budget)
and then get the same number of iterations with their own loss, sampling and costs, so a comparison
is at equal budget. Attribute (multi-label) data goes to :func:`lmle_core.attributes.run_attributes`.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
import torch

from . import metrics, nets, runcache
from .attributes import margin_search as attribute_margin_search
from .attributes import run_attributes
from .imageset import PreparedData
from .methods import METHODS, PRESETS, Budget, Method, get_method, register_method
from .training import ImageModel, TrainTask, train

__all__ = ["Budget", "METHODS", "Method", "MethodResult", "PRESETS", "PreparedData", "get_method", "prior_reference",
           "register_method", "run_method", "search_margin", "softmax_prior", "tuned_budget"]


@dataclass
class MethodResult:
    method: str
    description: str
    classifier: str
    balanced_accuracy: float                 # on the test set
    per_class_accuracy: Dict[int, float]
    val_balanced_accuracy: float
    test_predictions: np.ndarray
    history: List[dict]
    iterations: int
    train_seconds: float
    prior_seconds: float
    images_per_second: float
    other_classifier: str = ""               # the representation read by the other classifier (see run_method)
    other_balanced_accuracy: float = float("nan")
    curve: List[dict] = field(default_factory=list)   # test balanced accuracy at the curve's iterations
    test_scores: Optional[np.ndarray] = None  # the decision rule's scores: (N, C), or (N,) for two classes
    test_labels: Optional[np.ndarray] = None
    val_scores: Optional[np.ndarray] = None   # the same decision_function on the validation split (issue 19:
    val_labels: Optional[np.ndarray] = None   # thresholds / class biases are tuned there, never on test)
    net: Optional[torch.nn.Module] = None
    train_embeddings: Optional[np.ndarray] = None
    test_embeddings: Optional[np.ndarray] = None
    clusters: Optional[object] = None
    from_cache: bool = False                  # read from the run cache (its timings are the first run's)

    def summary(self) -> dict:
        return {"method": self.method, "balanced_accuracy": self.balanced_accuracy,
                "val_balanced_accuracy": self.val_balanced_accuracy, "iterations": self.iterations,
                "rounds": len(self.history), "train_seconds": self.train_seconds,
                "images_per_second": self.images_per_second, "classifier": self.classifier,
                "other_classifier": self.other_classifier, "other_balanced_accuracy": self.other_balanced_accuracy}


_PRIORS: Dict[str, tuple] = {}


def _image_model(net, data: PreparedData, budget: Budget) -> ImageModel:
    return ImageModel(net, data.train, data.val, data.test, eval_batch_size=budget.eval_batch_size)


def _task(data: PreparedData, budget: Budget) -> TrainTask:
    return TrainTask(data.train.labels, data.val.labels, n_classes=data.n_classes,
                     groups=data.train_groups if budget.exclude_own_copies else None,
                     negative_class=data.negative_class)


def softmax_prior(data: PreparedData, budget: Budget, progress: bool = True):
    """The shared prior network: softmax on the data (class-balanced batches and costs with
    ``prior_resample``), trained once per process. Returns (a fresh copy of the network, its seconds)."""
    prior = budget.for_prior(multilabel=False)
    key = repr((data.fingerprint(), budget.prior_iters, budget.prior_batch_size, budget.prior_lr,
                budget.prior_resample, budget.embedding_dim, budget.seed, budget.momentum, budget.weight_decay))
    if key not in _PRIORS:
        torch.manual_seed(budget.seed)
        net = nets.build_net(data.net, budget.embedding_dim, n_classes=data.n_classes)
        t = time.perf_counter()
        if budget.prior_iters > 0:
            method = get_method("Softmax+resample+cost" if budget.prior_resample else "Softmax")
            train(_image_model(net, data, prior), _task(data, prior), method, prior, progress=progress,
                  desc=f"{data.name} prior (softmax)")
        _PRIORS[key] = (net.cpu(), time.perf_counter() - t)
    net, seconds = _PRIORS[key]
    return copy.deepcopy(net).to(data.train.device), seconds


def _outputs(model: ImageModel, method: Method, split: str) -> torch.Tensor:
    return model.embeddings(split) if method.head == "embedding" else model.logits(split)


def run_method(name: str, data: PreparedData, budget: Budget, progress: bool = True,
               keep_embeddings: bool = False, checkpoint_dir=None, cache: Optional[runcache.RunCache] = None,
               attributes: Optional[List[str]] = None, other_classifier: bool = False, curve_iters=()):
    """Train method ``name`` from the shared prior for ``budget``; evaluate it on the test set.

    Single-label: ``other_classifier`` also reads the trained representation with the other family's
    classifier (softmax nets: Eq. 3 cluster kNN on their embeddings; embeddings: a linear probe), so a
    table can separate the representation from the classifier; ``curve_iters`` records the test balanced
    accuracy at those global iterations (a budget curve, one run). Returns a :class:`MethodResult`.

    Multi-label data goes to :func:`lmle_core.attributes.run_attributes` (``attributes`` selects a
    subset, ``cache`` reuses trained methods across notebooks) and returns an ``AttributeResult``.
    """
    method = get_method(name)
    if data.multilabel:
        return run_attributes(method, data, budget, attributes=attributes, progress=progress, cache=cache)
    if cache is None or checkpoint_dir is not None:
        return _run_single(method, data, budget, progress, keep_embeddings, checkpoint_dir, other_classifier,
                           curve_iters)
    # one entry per (data, method, budget, what is read): Table 5, the head-to-head's MNIST part and the
    # embedding figure train the same nets; the first notebook trains, the others read
    parts = {"kind": "single-label-run", "data": data.fingerprint(), "net": data.net, "method": name,
             "training": repr(method.training),
             "decision": method.decision.name if method.decision else "", "budget": dataclasses.asdict(budget), "curve_iters": list(curve_iters),
             "other_classifier": bool(other_classifier)}
    # entries keep the embeddings (a few MB), so a caller that wants them shares the entry too
    result, hit = cache.get_or_compute(parts, lambda: _run_single(method, data, budget, progress, True,
                                                                  None, other_classifier, curve_iters))
    result.from_cache = hit
    if not keep_embeddings:
        result.train_embeddings = result.test_embeddings = None
    return result


def _run_single(method: Method, data: PreparedData, budget: Budget, progress: bool, keep_embeddings: bool,
                checkpoint_dir, other_classifier: bool, curve_iters) -> MethodResult:
    name = method.name
    net, prior_s = softmax_prior(data, budget, progress)
    model = _image_model(net, data, budget)
    y_train = data.train.labels.astype(np.int64)
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = f"{checkpoint_dir}/{data.name}-{method.name}-{data.fingerprint()}.pt".replace("+", "_")
    curve, curve_s = [], 0.0

    def on_curve(iteration, trained: ImageModel):
        nonlocal curve_s
        t_c = time.perf_counter()
        train_out = trained.embeddings("train") if method.head == "embedding" else None
        rule = method.objective.own_rule(budget, budget.seed).fit(train_out, y_train)
        curve.append({"iteration": iteration, "test_balanced_accuracy": metrics.balanced_accuracy(
            data.test.labels, rule.predict(_outputs(trained, method, "test")))})
        curve_s += time.perf_counter() - t_c

    t = time.perf_counter()
    res = train(model, _task(data, budget), method, budget, progress=progress, desc=f"{data.name} {name}",
                initial_features=data.prior_features, checkpoint=ckpt, curve_iters=curve_iters, on_curve=on_curve)
    train_s = time.perf_counter() - t - curve_s
    rule = method.test_rule(budget, budget.seed)
    if rule is None:
        rule = res.rules[0]
    else:
        rule.fit(model.embeddings("train") if method.head == "embedding" else None, y_train)
    test_out = _outputs(model, method, "test")
    pred = rule.predict(test_out)
    y = data.test.labels
    hist = [dataclasses.asdict(h) for h in res.history]
    out = MethodResult(
        method=name, description=method.description, classifier=method.classifier,
        balanced_accuracy=metrics.balanced_accuracy(y, pred),
        per_class_accuracy=metrics.per_class_recall(y, pred, classes=np.arange(data.n_classes)),
        val_balanced_accuracy=max((h["val_balanced_accuracy"] for h in hist), default=float("nan")),
        test_predictions=pred, history=hist, iterations=res.iterations, train_seconds=train_s,
        prior_seconds=prior_s,
        images_per_second=float(np.mean([h["images_per_second"] for h in hist])) if hist else 0.0,
        test_scores=rule.decision_function(test_out), test_labels=np.asarray(y),
        val_scores=rule.decision_function(_outputs(model, method, "val")), val_labels=np.asarray(data.val.labels),
        net=model.net, clusters=getattr(rule, "clusters_", None),
        curve=curve)
    train_feats = res.train_features[0] if res.train_features is not None else model.embeddings("train")
    if other_classifier:
        out.other_classifier, out.other_balanced_accuracy = _other_classifier(model, method, train_feats, data, budget)
    if keep_embeddings:
        out.train_embeddings = train_feats.cpu().numpy()
        out.test_embeddings = model.embeddings("test").cpu().numpy()
    return out


def _other_classifier(model: ImageModel, method: Method, train_feats, data: PreparedData, budget: Budget) -> tuple:
    """(name, test balanced accuracy) of the trained net read by the other family's classifier."""
    from .classifiers import LMLEKNNClassifier

    y_train = data.train.labels.astype(np.int64)
    test = model.embeddings("test")
    if method.head == "classifier":
        knn = LMLEKNNClassifier(k=budget.knn_k, cluster_size=budget.cluster_size, seed=budget.seed).fit(train_feats, y_train)
        return "large-margin cluster kNN (Eq. 3)", metrics.balanced_accuracy(data.test.labels, knn.predict(test))
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(max_iter=300).fit(train_feats.cpu().numpy(), y_train)
    return "linear probe (logistic regression)", metrics.balanced_accuracy(data.test.labels,
                                                                           probe.predict(test.cpu().numpy()))


def search_margin(name: str, data: PreparedData, budget: Budget, scales, progress: bool = True, **run_kw):
    """The paper's coarse grid search of the margins (Sec. 3.2) for a single-label method: train with
    each ``margin_scale`` of ``scales`` (margins = scale x the geometric bounds) and keep the best
    VALIDATION balanced accuracy. Returns (best scale, DataFrame of every scale, {scale: MethodResult}).
    Softmax methods (no margin) and an empty ``scales`` train once at ``budget.margin_scale``."""
    if get_method(name).head != "embedding" or not scales:
        scales = [budget.margin_scale]
    results, rows = {}, []
    for scale in scales:
        r = run_method(name, data, dataclasses.replace(budget, margin_scale=float(scale)), progress=progress, **run_kw)
        results[float(scale)] = r
        rows.append({"method": name, "margin_scale": float(scale), "val_balanced_accuracy": 100 * r.val_balanced_accuracy,
                     "test_balanced_accuracy": 100 * r.balanced_accuracy, "train_seconds": r.train_seconds})
    table = pd.DataFrame(rows)
    best = float(table.loc[table.val_balanced_accuracy.idxmax(), "margin_scale"])
    return best, table.assign(chosen=table.margin_scale == best), results


def tuned_budget(name: str, data: PreparedData, budget: Budget, scales, attributes: Optional[List[str]] = None,
                 progress: bool = True, cache: Optional[runcache.RunCache] = None):
    """(``budget`` with the margin scale the validation search picks for method ``name``, the search table);
    softmax-family methods (no margins) and an empty ``scales`` keep ``budget`` as it is. Attribute data
    searches on ``attributes`` (default: all) through the run cache."""
    method = get_method(name)
    if method.head != "embedding" or not scales:
        return budget, pd.DataFrame()
    if data.multilabel:
        best, table = attribute_margin_search(method, data, budget, scales, attributes, progress, cache)
    else:
        best, table, _ = search_margin(name, data, budget, scales, progress=progress)
    return dataclasses.replace(budget, margin_scale=best), table


def prior_reference(data: PreparedData, budget: Budget, progress: bool = False) -> Dict[str, float]:
    """Test balanced accuracy of the shared prior network before any method trains it further:
    its softmax argmax and the large-margin cluster kNN on its embeddings (every method's start)."""
    from .classifiers import LMLEKNNClassifier

    net, _ = softmax_prior(data, budget, progress)
    model = _image_model(net, data, budget)
    knn = LMLEKNNClassifier(k=budget.knn_k, cluster_size=budget.cluster_size, seed=budget.seed).fit(
        model.embeddings("train"), data.train.labels.astype(np.int64))
    y = data.test.labels
    return {"prior: softmax argmax": metrics.balanced_accuracy(y, model.logits("test").argmax(1).cpu().numpy()),
            "prior: large-margin cluster kNN": metrics.balanced_accuracy(y, knn.predict(model.embeddings("test")))}
