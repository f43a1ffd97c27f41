"""Full edge maps from a trained patch network (LMLE Sec. 5, N4-Fields-style label transfer).

1. Dense embedding: the patch network made fully convolutional (its first fully connected layer
   becomes an 8x8 convolution, the embedding and classifier 1x1 convolutions) runs over the whole
   reflect-padded image; its output is the patch network's output at every 4th pixel, and
   (4/stride)^2 shifted copies of the image, run as one batch, fill the grid at ``stride``.
   The descriptor network (:mod:`lmle_core.edges.descriptor_net`) reads the channel descriptors
   of every grid point instead (:func:`dense_outputs` picks the path by the network).
2. Label transfer at every grid point: the ``label_size`` x ``label_size`` ground-truth label
   patches of its neighbours, averaged:
   - ``"cluster"`` (LMLE-kNN): the k nearest cluster centroids of the training embeddings, each
     contributing its cluster's mean label patch;
   - ``"instance"``: the k nearest training patches' own label patches (instance-wise kNN);
   - ``"softmax"``: the class-mean label patches weighted by the softmax probabilities.
3. The overlapping patches are averaged into the map (``fold``: :func:`transfer_maps`), then
   non-maximum suppression, and the maps of all images divided by their largest value (one
   constant; :func:`finish_maps`, where the diagnostics switch either off).

All steps are batched tensor operations: no Python loop over pixels or patches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import search
from ..metrics.boundaries import boundary_nms
from .descriptor_net import dense_descriptor_outputs, is_descriptor_net

DECISIONS = ("cluster", "instance", "softmax")


class DenseEmbedder(nn.Module):
    """The ``patch`` EmbeddingNet as a fully convolutional network (output stride 4, exact).

    ``forward(x)`` on a (B, 3, H, W) normalised image gives (B, d, h, w) L2-normalised embeddings
    (and logits when the net has a classifier) of the 45x45 patches with top-left corners at
    (4i, 4j).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        body = getattr(getattr(net, "trunk", None), "body", None)
        if body is None or not isinstance(body[-2], nn.Linear) or not isinstance(body[-3], nn.Flatten):
            raise TypeError("DenseEmbedder needs an EmbeddingNet whose trunk ends in Flatten, Linear, ReLU "
                            "(the 'patch' network)")
        self.features = body[:-3]
        fc = body[-2]
        channels = [m for m in self.features if isinstance(m, nn.Conv2d)][-1].out_channels
        side = int(round((fc.in_features / channels) ** 0.5))
        if channels * side * side != fc.in_features:
            raise TypeError(f"cannot read the last feature map's shape from {fc.in_features} inputs")
        self.fc = nn.Conv2d(channels, fc.out_features, side)
        self.fc.weight.data = fc.weight.data.reshape(fc.out_features, channels, side, side).clone()
        self.fc.bias.data = fc.bias.data.clone()
        self.embedding = _as_1x1(net.embedding)
        self.classifier = _as_1x1(net.classifier) if net.classifier is not None else None
        self.to(fc.weight.device)

    def forward(self, x):
        raw = self.embedding(F.relu(self.fc(self.features(x))))
        logits = self.classifier(raw) if self.classifier is not None else None
        return F.normalize(raw, dim=1), logits


def _as_1x1(linear: nn.Linear) -> nn.Conv2d:
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1)
    conv.weight.data = linear.weight.data[:, :, None, None].clone()
    conv.bias.data = linear.bias.data.clone()
    return conv


@torch.no_grad()
def dense_embeddings(net: nn.Module, image: np.ndarray, mean, std, stride: int = 2, device=None,
                     patch: int = 45, shifts_per_batch: int = 4):
    """Embeddings (h*w, d) and logits (h*w, C) or None of the patches centred at (stride*i, stride*j),
    grid (h, w) = (ceil(H/stride), ceil(W/stride)), of a uint8 (H, W, 3) image."""
    if stride not in (1, 2, 4):
        raise ValueError(f"stride must be 1, 2 or 4, got {stride}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    was_training = net.training
    net.eval()
    fcn = DenseEmbedder(net).to(device).eval()
    h_img, w_img = image.shape[:2]
    half = patch // 2
    x = np.pad(image, ((half, half + 4), (half, half + 4), (0, 0)), mode="reflect")
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).to(device).float()[None] / 255.0
    t = (t - torch.tensor(mean, device=device).view(1, -1, 1, 1)) / torch.tensor(std, device=device).view(1, -1, 1, 1)
    gh, gw = -(-h_img // stride), -(-w_img // stride)
    k = 4 // stride
    shifts = [(a * stride, b * stride) for a in range(k) for b in range(k)]
    hq, wq = t.shape[2] - 4, t.shape[3] - 4
    emb = logits = None
    for s0 in range(0, len(shifts), shifts_per_batch):
        group = shifts[s0:s0 + shifts_per_batch]
        batch = torch.cat([t[:, :, dy:dy + hq, dx:dx + wq] for dy, dx in group])
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                e, lg = fcn(batch.contiguous(memory_format=torch.channels_last))
        else:
            e, lg = fcn(batch)
        e = e.float()
        if emb is None:
            emb = torch.zeros(e.shape[1], gh, gw, device=device)
            logits = torch.zeros(lg.shape[1], gh, gw, device=device) if lg is not None else None
        for b, (dy, dx) in enumerate(group):  # interleave the shifted outputs (a handful of slices)
            gy, gx = dy // stride, dx // stride
            ny, nx = len(range(gy, gh, k)), len(range(gx, gw, k))
            emb[:, gy::k, gx::k] = e[b, :, :ny, :nx]
            if logits is not None:
                logits[:, gy::k, gx::k] = lg[b, :, :ny, :nx].float()
    net.train(was_training)
    flat = emb.reshape(emb.shape[0], -1).T.contiguous()
    return flat, (logits.reshape(logits.shape[0], -1).T.contiguous() if logits is not None else None), (gh, gw)


def fold_patches(patches: torch.Tensor, grid, stride: int, shape) -> torch.Tensor:
    """Average (h*w, L*L) label patches centred on the grid points into an (H, W) map."""
    gh, gw = grid
    L = int(round(patches.shape[1] ** 0.5))
    out_size = ((gh - 1) * stride + L, (gw - 1) * stride + L)
    cols = patches.T.reshape(1, L * L, gh * gw).float()
    acc = F.fold(cols, out_size, L, stride=stride)
    cover = F.fold(torch.ones_like(cols), out_size, L, stride=stride)
    o = L // 2
    return (acc / cover.clamp_min(1.0))[0, 0, o:o + shape[0], o:o + shape[1]]


@dataclass
class LabelTransfer:
    """Neighbours and their label patches for one trained method (see the module docstring)."""

    decision: str
    bank: torch.Tensor                      # (M, L*L) label patches (cluster means, instances or class means)
    points: Optional[torch.Tensor] = None   # (M, d) centroids / training embeddings (cluster, instance)
    k: int = 20
    scale: float = 1.0                      # bank values x scale are in [0, 1] (uint8 banks: 1/255)
    chunk: int = 8192

    def __post_init__(self):
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")
        if self.decision != "softmax" and (self.points is None or len(self.points) != len(self.bank)):
            raise ValueError(f"{self.decision!r} transfer needs one point per label patch")

    def patches(self, emb: torch.Tensor, logits: Optional[torch.Tensor]) -> torch.Tensor:
        bank = self.bank.to(emb.device)
        if self.decision == "softmax":
            if logits is None:
                raise ValueError("softmax transfer needs a network with a classifier")
            return torch.softmax(logits.float(), 1) @ (bank.float() * self.scale)
        pts = self.points.to(emb.device).float()
        out = []
        for s in range(0, len(emb), self.chunk):
            _, idx = search.nearest(emb[s:s + self.chunk], pts, k=min(self.k, len(pts)), device=emb.device)
            out.append(bank[idx.to(bank.device)].float().mean(1) * self.scale)
        return torch.cat(out)


def transfer_for(result, task, decision: str, k: int = 20) -> LabelTransfer:
    """The :class:`LabelTransfer` of a ``experiments.MethodResult`` on an ``edges.EdgeTask``."""
    if decision == "softmax":
        bank = torch.as_tensor(task.class_patches).reshape(len(task.class_patches), -1)
        return LabelTransfer("softmax", bank, k=k)
    if decision == "cluster":
        cl = result.clusters
        if cl is None:
            raise ValueError(f"{result.method}: no clusters (a softmax method?): use decision='softmax'")
        return LabelTransfer("cluster", task.cluster_patches(cl.assignments, cl.n_clusters),
                             torch.as_tensor(cl.centroids), k=k)
    if result.train_embeddings is None:
        raise ValueError("instance transfer needs run_method(..., keep_embeddings=True)")
    lp = task.label_patches["train"]
    return LabelTransfer("instance", lp.reshape(len(lp), -1), torch.as_tensor(result.train_embeddings), k=k,
                         scale=1.0 / 255.0)


def dense_outputs(net: nn.Module, image: np.ndarray, mean, std, stride: int = 2, device=None):
    """(embeddings, logits or None, grid) of every grid point of a uint8 (H, W, 3) image, by the
    patch CNN (:func:`dense_embeddings`) or the descriptor MLP, whichever ``net`` is."""
    fn = dense_descriptor_outputs if is_descriptor_net(net) else dense_embeddings
    return fn(net, image, mean, std, stride=stride, device=device)


def transfer_maps(outputs: Callable, transfer: LabelTransfer, images: Mapping[str, np.ndarray],
                  stride: int = 2) -> Dict[str, np.ndarray]:
    """{id: (H, W) float64 map in [0, 1]}: the transferred label patches folded, before NMS and
    normalisation. ``outputs(image)`` gives (embeddings, logits, grid) at ``stride``."""
    out = {}
    for iid, img in images.items():  # one image at a time: each is one batched pass
        emb, logits, grid = outputs(img)
        m = fold_patches(transfer.patches(emb, logits), grid, stride, img.shape[:2]).cpu().numpy()
        out[iid] = np.clip(m.astype(np.float64), 0.0, 1.0)
    return out


NORMALISATIONS = ("global", "image", "none")


def finish_maps(maps: Mapping[str, np.ndarray], nms: bool = True,
                rescale: Union[bool, str] = "global") -> Dict[str, np.ndarray]:
    """NMS (``boundary_nms``) when ``nms``, then ``rescale``: "global" (True) divides every map by the
    largest value over all the given maps (one constant: a monotone change that lets the benchmark's
    fixed thresholds in (0, 1) span the maps' range; averaged label patches rarely exceed 0.3 since
    annotators disagree by a pixel or two), "image" divides each map by its own largest value,
    "none" (False) leaves the values."""
    mode = {True: "global", False: "none"}.get(rescale, rescale)
    if mode not in NORMALISATIONS:
        raise ValueError(f"rescale must be True, False or one of {NORMALISATIONS}, got {rescale!r}")
    out = {k: (np.clip(boundary_nms(m), 0.0, 1.0) if nms else np.asarray(m, dtype=np.float64))
           for k, m in maps.items()}
    if mode == "global":
        top = max((float(m.max()) for m in out.values()), default=0.0)
        return {k: m / top for k, m in out.items()} if top > 0 else out
    if mode == "image":
        return {k: (m / m.max() if m.max() > 0 else m) for k, m in out.items()}
    return out


def edge_maps(net: nn.Module, transfer: LabelTransfer, images: Mapping[str, np.ndarray], mean, std,
              stride: int = 2, nms: bool = True, rescale: Union[bool, str] = True,
              device=None) -> Dict[str, np.ndarray]:
    """{id: (H, W) float64 edge map in [0, 1]} of uint8 RGB images: :func:`transfer_maps` with the
    network's dense outputs, then :func:`finish_maps` (NMS when ``nms``; ``rescale`` as there)."""
    def outputs(img):
        return dense_outputs(net, img, mean, std, stride, device)

    return finish_maps(transfer_maps(outputs, transfer, images, stride), nms=nms, rescale=rescale)
