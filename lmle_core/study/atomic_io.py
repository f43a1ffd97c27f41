"""Atomic file writes and JSON helpers for everything under ``results/``.

Every write goes to a temporary name (``.tmp-<name>.*``) in the target's directory and is
moved into place with ``os.replace``, so a reader never sees a half-written file.
JSON is written indented and UTF-8; numpy / torch scalars, arrays, paths, sets and dates
are accepted, and NaN / inf become ``null``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["write_text_atomic", "write_json_atomic", "read_json"]

_TMP_PREFIX = ".tmp-"


def _tmp_path(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", dir=str(path.parent))
    os.close(fd)
    return Path(name)


def atomic_write(path: os.PathLike | str, writer: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return path


def write_text_atomic(path: os.PathLike | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        try:
            return obj.item()
        except (ValueError, TypeError):
            pass
    if hasattr(obj, "tolist") and callable(obj.tolist):  # arrays
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    return str(obj)


def _clean_floats(obj: Any) -> Any:
    """NaN / inf are not JSON: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_floats(v) for v in obj]
    return obj


def write_json_atomic(path: os.PathLike | str, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (numpy scalars, paths accepted)."""
    text = json.dumps(_clean_floats(json.loads(json.dumps(data, default=json_default))), indent=2,
                      ensure_ascii=False)
    return write_text_atomic(path, text + "\n")


def read_json(path: os.PathLike | str) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
