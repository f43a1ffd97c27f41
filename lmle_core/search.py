"""Exact nearest / farthest neighbour search and k-means: the one place that picks a backend.

Clustering, quintuplet mining and kNN all call this module, so faiss-versus-torch
and CPU-versus-GPU is decided here only:

- ``faiss`` (when importable) for CPU arrays: blocked BLAS search, fastest on CPU;
- ``torch`` otherwise (and always for CUDA tensors): tiled ``addmm`` + reduction,
  which keeps each distance tile in cache instead of materialising N x M.

Set ``LMLE_SEARCH_BACKEND=torch`` (or ``faiss``) to force one. Distances are
squared Euclidean everywhere, as in the LMLE paper. Features must be finite: NaN or inf raise a
ValueError naming the argument (faiss and torch would otherwise return arbitrary neighbours).
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np
import torch

from .checks import positive_int

_VALID_BACKENDS = ("auto", "faiss", "torch")


def _faiss():
    try:
        import faiss  # noqa: F401
    except ImportError:  # faiss is optional
        return None
    return faiss


def backend_for(device: torch.device | str | None = None) -> str:
    """Backend used for arrays on ``device``: 'faiss' or 'torch'."""
    choice = os.environ.get("LMLE_SEARCH_BACKEND", "auto").lower()
    if choice not in _VALID_BACKENDS:
        raise ValueError(f"LMLE_SEARCH_BACKEND={choice!r}; expected one of {_VALID_BACKENDS}")
    on_gpu = device is not None and torch.device(device).type == "cuda"
    if choice == "faiss":
        if _faiss() is None:
            raise ImportError("LMLE_SEARCH_BACKEND=faiss but faiss is not installed (pip install faiss-cpu)")
        return "faiss" if not on_gpu else "torch"
    if choice == "torch" or on_gpu:
        return "torch"
    return "faiss" if _faiss() is not None else "torch"


def as_float_tensor(x, device: torch.device | str | None = None, name: str = "features") -> torch.Tensor:
    """float32, contiguous, 2-D tensor view of numpy or torch input (no copy when possible).

    A ValueError naming ``name`` for input that is not numeric, not 2-D, or not finite.
    """
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a numeric (n, d) array ({exc})") from None
    if t.dtype.is_complex:
        raise ValueError(f"{name} must be a real (n, d) array, got dtype {t.dtype}")
    if device is not None:
        t = t.to(device)
    t = t.float()
    if t.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) array of features, got shape {tuple(t.shape)}")
    # min and max are NaN / inf exactly when some entry is: one pass (torch.isfinite costs ~10x more)
    if t.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(t))).all()):
        raise ValueError(f"{name} holds {int((~torch.isfinite(t)).sum())} non-finite values (NaN or inf)")
    return t.contiguous()


def tile_sizes(device: torch.device) -> Tuple[int, int]:
    # CPU: a 512 x 8192 float tile (16 MB) keeps the reduction near cache speed;
    # GPU: large tiles amortise kernel launches.
    return (8192, 65536) if device.type == "cuda" else (512, 8192)


def _torch_topk(queries: torch.Tensor, database: torch.Tensor, k: int, largest: bool):
    """Exact k smallest (or largest) squared distances, tiled over both sets."""
    q_tile, d_tile = tile_sizes(queries.device)
    db_norm = (database * database).sum(1)
    q_norm = (queries * queries).sum(1)
    n_q, n_db = queries.shape[0], database.shape[0]
    best_d = torch.empty(n_q, k, device=queries.device)
    best_i = torch.empty(n_q, k, dtype=torch.long, device=queries.device)
    for qs in range(0, n_q, q_tile):
        q = queries[qs:qs + q_tile]
        run_d = run_i = None
        for ds in range(0, n_db, d_tile):
            # ||x||^2 - 2 q.x ; the per-query ||q||^2 is added at the end (it cannot change the order)
            dist = torch.addmm(db_norm[ds:ds + d_tile], q, database[ds:ds + d_tile].T, alpha=-2.0)
            kk = min(k, dist.shape[1])
            d_val, d_idx = dist.topk(kk, dim=1, largest=largest, sorted=False)
            d_idx = d_idx + ds
            if run_d is None:
                run_d, run_i = d_val, d_idx
            else:
                cat_d, cat_i = torch.cat([run_d, d_val], 1), torch.cat([run_i, d_idx], 1)
                kk = min(k, cat_d.shape[1])
                run_d, pos = cat_d.topk(kk, dim=1, largest=largest, sorted=False)
                run_i = cat_i.gather(1, pos)
        run_d, order = run_d.sort(dim=1, descending=largest)
        run_i = run_i.gather(1, order)
        best_d[qs:qs + q_tile] = (run_d + q_norm[qs:qs + q_tile, None]).clamp_min_(0)
        best_i[qs:qs + q_tile] = run_i
    return best_d, best_i


def nearest(queries, database, k: int = 1, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """The k nearest database rows of each query: (squared distances (Q, k), indices (Q, k)).

    Sorted by increasing distance. ``k`` is capped at the database size.
    """
    return _search(queries, database, k, largest=False, device=device)


def farthest(queries, database, k: int = 1, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """The k most distant database rows of each query, sorted by decreasing distance."""
    return _search(queries, database, k, largest=True, device=device)


def _search(queries, database, k, largest, device):
    positive_int(k, "k")
    q = as_float_tensor(queries, device, name="queries")
    db = as_float_tensor(database, q.device, name="database")
    if q.shape[1] != db.shape[1]:
        raise ValueError(f"queries have d={q.shape[1]} but database has d={db.shape[1]}")
    if db.shape[0] == 0:
        raise ValueError("database is empty (0 rows)")
    k = int(min(k, db.shape[0]))
    if backend_for(q.device) == "faiss":
        return _faiss_search(q, db, k, largest)
    return _torch_topk(q, db, k, largest)


def _faiss_search(q: torch.Tensor, db: torch.Tensor, k: int, largest: bool):
    faiss = _faiss()
    qn, dbn = q.numpy(), db.numpy()
    if not largest:
        index = faiss.IndexFlatL2(dbn.shape[1])
        index.add(dbn)
        dist, idx = index.search(qn, k)
        return torch.from_numpy(dist).clamp_min_(0), torch.from_numpy(idx).long()
    # Farthest = maximum inner product on augmented vectors:
    # ||q - x||^2 = ||q||^2 + <[-2q, 1], [x, ||x||^2]>
    db_aug = np.concatenate([dbn, (dbn * dbn).sum(1, keepdims=True)], 1)
    q_aug = np.concatenate([-2.0 * qn, np.ones((qn.shape[0], 1), np.float32)], 1)
    index = faiss.IndexFlatIP(db_aug.shape[1])
    index.add(np.ascontiguousarray(db_aug, dtype=np.float32))
    score, idx = index.search(np.ascontiguousarray(q_aug, dtype=np.float32), k)
    dist = torch.from_numpy(score) + torch.from_numpy((qn * qn).sum(1))[:, None]
    return dist.clamp_min_(0), torch.from_numpy(idx).long()


def kmeans(x, n_clusters: int, n_iter: int = 20, seed: int = 0, device=None) -> torch.Tensor:
    """k-means centroids (n_clusters, d) of ``x``; seeded and deterministic for a backend.

    faiss.Kmeans on CPU when available, else Lloyd's algorithm in torch with
    k-means++ seeding (empty clusters re-seeded with the worst-fitted points).
    """
    pts = as_float_tensor(x, device, name="x")
    n = pts.shape[0]
    if n == 0:
        raise ValueError("x is empty (0 rows)")
    positive_int(n_clusters, "n_clusters")
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters={n_clusters} must be in [1, {n}] (number of points)")
    if n_clusters == 1:
        return pts.mean(0, keepdim=True)
    if n_clusters == n:
        return pts.clone()
    if backend_for(pts.device) == "faiss":
        faiss = _faiss()
        km = faiss.Kmeans(pts.shape[1], n_clusters, niter=n_iter, seed=seed, verbose=False,
                          min_points_per_centroid=1, max_points_per_centroid=1024)
        km.train(pts.numpy())
        return torch.from_numpy(km.centroids.copy())
    return _torch_kmeans(pts, n_clusters, n_iter, seed)


def _torch_kmeans(pts: torch.Tensor, k: int, n_iter: int, seed: int) -> torch.Tensor:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = pts.shape[0]
    # k-means++ seeding on a sample (full data is unnecessary for seeding quality)
    sample = pts[torch.randperm(n, generator=gen)[: min(n, 64 * k)].to(pts.device)]
    centroids = sample[torch.randint(sample.shape[0], (1,), generator=gen).to(pts.device)]
    closest = ((sample - centroids[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = (closest / closest.sum().clamp_min(1e-12)).cpu().double()
        pick = torch.multinomial(probs, 1, generator=gen).to(pts.device) if probs.sum() > 0 \
            else torch.randint(sample.shape[0], (1,), generator=gen).to(pts.device)
        centroids = torch.cat([centroids, sample[pick]], 0)
        closest = torch.minimum(closest, ((sample - sample[pick]) ** 2).sum(1))
    for _ in range(n_iter):
        dist, assign = _torch_topk(pts, centroids, 1, largest=False)
        assign = assign[:, 0]
        sums = torch.zeros_like(centroids).index_add_(0, assign, pts)
        counts = torch.bincount(assign, minlength=k).to(pts.dtype)
        empty = counts == 0
        centroids = sums / counts.clamp_min(1)[:, None]
        if empty.any():
            worst = dist[:, 0].topk(int(empty.sum())).indices
            centroids[empty] = pts[worst]
    return centroids


def assign_to_nearest(x, centroids, device=None) -> np.ndarray:
    """Index of the nearest centroid for every row of ``x`` (int64 numpy)."""
    _, idx = nearest(x, centroids, k=1, device=device)
    return idx[:, 0].cpu().numpy().astype(np.int64)


def default_device(requested: Optional[str] = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
