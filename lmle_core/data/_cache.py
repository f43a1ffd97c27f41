"""On-disk cache of decoded arrays (under :func:`lmle_core.data.paths.cache_dir`).

An entry is ``<prefix>-<key>.*``; the key is a hash of everything the content
depends on: the annotation and label files by their bytes (sha256), image files by name,
size and modification time, the parameters and the reader version. Every
file is written under a temporary name and renamed into place; the JSON
metadata is written last and marks the entry complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np

from .paths import cache_dir


def hash_key(obj: Any, length: int = 20) -> str:
    """Stable hex digest of a JSON-serializable object."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def file_signature(paths: Iterable[Path], content: bool = False) -> list:
    """``[name, size, mtime_ns]`` for each path (one stat each), or with ``content=True``
    ``[name, size, sha256]`` (reads the file: annotation files, where a same-size edit such as
    ``-1`` -> `` 1`` must invalidate the cache even if the modification time is restored)."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([Path(p).name, st.st_size, _sha256(p) if content else st.st_mtime_ns])
    return out


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def entry_paths(prefix: str, key: str, directory: Optional[Path] = None) -> Dict[str, Path]:
    d = Path(directory) if directory is not None else cache_dir()
    base = d / f"{prefix}-{key}"
    return {
        "json": base.with_name(base.name + ".json"),
        "npy": base.with_name(base.name + ".npy"),
        "npz": base.with_name(base.name + ".npz"),
    }


def _tmp_name(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp creates 0600; cache entries are plain data
    return Path(name)


def atomic_write_json(target: Path, obj: Any) -> None:
    tmp = _tmp_name(target)
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, default=str)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save_npz(target: Path, **arrays: np.ndarray) -> None:
    tmp = _tmp_name(target)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


class NpyWriter:
    """A ``.npy`` memmap to fill in place, renamed into ``target`` on commit.

    Filling a memmap avoids holding a second copy of a large array in memory.
    """

    def __init__(self, target: Path, shape: Tuple[int, ...], dtype=np.uint8):
        self.target = Path(target)
        self.tmp = _tmp_name(self.target)
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=dtype, shape=shape)

    def commit(self) -> None:
        self.array.flush()
        del self.array
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        if hasattr(self, "array"):
            del self.array
        if self.tmp.exists():
            self.tmp.unlink()


def read_json(path: Path) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
