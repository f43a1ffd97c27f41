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
from .imageset import ImageSet


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
    prior_seed: int = 0              # multi-label: seed of the shared prior network (``seed`` seeds the methods)
    # edges only (data with a negative class): weight of DeepContour's positive-sharing term in the costs
    positive_sharing: float = 0.0

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
            crl=method.crl, crl_eta=self.crl_eta,
            iters_per_round=self.iters_per_round, max_rounds=self.max_rounds, patience=self.patience,
            batch_size=self.softmax_batch_size if softmax else self.batch_size, lr=self.lr,
            cluster_size=self.cluster_size, subset_fraction=self.subset_fraction,
            margin_scale=self.margin_scale, knn_k=self.knn_k, seed=self.seed,
            positive_sharing=self.positive_sharing)


@dataclass
class PreparedData:
    """Train / validation / test image sets of one task, with the network that fits them.

    Single-label data has (N,) class labels; multi-label data (attributes) has (N, A) binary
    labels and the attribute names in ``tasks``.
    """

    name: str
    net: str                       # trunk name in nets.TRUNKS
    n_classes: int
    train: ImageSet
    val: ImageSet
    test: ImageSet
    description: Dict[str, str] = field(default_factory=dict)
    tasks: Optional[List[str]] = None
    prior_features: Optional[np.ndarray] = None   # (N_train, d) hand-crafted prior features (edges), else None
    negative_class: Optional[int] = None          # the non-edge class of the edge task (positive-sharing costs)
    _fingerprint: Optional[str] = field(default=None, repr=False)

    @property
    def multilabel(self) -> bool:
        return self.train.labels.ndim == 2

    def counts(self) -> Dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def fingerprint(self) -> str:
        """Hash of the content: every split's image bytes and labels (and the attribute names)."""
        if self._fingerprint is None:
            parts = [x for s in (self.train, self.val, self.test) for x in (s.images, s.labels)]
            h = hashlib.sha1((self.name + repr(self.tasks)).encode())
            h.update(runcache.array_fingerprint(*parts).encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint


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
    net: Optional[torch.nn.Module] = None
    train_embeddings: Optional[np.ndarray] = None
    test_embeddings: Optional[np.ndarray] = None
    clusters: Optional[object] = None

    def summary(self) -> dict:
        return {"method": self.method, "balanced_accuracy": self.balanced_accuracy,
                "val_balanced_accuracy": self.val_balanced_accuracy, "iterations": self.iterations,
                "rounds": len(self.history), "train_seconds": self.train_seconds,
                "images_per_second": self.images_per_second, "classifier": self.classifier}


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
               attributes: Optional[List[str]] = None):
    """Train method ``name`` from the shared prior for ``budget``; evaluate on the test set.

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
    t = time.perf_counter()
    res = training.train(net, data.train, data.val, cfg, progress=progress, desc=f"{data.name} {name}",
                         initial_features=data.prior_features,
                         checkpoint=ckpt)
    train_s = time.perf_counter() - t
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
        net=res.net, clusters=getattr(res.predictor, "clusters", None))
    if keep_embeddings:
        feats = res.train_features if res.train_features is not None else \
            training.embed(res.net, data.train, cfg.eval_batch_size)
        out.train_embeddings = feats.cpu().numpy()
        out.test_embeddings = training.embed(res.net, data.test, cfg.eval_batch_size).cpu().numpy()
    return out


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
