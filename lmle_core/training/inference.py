"""Running a network outside the training step: whole-split embeddings and logits, mixed precision on
CUDA, the CPU's deterministic kernels, and the progress bar of long loops."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn as nn

from ..imageset import ImageSet


def autocast(device: torch.device):
    """bf16 autocast on CUDA; plain float32 on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def layout(x: torch.Tensor) -> torch.Tensor:
    """channels-last images on CUDA (faster convolutions), as they are on CPU."""
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


@contextlib.contextmanager
def deterministic_algorithms(device: torch.device):
    """On CPU, torch's deterministic kernels for the duration (restored afterwards): a loss that
    gathers rows with ``x[idx]`` would otherwise sum their gradients with parallel atomics, whose
    order changes from run to run. On CUDA the fast kernels stay (determinism is promised on CPU)."""
    if device.type != "cpu":
        yield
        return
    before, warn_only = torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


@torch.no_grad()
def batched_eval(net: nn.Module, data: ImageSet, batch_size: int, fn) -> list:
    """fn(net, x) over the whole set in eval mode (training mode restored afterwards)."""
    was_training = net.training
    net.eval()
    out = []
    with autocast(data.device):
        for s in range(0, len(data), batch_size):
            out.append(fn(net, layout(data.batch(np.arange(s, min(s + batch_size, len(data)))))))
    net.train(was_training)
    return out


def embed(net: nn.Module, data: ImageSet, batch_size: int = 2048, raw: bool = False) -> torch.Tensor:
    """Embeddings (N, d) (L2-normalised unless ``raw``) of every image, on the data's device."""
    out = batched_eval(net, data, batch_size, lambda n, x: (n.raw_embedding(x) if raw else n(x)).float())
    return torch.cat(out) if out else torch.empty(0)


def logits(net: nn.Module, data: ImageSet, batch_size: int = 2048) -> torch.Tensor:
    """Classifier logits (N, C) of every image."""
    out = batched_eval(net, data, batch_size, lambda n, x: n.logits(x).float())
    return torch.cat(out) if out else torch.empty(0)


def predict_softmax(net: nn.Module, data: ImageSet, batch_size: int = 2048) -> np.ndarray:
    """argmax of the logits of every image."""
    return logits(net, data, batch_size).argmax(1).cpu().numpy()


def progress_bar(iterable, enabled: bool, desc: str):
    if not enabled:
        return _Quiet(iterable)
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, leave=False, mininterval=1.0)


class _Quiet:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **_):
        pass
