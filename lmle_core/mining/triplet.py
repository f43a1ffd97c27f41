"""In-batch triplet mining: FaceNet's semi-hard negatives (Schroff et al. 2015)."""
from __future__ import annotations

import torch


@torch.no_grad()
def semihard_triplets(embeddings: torch.Tensor, labels: torch.Tensor, margin: float):
    """(anchor, positive, negative) index tensors of the semi-hard triplets of a batch:
    0 < D(a, n) - D(a, p) <= margin, a != p of one class, n of another."""
    x = embeddings.detach().float()
    dist = torch.cdist(x, x).pow(2)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=x.device)
    gap = dist[:, None, :] - dist[:, :, None]          # [a, p, n] = D(a, n) - D(a, p)
    keep = positive[:, :, None] & ~same[:, None, :] & (gap > 0) & (gap <= margin)
    a, p, n = keep.nonzero(as_tuple=True)
    return a, p, n
