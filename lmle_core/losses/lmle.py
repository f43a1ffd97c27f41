"""Losses: the triple-header hinge (LMLE Eq. 2), its margin bounds, and the baselines' losses.

Units. The paper writes D(f(x_i), f(x_j)) = ||f(x_i) - f(x_j)||_2^2 and calls it "the Euclidean
distance", and derives the margins' upper bounds as chord LENGTHS 2 sin(.) on the unit sphere (Sec.
3.2). Both hinges take ``distance="squared"`` (D as written, the default) or ``"euclidean"`` (the
chord length ||.||_2, the units the bounds are derived in); ``margin_upper_bounds(squared=True)``
is the third combination (squared bounds on squared distances).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..mining.quintuplet import quintuplet_term_mask  # noqa: F401 (a public name here too)


DISTANCES = ("squared", "euclidean")


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise ||a_i - b_i||^2."""
    return (a - b).pow(2).sum(-1)


def euclidean_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise ||a_i - b_i||; where a_i == b_i the value is 0 and the gradient 0 (a subgradient of
    the norm there; sqrt's own derivative would give 0 * inf = NaN)."""
    d2 = squared_distance(a, b)
    positive = d2 > 0
    return torch.where(positive, d2.masked_fill(~positive, 1.0).sqrt(), torch.zeros_like(d2))


def pair_distance(a: torch.Tensor, b: torch.Tensor, distance: str = "squared") -> torch.Tensor:
    """Row-wise D(a_i, b_i) in the units named by ``distance`` ("squared" or "euclidean")."""
    if distance == "squared":
        return squared_distance(a, b)
    if distance == "euclidean":
        return euclidean_distance(a, b)
    raise ValueError(f"distance={distance!r}; expected one of {DISTANCES}")


def _margins_tensor(margins, n: int, like: torch.Tensor) -> torch.Tensor:
    """(3,) or (N, 3) margins -> (N, 3) tensor on like's device/dtype."""
    g = torch.as_tensor(margins, dtype=like.dtype, device=like.device)
    if g.dim() == 1:
        if g.shape[0] != 3:
            raise ValueError(f"margins must be (g1, g2, g3), got {tuple(g.shape)}")
        g = g.expand(n, 3)
    if g.shape != (n, 3):
        raise ValueError(f"margins must be (3,) or ({n}, 3), got {tuple(g.shape)}")
    return g


def weighted_mean(per_sample: torch.Tensor, weights) -> torch.Tensor:
    if weights is None:
        return per_sample.mean()
    w = torch.as_tensor(weights, dtype=per_sample.dtype, device=per_sample.device)
    if w.shape != per_sample.shape:
        raise ValueError(f"weights shape {tuple(w.shape)} != batch shape {tuple(per_sample.shape)}")
    return (w * per_sample).mean()


def triple_header_hinge(anchor, p_plus, p_minus, p_minus2, negative, margins,
                        weights=None, valid=None, distance: str = "squared") -> torch.Tensor:
    """Mean over samples of w_i * ([g1 + D(a,p+) - D(a,p-)]_+ + [g2 + D(a,p-) - D(a,p--)]_+
    + [g3 + D(a,p--) - D(a,n)]_+), D the squared Euclidean distance on the given embeddings
    (``distance="euclidean"``: the Euclidean distance, margins then in its units).

    ``margins``: (g1, g2, g3) or an (N, 3) tensor (e.g. g2 per anchor class).
    ``valid``: optional (N, 3) boolean mask of the three hinge terms to keep, for
    quintuplets with a missing member (a class with one cluster has no p-: the
    quintuplet degrades to the triplet term, as the paper notes in Sec. 5).
    """
    d_pp, d_pm, d_pmm, d_n = (pair_distance(anchor, m, distance) for m in (p_plus, p_minus, p_minus2, negative))
    g = _margins_tensor(margins, anchor.shape[0], anchor)
    terms = torch.stack([
        F.relu(g[:, 0] + d_pp - d_pm),
        F.relu(g[:, 1] + d_pm - d_pmm),
        F.relu(g[:, 2] + d_pmm - d_n),
    ], 1)
    if valid is not None:
        terms = terms * torch.as_tensor(valid, device=terms.device).to(terms.dtype)
    return weighted_mean(terms.sum(1), weights)


@dataclass
class MarginBounds:
    """Upper bounds of the three margins (LMLE Sec. 3.2)."""

    g1: float          # inter-cluster: 2 sin(pi s l / L)
    g2: np.ndarray     # per class: 2 sin(pi s (L_c - l) / L), 0 when L_c <= l
    g3: float          # inter-class: 2 sin(pi / C)

    def scaled(self, scale, class_of_anchor: Optional[np.ndarray] = None):
        """scale * bounds as (3,) (g2 averaged over classes) or (N, 3) per anchor class; ``scale``
        one number for all three margins or (s1, s2, s3), one per margin."""
        s = margin_scales(scale)
        if class_of_anchor is None:
            return np.array([self.g1, float(np.mean(self.g2)), self.g3]) * s
        g2 = self.g2[np.asarray(class_of_anchor)]
        return np.stack([np.full_like(g2, self.g1), g2, np.full_like(g2, self.g3)], 1) * s


def margin_scales(scale) -> np.ndarray:
    """(3,) per-margin scales from one scale or (s1, s2, s3); ValueError unless finite and >= 0."""
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim == 0:
        s = np.full(3, float(s))
    if s.shape != (3,) or not np.isfinite(s).all() or (s < 0).any():
        raise ValueError(f"margin scale must be one number or (s1, s2, s3), finite and >= 0; got {scale!r}")
    return s


def margin_upper_bounds(class_sizes: Sequence[int], cluster_size: int = 200,
                        sphere_fraction: float = 1.0, squared: bool = False,
                        cap_half: bool = False) -> MarginBounds:
    """Geometric upper bounds of g1, g2, g3 for L = sum(class_sizes) samples on a
    proportion ``sphere_fraction`` (the paper's s) of the unit hypersphere.

    The paper writes the bounds as chord lengths 2 sin(angle) and applies them to SQUARED
    distances (the default here, as written); ``squared=True`` squares them so that bound and
    distance have the same units (a choice the paper leaves open). ``cap_half`` caps the g2 angle
    at pi / 2: past it (a class holding more than half the sphere, e.g. the majority side of a
    binary attribute) 2 sin(angle) would shrink again although the class spreads further.
    """
    sizes = np.asarray(class_sizes, dtype=np.float64)
    if sizes.ndim != 1 or len(sizes) < 2 or (sizes < 0).any():
        raise ValueError(f"class_sizes must list >= 2 non-negative sizes, got {class_sizes}")
    if not 0 < sphere_fraction <= 1:
        raise ValueError(f"sphere_fraction must be in (0, 1], got {sphere_fraction}")
    total, s, l = sizes.sum(), sphere_fraction, float(cluster_size)
    g1_angle = math.pi * s * l / total
    g2_angle = np.pi * s * np.clip(sizes - l, 0, None) / total
    if cap_half:
        g1_angle, g2_angle = min(g1_angle, math.pi / 2), np.minimum(g2_angle, np.pi / 2)
    bounds = np.array([2 * math.sin(g1_angle), 0.0, 2 * math.sin(math.pi / len(sizes))])
    g2 = 2 * np.sin(g2_angle)
    if squared:
        bounds, g2 = bounds ** 2, g2 ** 2
    return MarginBounds(g1=float(bounds[0]), g2=g2, g3=float(bounds[2]))


def triplet_hinge(anchor, positive, negative, margin: float, weights=None, valid=None,
                  distance: str = "squared") -> torch.Tensor:
    """Mean of w_i * [margin + D(a,p) - D(a,n)]_+ (FaceNet-style triplet loss; D as in
    :func:`triple_header_hinge`)."""
    per = F.relu(margin + pair_distance(anchor, positive, distance) - pair_distance(anchor, negative, distance))
    if valid is not None:
        per = per * torch.as_tensor(valid, device=per.device).to(per.dtype)
    return weighted_mean(per, weights)


def cost_sensitive_cross_entropy(logits, targets, weights=None) -> torch.Tensor:
    """Softmax cross-entropy, each sample weighted by its cost (mean over the batch)."""
    return weighted_mean(F.cross_entropy(logits, targets, reduction="none"), weights)


class TripleHeaderHingeLoss:
    """The LMLE loss on quintuplet embeddings (n, 5, d): Eq. 2 with margins scale x (g1, g2 of the anchor's
    class, g3) of the geometric bounds (Sec. 3.2)."""

    tuple_size = 5

    def margins(self, bounds: MarginBounds, scale: float, anchor_labels) -> np.ndarray:
        return bounds.scaled(scale, anchor_labels)

    def __call__(self, emb: torch.Tensor, margins, weights=None, valid=None, distance: str = "squared") -> torch.Tensor:
        return triple_header_hinge(emb[:, 0], emb[:, 1], emb[:, 2], emb[:, 3], emb[:, 4], margins,
                                   weights=weights, valid=valid, distance=distance)


class TripletHingeLoss:
    """The triplet baseline on (n, 3, d) [anchor, positive, negative] embeddings, margin scale x g3
    (per-margin scales (s1, s2, s3): s3, the inter-class margin's)."""

    tuple_size = 3

    def margins(self, bounds: MarginBounds, scale, anchor_labels) -> np.ndarray:
        if np.ndim(scale):
            scale = margin_scales(scale)[2]
        return np.full(len(anchor_labels), scale * bounds.g3)

    def __call__(self, emb: torch.Tensor, margins, weights=None, valid=None, distance: str = "squared") -> torch.Tensor:
        valid = None if valid is None else torch.as_tensor(valid).reshape(-1)
        return triplet_hinge(emb[:, 0], emb[:, 1], emb[:, 2], margins, weights=weights, valid=valid, distance=distance)
