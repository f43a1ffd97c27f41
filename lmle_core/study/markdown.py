"""Markdown rendering of tables and cells (GitHub-flavoured pipe tables through tabulate).

Shared by :class:`lmle_core.reporting.StudyReport` (``tables/<name>.md``) and
:mod:`lmle_core.report_builder` (``REPORT.md``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import pandas as pd

__all__ = ["format_value", "markdown_table"]


def format_value(value: Any, float_format: str | Callable[[float], str] | None = None) -> str:
    """Format one cell for Markdown.

    ``float_format``: a format spec (``".2f"``), a ``str.format`` pattern (``"{:.2f}"``),
    a %-pattern (``"%.2f"``) or a callable; the default prints integral floats as integers,
    ``|x| >= 100`` with two decimals and smaller numbers with 4 significant digits.
    Missing values (None, NaN) become ``n/a``.
    """
    if value is None:
        return "n/a"
    try:
        if value is pd.NA or value is pd.NaT:
            return "n/a"
    except TypeError:
        pass
    if isinstance(value, bool) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "b"):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "n/a"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if float_format is not None:
            if callable(float_format):
                return str(float_format(x))
            if "{" in float_format:
                return float_format.format(x)
            if float_format.startswith("%"):
                return float_format % x
            return format(x, float_format)
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        if abs(x) >= 100:
            return f"{x:.2f}"
        return f"{x:.4g}"
    return str(value)


def escape_cell(text: str) -> str:
    text = str(text).replace("\r\n", "\n").replace("\n", " ")
    return text.replace("|", "\\|")


def frame_for_output(df: pd.DataFrame, index: bool | None) -> pd.DataFrame:
    """Move a meaningful index into columns (``index=None``: only when it is not a plain RangeIndex)."""
    if index is None:
        index = not (isinstance(df.index, pd.RangeIndex) and df.index.name is None)
    if index:
        df = df.reset_index()
    return df


def markdown_table(df: pd.DataFrame, float_format: str | Callable[[float], str] | None = None,
                   index: bool | None = None) -> str:
    """Render ``df`` as a GitHub-flavoured Markdown ("pipe") table with ``DataFrame.to_markdown``
    (tabulate): columns padded to equal width, so the file reads well as text too.

    Cells are formatted by :func:`format_value` first (``float_format`` as there) and not re-parsed;
    numeric columns are right-aligned, others left-aligned; ``|`` in cells is escaped and newlines
    become spaces. ``index=None`` shows the index only when it carries information.
    """
    df = frame_for_output(df, index)
    columns = [" / ".join(str(c) for c in col) if isinstance(col, tuple) else str(col) for col in df.columns]
    align = ["right" if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) else "left"
             for c in df.columns]
    cells = pd.DataFrame([[escape_cell(format_value(v, float_format)) for v in row]
                          for row in df.itertuples(index=False, name=None)],
                         columns=[escape_cell(c) for c in columns])
    if cells.empty:
        cells = pd.DataFrame(columns=[escape_cell(c) for c in columns])
    return cells.to_markdown(index=False, tablefmt="pipe", colalign=align, disable_numparse=True) + "\n"
