"""The method registry and the ONE function that trains a named method on prepared data.

Every notebook chooses methods and budgets from here; none holds a training
loop. All methods of one comparison start from the same softmax-pretrained
network (the prior features of LMLE Table 1, computed once per dataset and
budget) and then get the same number of iterations with their own loss,
sampling and costs, so a comparison is at equal budget.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch

from . import metrics, nets, runcache, training
from .imageset import ImageSet, PreparedData  # noqa: F401 (PreparedData: a public name here)


DECISIONS = {
    "": None,  # the method's own: softmax argmax / threshold 0.5, embeddings large-margin cluster kNN
    "prior-corrected": "sigmoid threshold corrected by the training prior (post-hoc logit adjustment)",
    "instance-knn": "instance-wise majority kNN over all training embeddings",
}


@dataclass(frozen=True)
class Method:
    name: str
    loss: str               # softmax | triplet | quintuplet
    resample: bool
    cost: bool
    description: str
    decision: str = ""      # a key of DECISIONS: how the trained network classifies
    objective: str = "ce"   # softmax methods: the classification loss (lmle_core.objectives)
    crl: str = ""           # softmax methods: the Class Rectification Loss added, "<level>-<form>"

    @property
    def classifier(self) -> str:
        if self.decision:
            return DECISIONS[self.decision]
        return "softmax argmax" if self.loss == "softmax" else "large-margin cluster kNN (Eq. 3)"

    @property
    def training(self) -> tuple:
        """What training depends on: methods that differ only in their decision share one trained network."""
        return (self.loss, self.resample, self.cost, self.objective, self.crl)


def _scheme_variants(loss: str, label: str, what: str) -> List[Method]:
    return [
        Method(label, loss, False, False, f"{what}; anchors drawn with the data's class prior"),
        Method(f"{label}+resample", loss, True, False, f"{what}; class-balanced batches"),
        Method(f"{label}+resample+cost", loss, True, True,
               f"{what}; class-balanced batches and in-batch costs equalising class weights"),
    ]


METHODS: Dict[str, Method] = {m.name: m for m in (
    _scheme_variants("softmax", "Softmax", "cross-entropy on a linear classifier")
    + _scheme_variants("triplet", "Triplet", "triplet hinge (random positive, nearest negative)")
    + _scheme_variants("quintuplet", "Quintuplet", "LMLE quintuplets + triple-header hinge")
)}
METHODS["LMLE"] = dataclasses.replace(METHODS["Quintuplet+resample+cost"], name="LMLE")
# Names of LMLE Table 2 and the decision variants of the attribute studies (same trained networks)
METHODS["LMLE-kNN"] = dataclasses.replace(METHODS["Quintuplet+resample+cost"], name="LMLE-kNN")
METHODS["Triplet-kNN"] = dataclasses.replace(METHODS["Triplet+resample+cost"], name="Triplet-kNN")
METHODS["Softmax (prior-corrected)"] = dataclasses.replace(
    METHODS["Softmax"], name="Softmax (prior-corrected)", decision="prior-corrected",
    description="cross-entropy; positive when the logit exceeds log(p/(1-p)) of the training prior p "
                "(post-hoc logit adjustment, Menon et al. 2021) instead of 0")
# Today's imbalanced-learning losses (plain sampling, the same network and budget as Softmax)
for _name, _objective, _what in (
        ("Focal", "focal", "focal loss, gamma 2 (Lin et al. 2017)"),
        ("CB-Focal", "cb-focal", "focal loss with class-balanced weights, effective number, beta 0.9999 (Cui et al. 2019)"),
        ("LDAM-DRW", "ldam-drw", "LDAM margins with deferred class-balanced re-weighting (Cao et al. 2019)"),
        ("Logit-adjusted loss", "logit-adjusted", "cross-entropy on logits shifted by the log prior (Menon et al. 2021)"),
        ("Balanced softmax", "balanced-softmax", "cross-entropy on logits shifted by log class size (Ren et al. 2020)"),
        ("Pos-weighted CE", "pos-weighted", "cross-entropy weighted inversely to the class prior "
                                            "(binary: pos_weight = n_neg / n_pos)")):
    METHODS[_name] = Method(_name, "softmax", False, False, _what, objective=_objective)
# CRL (Dong et al. 2017/2018): CE + Class Rectification Loss on hard-mined minority triplets/pairs
for _level, _tag in (("class", "C"), ("instance", "I")):
    for _form in ("relative", "absolute", "distribution"):
        _name = f"CRL({_tag}) {_form}"
        METHODS[_name] = Method(_name, "softmax", False, False,
                                f"cross-entropy + CRL, {_level}-level hard mining, {_form} comparison "
                                f"(alpha from the training imbalance)", crl=f"{_level}-{_form}")
METHODS["LMLE (instance-wise kNN)"] = dataclasses.replace(
    METHODS["Quintuplet+resample+cost"], name="LMLE (instance-wise kNN)", decision="instance-knn",
    description="the full method's embeddings classified by instance-wise kNN (LMLE Sec. 5.2 ablation)")


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(METHODS)}") from None


@dataclass
class Budget:
    """How long and how each method trains; a profile sets these, notebooks pass them through."""

    prior_iters: int = 2000          # softmax pretraining of the shared prior network
    prior_batch_size: int = 128
    prior_lr: float = 0.05
    prior_resample: bool = False     # class-balanced batches + costs for the prior (binary attributes:
                                     # a plain-softmax prior of a 7%-positive attribute predicts "negative")
    iters_per_round: int = 5000
    max_rounds: int = 4
    patience: int = 1
    batch_size: int = 40             # quintuplets / triplets / images per step
    softmax_batch_size: int = 200    # softmax sees as many images per step as a quintuplet batch
    lr: float = 0.01
    embedding_dim: int = 64
    cluster_size: int = 200
    margin_scale: float = 0.5
    subset_fraction: float = 0.5
    knn_k: int = 20
    seed: int = 0
    # multi-label (attributes) only:
    trunk: str = "frozen"            # "frozen": heads on the prior's cached features (CPU); "train": end to end
    feature_dim: int = 512           # shared feature layer of the multi-task net (the prior features)
    head_hidden: int = 128           # width of each attribute's two-layer head
    crl_eta: float = 1.0             # CRL methods: alpha = crl_eta * Omega_imb of the training data
    crl_k: int = 5                   # CRL: kappa, hard positives / negatives per minority anchor
    crl_margin: float = 0.5          # CRL: margin of the relative and absolute forms
    prior_seed: int = 0              # multi-label: seed of the shared prior network (``seed`` seeds the methods)
    # edges only (data with a negative class): weight of DeepContour's positive-sharing term in the costs
    positive_sharing: float = 0.0
    # protocol choices the paper leaves open (defaults: as first implemented; Table 5 sets its own)
    margin_bounds: str = "chord"     # "chord": bounds 2 sin(.) on squared distances as written; "squared"
    cap_g2: bool = False             # cap the g2 angle at pi/2 (a class holding over half the data)
    triplet_mining: str = "table"    # "table": random positive + nearest negative; "semi-hard": FaceNet in-batch
    exclude_own_copies: bool = False  # single-label: no quintuplet member from the anchor's source image
    recluster: bool = True           # controls of the budget curve: keep round 1's clusters ...
    lr_decay: float = 1.0            # ... or lower the learning rate after round 1

    def __post_init__(self):
        """Value ranges (a bad value is a ValueError naming the field, before anything trains)."""
        positive = ("prior_batch_size", "iters_per_round", "max_rounds", "patience", "batch_size", "softmax_batch_size",
                    "embedding_dim", "cluster_size", "knn_k", "feature_dim", "head_hidden", "crl_k")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"budget.{name} must be a positive integer, got {value!r}")
        for name in ("prior_iters",):
            if getattr(self, name) < 0:
                raise ValueError(f"budget.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "prior_lr", "margin_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"budget.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.subset_fraction <= 1:
            raise ValueError(f"budget.subset_fraction must be in (0, 1], got {self.subset_fraction!r}")
        for name in ("crl_eta", "crl_margin", "positive_sharing"):
            if getattr(self, name) < 0:
                raise ValueError(f"budget.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"budget.lr_decay must be in (0, 1], got {self.lr_decay!r}")
        choices = {"trunk": ("frozen", "train"), "margin_bounds": ("chord", "squared"),
                   "triplet_mining": ("table", "semi-hard")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"budget.{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, values: Optional[dict]) -> "Budget":
        values = dict(values or {})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown budget parameter(s) {sorted(unknown)}; "
                             f"known: {[f.name for f in dataclasses.fields(cls)]}")
        return cls(**values)

    def train_config(self, method: Method) -> training.TrainConfig:
        softmax = method.loss == "softmax"
        return training.TrainConfig(
            loss=method.loss, resample=method.resample, cost=method.cost, objective=method.objective,
            crl=method.crl, crl_eta=self.crl_eta, crl_k=self.crl_k, crl_margin=self.crl_margin,
            iters_per_round=self.iters_per_round, max_rounds=self.max_rounds, patience=self.patience,
            batch_size=self.softmax_batch_size if softmax else self.batch_size, lr=self.lr,
            cluster_size=self.cluster_size, subset_fraction=self.subset_fraction,
            margin_scale=self.margin_scale, knn_k=self.knn_k, seed=self.seed,
            positive_sharing=self.positive_sharing, margin_bounds=self.margin_bounds, cap_g2=self.cap_g2,
            triplet_mining=self.triplet_mining, recluster=self.recluster, lr_decay=self.lr_decay)


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
    net: Optional[torch.nn.Module] = None
    train_embeddings: Optional[np.ndarray] = None
    test_embeddings: Optional[np.ndarray] = None
    clusters: Optional[object] = None

    def summary(self) -> dict:
        return {"method": self.method, "balanced_accuracy": self.balanced_accuracy,
                "val_balanced_accuracy": self.val_balanced_accuracy, "iterations": self.iterations,
                "rounds": len(self.history), "train_seconds": self.train_seconds,
                "images_per_second": self.images_per_second, "classifier": self.classifier,
                "other_classifier": self.other_classifier, "other_balanced_accuracy": self.other_balanced_accuracy}


_PRIORS: Dict[str, tuple] = {}


def softmax_prior(data: PreparedData, budget: Budget, progress: bool = True):
    """The shared prior network: softmax on the data (plain sampling unless ``prior_resample``), cached per process.

    Returns (a fresh copy of the network, seconds it took to train the first time).
    """
    key = f"{data.fingerprint()}-{budget.prior_iters}-{budget.prior_batch_size}-{budget.prior_lr}-" \
          f"{budget.prior_resample}-{budget.embedding_dim}-{budget.seed}"
    if key not in _PRIORS:
        torch.manual_seed(budget.seed)
        net = nets.build_net(data.net, budget.embedding_dim, n_classes=data.n_classes)
        cfg = training.TrainConfig(loss="softmax", resample=budget.prior_resample, cost=budget.prior_resample,
                                   iters_per_round=max(1, budget.prior_iters), max_rounds=1,
                                   batch_size=budget.prior_batch_size, lr=budget.prior_lr, seed=budget.seed)
        t = time.perf_counter()
        if budget.prior_iters > 0:
            training.train(net, data.train, data.val, cfg, progress=progress, desc=f"{data.name} prior (softmax)")
        _PRIORS[key] = (net.cpu(), time.perf_counter() - t)
    net, seconds = _PRIORS[key]
    return copy.deepcopy(net).to(data.train.device), seconds


def run_method(name: str, data: PreparedData, budget: Budget, progress: bool = True,
               keep_embeddings: bool = False, checkpoint_dir=None, cache: Optional[runcache.RunCache] = None,
               attributes: Optional[List[str]] = None, other_classifier: bool = False, curve_iters=()):
    """Train method ``name`` from the shared prior for ``budget``; evaluate on the test set.

    Single-label only: ``other_classifier`` also reads the trained representation with the other
    family's classifier (softmax nets: Eq. 3 cluster kNN on their embeddings; embeddings: a linear
    probe), so a table can separate the representation from the classifier; ``curve_iters``
    records the test balanced accuracy at those global iterations (a budget curve, one run).

    Multi-label data goes to :func:`lmle_core.attribute_runs.run_attributes` (``attributes``
    selects a subset, ``cache`` reuses trained methods across notebooks) and returns an
    ``AttributeResult``; single-label data returns a :class:`MethodResult`.
    """
    method = get_method(name)
    if data.multilabel:
        from .attribute_runs import run_attributes

        return run_attributes(method, data, budget, attributes=attributes, progress=progress, cache=cache)
    if method.decision:
        raise ValueError(f"method {name!r} is defined for attribute (multi-label) data only")
    net, prior_s = softmax_prior(data, budget, progress)
    cfg = budget.train_config(method)
    cfg.negative_class = data.negative_class
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = f"{checkpoint_dir}/{data.name}-{method.name}-{data.fingerprint()}.pt".replace("+", "_")
    curve, curve_s = [], 0.0

    def on_curve(iteration, trained):
        nonlocal curve_s
        t_c = time.perf_counter()
        feats = None if cfg.loss == "softmax" else training.embed(trained, data.train, cfg.eval_batch_size)
        predict = training.make_predictor(trained, cfg, feats, data.train.labels.astype(np.int64))
        curve.append({"iteration": iteration, "test_balanced_accuracy": metrics.balanced_accuracy(
            data.test.labels, predict(data.test))})
        curve_s += time.perf_counter() - t_c

    t = time.perf_counter()
    res = training.train(net, data.train, data.val, cfg, progress=progress, desc=f"{data.name} {name}",
                         initial_features=data.prior_features, checkpoint=ckpt,
                         groups=data.train_groups if budget.exclude_own_copies else None,
                         curve_iters=curve_iters, on_curve=on_curve)
    train_s = time.perf_counter() - t - curve_s
    pred = res.predictor(data.test)
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
        net=res.net, clusters=getattr(res.predictor, "clusters", None), curve=curve)
    if other_classifier:
        out.other_classifier, out.other_balanced_accuracy = _other_classifier(res, data, budget, cfg)
    if keep_embeddings:
        feats = res.train_features if res.train_features is not None else \
            training.embed(res.net, data.train, cfg.eval_batch_size)
        out.train_embeddings = feats.cpu().numpy()
        out.test_embeddings = training.embed(res.net, data.test, cfg.eval_batch_size).cpu().numpy()
    return out


def _other_classifier(res, data: PreparedData, budget: Budget, cfg) -> tuple:
    """(name, test balanced accuracy) of the trained net read by the other family's classifier."""
    y_train = data.train.labels.astype(np.int64)
    feats = res.train_features if res.train_features is not None else \
        training.embed(res.net, data.train, cfg.eval_batch_size)
    if cfg.loss == "softmax":
        knn = training.knn_predictor(res.net, feats, y_train, budget.cluster_size, budget.knn_k, budget.seed)
        return "large-margin cluster kNN (Eq. 3)", metrics.balanced_accuracy(data.test.labels, knn(data.test))
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(max_iter=300).fit(feats.cpu().numpy(), y_train)
    test = training.embed(res.net, data.test, cfg.eval_batch_size).cpu().numpy()
    return "linear probe (logistic regression)", metrics.balanced_accuracy(data.test.labels, probe.predict(test))


def search_margin(name: str, data: PreparedData, budget: Budget, scales, progress: bool = True, **run_kw):
    """The paper's coarse grid search of the margins (Sec. 3.2) for a single-label method: train with
    each ``margin_scale`` of ``scales`` (margins = scale x the geometric bounds) and keep the best
    VALIDATION balanced accuracy. Returns (best scale, DataFrame of every scale, {scale: MethodResult}).
    Softmax methods (no margin) and an empty ``scales`` train once at ``budget.margin_scale``."""
    import pandas as pd

    if get_method(name).loss == "softmax" or not scales:
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


def prior_reference(data: PreparedData, budget: Budget, progress: bool = False) -> Dict[str, float]:
    """Test balanced accuracy of the shared prior network before any method trains it further:
    its softmax argmax and the large-margin cluster kNN on its embeddings (every method's start)."""
    net, _ = softmax_prior(data, budget, progress)
    feats = training.embed(net, data.train)
    knn = training.knn_predictor(net, feats, data.train.labels.astype(np.int64), budget.cluster_size,
                                 budget.knn_k, budget.seed)
    y = data.test.labels
    return {"prior: softmax argmax": metrics.balanced_accuracy(y, training.predict_softmax(net, data.test)),
            "prior: large-margin cluster kNN": metrics.balanced_accuracy(y, knn(data.test))}
