"""Small file helpers shared by the readers: plain-or-gzip files."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Iterable, Optional

from .errors import CorruptFileError

GZIP_MAGIC = b"\x1f\x8b"


def find_plain_or_gz(base: Path) -> Optional[Path]:
    """``base`` if it exists, else ``base.gz`` if it exists, else None."""
    base = Path(base)
    if base.is_file():
        return base
    gz = base.with_name(base.name + ".gz")
    if gz.is_file():
        return gz
    return None


def first_existing(candidates: Iterable[Path]) -> Optional[Path]:
    for c in candidates:
        found = find_plain_or_gz(c)
        if found is not None:
            return found
    return None


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def read_bytes(path: Path) -> bytes:
    """Whole file content, transparently gunzipped (by magic, not by name)."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptFileError(path, f"broken gzip stream ({exc})") from None
    return raw


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """Whole text content of a plain or gzipped file."""
    data = read_bytes(path)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise CorruptFileError(path, f"not {encoding} text ({exc})") from None


def open_text(path: Path) -> io.TextIOBase:
    """A text stream over a plain or gzipped file."""
    path = Path(path)
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, "r", encoding="utf-8")
