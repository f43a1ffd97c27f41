"""Input checks shared by the public functions (a ValueError naming the argument, never a raw
numpy / torch / faiss error or a silently wrong result).

Labels are integer classes: an integer or bool array, or floats that hold whole numbers
(returned as given: a check never changes what a valid call computes).
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

__all__ = ["integer_labels", "binary_labels", "positive_int", "finite_number"]


def integer_labels(values, name: str, length: Optional[int] = None, length_of: str = "rows") -> np.ndarray:
    """``values`` as a 1-D numpy array of integer classes; ValueError naming ``name`` for strings,
    NaN / inf, fractions, or a length other than ``length`` (the number of ``length_of``)."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be an array of integer class labels ({exc})") from None
    arr = arr.reshape(-1)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} holds {int((~np.isfinite(arr)).sum())} non-finite values (NaN or inf); "
                             f"labels must be integer classes")
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, found {arr[arr != np.round(arr)][0].item()!r}")
    elif arr.dtype.kind not in "biu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}"
                         + (f" (e.g. {arr[0].item()!r})" if arr.size else ""))
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} has {arr.shape[0]} entries for {length} {length_of}")
    return arr


def binary_labels(values, name: str) -> np.ndarray:
    """``values`` as given (a numpy array) when every entry is 0 or 1 (or bool); else a ValueError
    naming ``name`` (CelebA's raw -1 / 1 would otherwise be read as all positive)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold binary 0/1 labels, got dtype {arr.dtype}")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        raise ValueError(f"{name} must hold binary 0/1 labels, found {arr[bad].flat[0].item()!r}")
    return arr


def positive_int(value, name: str) -> int:
    """``value`` when it is an integer >= 1 (bool excluded); else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def finite_number(value, name: str, minimum: float = float("-inf")) -> float:
    """``value`` when it is a finite real number >= ``minimum``; else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum:g}, got {value!r}")
    return value
