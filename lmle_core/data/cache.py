"""On-disk cache of decoded arrays (under :func:`lmle_core.data.paths.cache_dir`).

An entry is ``<prefix>-<key>.*``; the key is a hash of everything the content
depends on: the annotation and label files by their bytes (sha256), image files by name,
size and modification time, the parameters and the reader version. Every
file is written under a temporary name and renamed into place; the JSON
metadata is written last and marks the entry complete.

The metadata records the sha256 of every data file of the entry and a hash of itself
(:func:`commit_entry`); :func:`verified_meta` checks them on every load, so a file changed on
disk (even a same-size byte overwrite) is never served: the entry is rebuilt and replaced, with
a one-line warning naming the file. A cache folder that cannot be written gives a one-line
warning (once per folder) and the work goes on uncached (:func:`warn_unwritable`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

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


def warn(message: str) -> None:
    """One line on stderr (a notebook shows it as it is, without a source line)."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


_UNWRITABLE_SEEN: set = set()


def warn_unwritable(folder: Path, exc: OSError) -> None:
    """Say once per folder that the cache cannot be written there (and that the work goes on)."""
    reason = {errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EROFS: "read-only file system",
              errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}.get(
        exc.errno, exc.strerror or type(exc).__name__)
    if str(folder) in _UNWRITABLE_SEEN:
        return
    _UNWRITABLE_SEEN.add(str(folder))
    warn(f"cannot write the cache folder {folder} ({reason}): working without storing results there; "
         f"set LMLE_CACHE_DIR to a writable folder to cache them")


def _meta_hash(meta: dict) -> str:
    """sha256 of the metadata as JSON reads it back (without its own hash field)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    canonical = json.loads(json.dumps(body, default=str))
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path) -> str:
    """sha256 of a file's bytes."""
    return _sha256(path)


def commit_entry(entry: Dict[str, Path], meta: dict, kinds: Sequence[str]) -> None:
    """Write the entry's JSON last: ``meta`` plus the sha256 of each data file (``kinds``, e.g.
    ``("npy", "npz")``) and a hash of the metadata itself."""
    body = dict(meta, sha256={kind: _sha256(entry[kind]) for kind in kinds})
    body["meta_sha256"] = _meta_hash(body)
    atomic_write_json(entry["json"], body)


def verified_meta(entry: Dict[str, Path], kinds: Sequence[str]) -> Optional[dict]:
    """The entry's metadata when it is complete and every file matches its recorded sha256, else
    None (a miss: the caller rebuilds the entry and replaces its files). An entry that exists but
    is damaged or unverifiable is reported in one line naming the file."""
    path = Path(entry["json"])
    if not path.exists():
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        warn(f"cache file {path} cannot be read ({type(exc).__name__}: {exc}); rebuilding the entry")
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), dict) or "meta_sha256" not in meta:
        warn(f"cache file {path} records no content hash (written by an older version); rebuilding the entry")
        return None
    if meta["meta_sha256"] != _meta_hash(meta):
        warn(f"cache file {path} does not match its recorded hash (changed on disk); rebuilding the entry")
        return None
    for kind in kinds:
        data = Path(entry[kind])
        try:
            actual = _sha256(data)
        except OSError as exc:
            warn(f"cache file {data} cannot be read ({exc.strerror or exc}); rebuilding the entry")
            return None
        if actual != meta["sha256"].get(kind):
            warn(f"cache file {data} does not match its recorded sha256 (changed on disk); rebuilding the entry")
            return None
    return meta


def read_json(path: Path) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
