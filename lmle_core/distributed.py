"""Data-parallel training over torch.distributed (launched with torchrun, one process per GPU).

Every process holds the whole model and builds the same per-round plans (clusters, quintuplet
tables: same seeds, same data); each takes its share of every batch (``shard``), and after each
backward the gradients are averaged across the processes (``average_gradients``: one all-reduce
of the flattened gradients, the arithmetic DistributedDataParallel does), so every process keeps
identical weights and a step equals one process on the whole batch (exactly, up to float
summation order, when the model has no batch normalisation; with it, ``sync_batch_norm`` makes
the statistics those of the whole batch on GPUs). Without an initialised process group every
function is a no-op, so the same code trains in one process.

    torchrun --nproc_per_node 8 scripts/train_distributed.py --data-root DIR --profile full
"""
from __future__ import annotations

from typing import Iterable, Tuple

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["world", "is_main", "shard", "average_gradients", "average_scalar", "sync_batch_norm"]


def world() -> Tuple[int, int]:
    """(rank, number of processes); (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def shard(batch, axis: int = -1):
    """This process's share of a batch along ``axis`` (items rank, rank + size, ...); the batch size
    must be a multiple of the number of processes, so every share has the same size and the average
    of the shares' mean losses is the whole batch's mean. numpy arrays or torch tensors."""
    rank, size = world()
    if size == 1 or batch is None:
        return batch
    n = batch.shape[axis]
    if n % size:
        raise ValueError(f"batch size {n} is not a multiple of the {size} processes")
    index = [slice(None)] * batch.ndim
    index[axis] = slice(rank, None, size)
    return batch[tuple(index)]


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the processes (one all-reduce)."""
    _, size = world()
    grads = [p.grad for p in params if p.grad is not None]
    if size == 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_scalar(value: float) -> float:
    _, size = world()
    if size == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / size


def sync_batch_norm(module: torch.nn.Module) -> torch.nn.Module:
    """Batch normalisation over the whole batch across the GPUs (in place); unchanged on CPU or alone."""
    _, size = world()
    device = next(module.parameters()).device
    if size > 1 and device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module
