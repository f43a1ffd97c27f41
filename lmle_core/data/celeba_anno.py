"""CelebA annotation files (plain or ``.gz``): attributes, evaluation partition, identities.

* ``list_attr_celeba.txt``: line 1 the image count, line 2 the 40 attribute
  names, then ``<file name> v1 .. v40`` with values -1/1 separated by any
  amount of white space (the official file right-aligns them, CRLF endings).
* ``list_eval_partition.txt``: ``<file name> 0|1|2`` (train / val / test).
* ``identity_CelebA.txt``: ``<file name> <identity number>``.

Every file name appears once: a repeated name (a duplicate or a conflicting line, which could move
a training image into the test split) is a :class:`CorruptFileError` naming the file and the line.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ._fileio import read_text
from .errors import CorruptFileError

__all__ = ["read_attributes", "read_partition", "read_identities"]


def _lines(path: Path) -> List[str]:
    return read_text(path).splitlines()


def read_attributes(path) -> Tuple[List[str], List[str], np.ndarray]:
    """Read ``list_attr_celeba.txt`` (plain or ``.gz``).

    Format: line 1 the image count, line 2 the 40 attribute names, then one
    line per image: ``<file name> v1 .. v40`` with values -1/1 separated by
    any amount of white space.

    Returns ``(filenames, attribute_names, values)`` with ``values`` int8
    (N, 40) in {0, 1}. A malformed line raises :class:`CorruptFileError`
    naming the file and the line.
    """
    path = Path(path)
    text = read_text(path)
    lines = text.split("\n", 2)[:2]
    if len(lines) < 2:
        raise CorruptFileError(path, "expected an image count line and an attribute-name line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise CorruptFileError(path, f"first line should be the image count, got {lines[0][:60]!r}", line=1) from None
    names = lines[1].split()
    if not names:
        raise CorruptFileError(path, "second line should list the attribute names", line=2)
    n_attr = len(names)

    filenames, values = _parse_attribute_rows_fast(text, n_attr)
    if filenames is None:  # something is off: find the exact line
        filenames, values = _parse_attribute_rows_slow(path, text.splitlines(), n_attr)
    if len(set(filenames)) != len(filenames):
        _raise_first_repeat(path, text.splitlines()[2:], first_line=3)
    if len(filenames) != count:
        raise CorruptFileError(path, f"header announces {count} images but {len(filenames)} rows follow", line=1)
    return filenames, names, (values > 0).astype(np.int8)


def _parse_attribute_rows_fast(text: str, n_attr: int):
    """Vectorized parse (pandas C parser) of well-formed rows; (None, None) when any row is malformed."""
    import pandas as pd

    parts = text.split("\n", 2)
    body = parts[2] if len(parts) == 3 else ""
    if not body.strip():
        return [], np.zeros((0, n_attr), np.int8)
    try:
        df = pd.read_csv(
            io.StringIO(body), sep=r"\s+", header=None, engine="c", dtype={0: str}, skip_blank_lines=True
        )
    except Exception:  # pandas ParserError, ValueError, ...
        return None, None
    if df.shape[1] != n_attr + 1:
        return None, None
    vals = df.iloc[:, 1:].to_numpy()
    if vals.dtype.kind not in "iu":  # NaN (short rows) or non-numeric tokens
        return None, None
    if not np.all((vals == 1) | (vals == -1)):
        return None, None
    return df.iloc[:, 0].tolist(), vals.astype(np.int8)


def _parse_attribute_rows_slow(path: Path, lines: List[str], n_attr: int):
    filenames, rows = [], []
    for lineno, ln in enumerate(lines[2:], start=3):
        parts = ln.split()
        if not parts:
            continue
        if len(parts) != n_attr + 1:
            raise CorruptFileError(path, f"expected a file name and {n_attr} values, found {len(parts)} fields", line=lineno)
        bad = [v for v in parts[1:] if v not in ("1", "-1")]
        if bad:
            raise CorruptFileError(path, f"attribute values must be -1 or 1, found {bad[0]!r}", line=lineno)
        filenames.append(parts[0])
        rows.append([1 if v == "1" else -1 for v in parts[1:]])
    return filenames, np.array(rows, dtype=np.int8).reshape(-1, n_attr)


def _raise_first_repeat(path: Path, lines: List[str], first_line: int) -> None:
    """Raise for the first line whose file name an earlier line already gave."""
    seen: Dict[str, int] = {}
    for lineno, ln in enumerate(lines, start=first_line):
        parts = ln.split()
        if not parts:
            continue
        if parts[0] in seen:
            raise CorruptFileError(path, f"{parts[0]} is listed again (first on line {seen[parts[0]]}); "
                                         f"every image must appear once", line=lineno)
        seen[parts[0]] = lineno


def _read_name_int(path, allowed=None) -> Dict[str, int]:
    path = Path(path)
    out: Dict[str, int] = {}
    first: Dict[str, int] = {}
    for lineno, ln in enumerate(_lines(path), start=1):
        parts = ln.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise CorruptFileError(path, f"expected '<file name> <integer>', found {len(parts)} fields", line=lineno)
        try:
            v = int(parts[1])
        except ValueError:
            raise CorruptFileError(path, f"expected an integer, found {parts[1]!r}", line=lineno) from None
        if allowed is not None and v not in allowed:
            raise CorruptFileError(path, f"value {v} not in {sorted(allowed)}", line=lineno)
        if parts[0] in first:
            same = "the same value" if out[parts[0]] == v else f"{out[parts[0]]} there, {v} here"
            raise CorruptFileError(path, f"{parts[0]} is listed again (first on line {first[parts[0]]}, {same}); "
                                         f"every image must appear once", line=lineno)
        first[parts[0]] = lineno
        out[parts[0]] = v
    return out


def read_partition(path) -> Dict[str, int]:
    """Read ``list_eval_partition.txt``: file name -> split (0 train, 1 val, 2 test)."""
    return _read_name_int(path, allowed={0, 1, 2})


def read_identities(path) -> Dict[str, int]:
    """Read ``identity_CelebA.txt``: file name -> identity number."""
    return _read_name_int(path)
