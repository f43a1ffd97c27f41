"""On-disk cache of trained methods, so notebooks never train the same thing twice.

The Table 2, ablation, embedding, CRL and comparison notebooks train the same methods on the
same CelebA data; the first one that needs a method trains it and stores what the others need
(trained weights, predictions, scores, history, timings). An entry is keyed by everything that
determines it:

- the data: a hash of the image bytes and labels (:func:`array_fingerprint`), not file names;
- the method's training identity (loss, sampling, costs) and the whole budget;
- the core's code: a hash of every ``lmle_core`` source file outside ``lmle_core/study``
  (:func:`code_fingerprint`), so any change of the science code retrains.

Entries live in ``$LMLE_CACHE_DIR/runs`` (default ``~/.cache/lmle/runs``), one ``.pt`` file
(torch.save, written atomically) and a ``.json`` description each, written last, with the
``.pt`` file's sha256: an entry whose file does not match it (a same-size byte overwrite
included) or cannot be read is recomputed and replaced, with a one-line warning naming the file.
A cache folder that cannot be written is said once; the work goes on without storing. Delete
the folder to start afresh. ``RunCache(enabled=False)`` computes everything and stores nothing;
``write=False`` reads but never writes (every process but the first of a distributed run).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from .data import cache as data_cache
from .data.cache import hash_key
from .data.paths import cache_dir

CACHE_VERSION = 1
_PACKAGE = Path(__file__).resolve().parent
_CODE_HASH: Optional[str] = None


def code_fingerprint() -> str:
    """sha256 over the core's source files (``lmle_core/**/*.py`` except the study machinery)."""
    global _CODE_HASH
    if _CODE_HASH is None:
        h = hashlib.sha256()
        for path in sorted(_PACKAGE.rglob("*.py")):
            rel = path.relative_to(_PACKAGE).as_posix()
            if rel.startswith("study/"):
                continue
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_HASH = h.hexdigest()[:20]
    return _CODE_HASH


def array_fingerprint(*arrays) -> str:
    """blake2b over the bytes, shapes and dtypes of numpy arrays / torch tensors (any device)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


class RunCache:
    """``get_or_compute(parts, compute)``: the stored result for ``parts``, else ``compute()`` stored."""

    def __init__(self, directory: Optional[os.PathLike] = None, enabled: bool = True, write: bool = True):
        self.enabled = bool(enabled)
        self.write = bool(write)    # False: read only (the other processes of a distributed run)
        self.directory = Path(directory) if directory is not None else cache_dir() / "runs"
        self.hits = self.misses = 0

    def key(self, parts: dict) -> str:
        return hash_key({"version": CACHE_VERSION, "code": code_fingerprint(), **parts}, length=24)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.pt"

    def load(self, key: str) -> Any:
        """The stored result, or None (a miss) when there is none or it does not verify."""
        path = self.path(key)
        if not self.enabled or not path.is_file():
            return None
        if data_cache.verified_meta(self._entry(path), ("pt",)) is None:  # no description yet, or damaged (said)
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 -- a foreign file with a matching hash: recomputed and replaced
            data_cache.warn(f"run cache file {path} cannot be loaded ({type(exc).__name__}: {exc}); recomputing it")
            return None

    @staticmethod
    def _entry(path: Path) -> dict:
        return {"json": path.with_suffix(".json"), "pt": path}

    def save(self, key: str, obj: Any, parts: dict) -> None:
        """Store ``obj``; a folder that cannot be written is reported once and nothing is stored."""
        if not self.enabled or not self.write:
            return
        try:
            self._save(key, obj, parts)
        except OSError as exc:
            data_cache.warn_unwritable(self.directory, exc)

    def _save(self, key: str, obj: Any, parts: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=self.directory)
        os.close(fd)
        try:
            torch.save(obj, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        meta = {"parts": parts, "code": code_fingerprint(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        data_cache.commit_entry(self._entry(target), meta, ("pt",))

    def get_or_compute(self, parts: dict, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(result, whether it came from the cache)."""
        key = self.key(parts)
        hit = self.load(key)
        if hit is not None:
            self.hits += 1
            return hit, True
        self.misses += 1
        result = compute()
        self.save(key, result, parts)
        return result, False
