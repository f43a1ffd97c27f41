"""The budget: how long and how every method trains (the one configuration of a training run), and
named presets that profiles and notebooks start from and override field by field.

``Budget.from_dict({"preset": "celeba-frozen", "knn_k": 5})`` takes the preset, then the given fields.
A value out of range is a ValueError naming the field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from ..mining.quintuplet import DISTANCES, SELECTIONS

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
    crl_k: int = 5                   # CRL: kappa, hard positives / negatives per minority anchor; 0 (or "all"):
                                     # every other sample of the anchor's class in the batch (mining.crl.ALL_MINORITY)
    crl_margin: float = 0.5          # CRL: margin of the relative and absolute forms
    prior_seed: int = 0              # multi-label: seed of the shared prior network (``seed`` seeds the methods)
    # edges only (data with a negative class): weight of DeepContour's positive-sharing term in the costs
    positive_sharing: float = 0.0
    # protocol choices the paper leaves open (defaults: as first implemented; Table 5 sets its own)
    margin_bounds: str = "chord"     # "chord": bounds 2 sin(.) on squared distances as written; "squared"
    cap_g2: bool = False             # cap the g2 angle at pi/2 (a class holding over half the data)
    triplet_mining: str = "table"    # "table": random positive + nearest negative; "semi-hard": FaceNet in-batch
    exclude_own_copies: bool = False  # single-label: no quintuplet member from the anchor's source image
    # LMLE read so that it can work (issue 18); defaults: the study's first reading, numbers as before
    selection: str = "hardest"       # quintuplet members: "hardest" | "order-consistent" | "semi-hard"
                                     # (mining.quintuplet's docstring quotes the sentence each one reads)
    margin_distance: str = "squared"  # the hinge's D: "squared" (as written) or "euclidean" (the bounds' units)
    margin_factors: tuple = (1.0, 1.0, 1.0)  # per-margin factors (f1, f2, f3): margins = margin_scale x f_k x
                                     # the bounds of g_k (the paper's "several decreasing margins")
    attribute_batches: str = "per-attribute"  # multi-label, class-balanced methods: "per-attribute" (each
                                     # attribute its own balanced anchors) or "rotating" (one balanced batch
                                     # per step for one attribute in turn, shared by all; Table 4's note)
    recluster: bool = True           # controls of the budget curve: keep round 1's clusters ...
    lr_decay: float = 1.0            # ... or lower the learning rate after round 1
    # the optimiser and evaluation (SGD as the paper: momentum 0.9, weight decay 5e-4)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    sphere_fraction: float = 1.0     # the paper's s in the margin bounds
    eval_batch_size: int = 2048      # images per forward pass when embedding a whole split

    def __post_init__(self):
        """Value ranges (a bad value is a ValueError naming the field, before anything trains)."""
        positive = ("prior_batch_size", "iters_per_round", "max_rounds", "patience", "batch_size", "softmax_batch_size",
                    "embedding_dim", "cluster_size", "knn_k", "feature_dim", "head_hidden",
                    "eval_batch_size")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"budget.{name} must be a positive integer, got {value!r}")
        if self.crl_k == "all":      # the readable spelling of kappa = every minority sample
            self.crl_k = 0
        if isinstance(self.crl_k, bool) or not isinstance(self.crl_k, int) or self.crl_k < 0:
            raise ValueError(f"budget.crl_k must be a positive integer, or 0 / 'all' (every minority sample), "
                             f"got {self.crl_k!r}")
        for name in ("prior_iters",):
            if getattr(self, name) < 0:
                raise ValueError(f"budget.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "prior_lr", "margin_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"budget.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.subset_fraction <= 1:
            raise ValueError(f"budget.subset_fraction must be in (0, 1], got {self.subset_fraction!r}")
        for name in ("crl_eta", "crl_margin", "positive_sharing", "momentum", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"budget.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 < self.sphere_fraction <= 1:
            raise ValueError(f"budget.sphere_fraction must be in (0, 1], got {self.sphere_fraction!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"budget.lr_decay must be in (0, 1], got {self.lr_decay!r}")
        choices = {"trunk": ("frozen", "train"), "margin_bounds": ("chord", "squared"),
                   "triplet_mining": ("table", "semi-hard"), "selection": SELECTIONS,
                   "margin_distance": DISTANCES, "attribute_batches": ("per-attribute", "rotating")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"budget.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        factors = self.margin_factors
        if (isinstance(factors, (str, bytes)) or not hasattr(factors, "__len__") or len(factors) != 3
                or any(isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < float("inf")
                       for f in factors)):
            raise ValueError(f"budget.margin_factors must be three finite numbers > 0 (f1, f2, f3), got {factors!r}")
        self.margin_factors = tuple(float(f) for f in factors)   # a YAML list becomes a tuple

    def margin_scales(self):
        """The scale of the margins' bounds: ``margin_scale`` (one number, as before issue 18) or, with
        per-margin factors, (s1, s2, s3) = margin_scale x margin_factors."""
        if self.margin_factors == (1.0, 1.0, 1.0):
            return self.margin_scale
        return tuple(self.margin_scale * f for f in self.margin_factors)

    @classmethod
    def from_dict(cls, values: Optional[dict]) -> "Budget":
        """A budget from a dict: ``preset`` (a name of :data:`PRESETS`) first, then the other keys over it."""
        values = dict(values or {})
        preset = values.pop("preset", None)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown budget parameter(s) {sorted(unknown)}; "
                             f"known: {['preset'] + [f.name for f in dataclasses.fields(cls)]}")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown budget preset {preset!r}; presets: {sorted(PRESETS)}")
        return cls(**{**(PRESETS[preset] if preset is not None else {}), **values})

    def for_prior(self, multilabel: bool) -> "Budget":
        """The budget the shared softmax prior trains with: ``prior_*`` as the loop's fields, one round.
        Single-label data uses ``prior_resample``; the attribute prior trains on plain batches with
        ``prior_seed`` (its features are shared by every method of every seed)."""
        return dataclasses.replace(
            self, iters_per_round=max(1, self.prior_iters), max_rounds=1, patience=1, batch_size=self.prior_batch_size,
            softmax_batch_size=self.prior_batch_size, lr=self.prior_lr, lr_decay=1.0, recluster=True, positive_sharing=0.0,
            seed=self.prior_seed if multilabel else self.seed)


# Named starting points (every field not named keeps the paper-scale default above). Profiles and
# notebooks write ``budget: {preset: NAME, field: value, ...}``.
PRESETS: dict = {
    "paper": {},
    # LMLE's CelebA protocol (Sec. 5.1): the prior and every method trained end to end; the default of
    # the attribute notebooks (celeba_attributes, celeba_end_to_end, ablation, crl, embedding_figure,
    # imbalanced_methods)
    "celeba-paper": {"prior_iters": 20000, "prior_lr": 0.01, "trunk": "train"},
    # the CPU protocol of the quick profile: heads trained on the frozen prior's features, short rounds
    # (sized for the 60-minute quick run: a 400-iteration prior, 2 rounds x 150 iterations)
    "celeba-frozen": {"prior_iters": 400, "prior_lr": 0.01, "iters_per_round": 150, "max_rounds": 2, "patience": 2,
                      "trunk": "frozen"},
}
