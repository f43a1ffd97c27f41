"""Value ranges of a study's parameters, checked before any notebook starts (after their types).

- a budget dict (``budget``, ``*_budget``) must build an ``experiments.Budget`` (its
  ``__post_init__`` checks lr > 0, cluster_size >= 1, ...);
- a list whose notebook default is non-empty must not be empty (``seeds: []`` gave an IndexError
  deep inside a notebook);
- method names (``method``, ``methods``, ``*_method(s)``, ``crl_candidates``) must be keys of
  ``experiments.METHODS`` (an unknown one failed only after the others had trained);
- counts (``n_*``, ``*_iters``, ``*_size``, ``k``, ...) are never negative, and never 0 where the
  notebook's default is positive, unless the declaration's comment says what 0 means ("0 means all").

``experiments`` is imported lazily: it brings torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any

__all__ = ["Declared", "check_range", "is_budget_parameter", "is_count_parameter", "is_method_parameter"]

_COUNT_RE = re.compile(r"(^|_)(n|max)_|_(iters|k|size|repeats|factor|thresholds|images|patches|points|split)$"
                       r"|^(k|stride)$")
_ZERO_DOCUMENTED_RE = re.compile(r"(?<![\d.])0(?![\d.])\s*(:|means|keeps|=)")


@dataclasses.dataclass
class Declared:
    """One name of a notebook's parameters cell (read by ``config.notebook_parameters``)."""

    name: str
    type: type | None      # None: any value (no annotation and a None or non-literal default)
    default: Any
    comment: str = ""      # the comment on the declaration's line(s)


def is_budget_parameter(name: str) -> bool:
    return name == "budget" or name.endswith("_budget")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)




def is_method_parameter(name: str) -> bool:
    """Parameters that name methods of ``experiments.METHODS``."""
    return name in ("method", "methods", "crl_candidates") or name.endswith(("_method", "_methods"))


def is_count_parameter(name: str, declared: Declared) -> bool:
    return declared.type is int and bool(_COUNT_RE.search(name))


def _method_names() -> list[str]:
    from lmle_core.experiments import METHODS  # imported lazily: it brings torch

    return list(METHODS)


def check_range(name: str, value: Any, declared: Declared) -> tuple[str | None, str] | None:
    """(budget key or None, what is wrong) when a value of the right type is out of range; else None."""
    if is_budget_parameter(name) and isinstance(value, dict):
        from lmle_core.experiments import Budget  # imported lazily: it brings torch

        try:
            Budget.from_dict(value)
        except (ValueError, TypeError) as e:
            field = re.match(r"budget\.(\w+)", str(e))
            return (field.group(1) if field else None), str(e)
        return None
    if isinstance(value, list) and not value and isinstance(declared.default, list) and declared.default:
        return None, f"must not be empty (the notebook's default: {declared.default!r})"
    if is_method_parameter(name) and isinstance(value, (str, list)):
        known = _method_names()
        for v in [value] if isinstance(value, str) else value:
            if v not in known:
                close = difflib.get_close_matches(str(v), known, n=3, cutoff=0.6)
                return None, (f"unknown method {v!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
                              + f"; methods: {', '.join(known)}")
    if name == "selections" and isinstance(value, list):   # readings of the quintuplet members (issue 18)
        from lmle_core.mining.quintuplet import SELECTIONS
        unknown = [v for v in value if v not in SELECTIONS]
        if unknown:
            return None, f"unknown reading(s) {unknown}; readings: {', '.join(SELECTIONS)}"
    if name == "readings_columns" and value not in ("last", "all"):
        return None, f"must be 'last' or 'all', got {value!r}"
    if is_count_parameter(name, declared) and _is_int(value):
        if value < 0:
            return None, f"must be >= 0, got {value}"
        default = declared.default
        if value == 0 and _is_int(default) and default > 0 and not _ZERO_DOCUMENTED_RE.search(declared.comment):
            return None, f"must be a positive count, got 0 (the notebook's default: {default})"
    return None
