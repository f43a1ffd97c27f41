"""What a notebook records: one study's results directory.

Inside a notebook::

    from lmle_core.study import StudyReport, compare_with_paper, paper_table
    rep = StudyReport(results_dir, title="MNIST imbalance control")
    rep.data_used("MNIST-rot-back-image (regenerated)", {"train": 12000, "test": 50000})
    rep.table("table5", compare_with_paper(ours, paper_table("lmle_table5_mnist"), on="method",
                                           columns=["remove_0"]), caption="Table 5 ...")
    rep.figure("curves", fig, caption="...")
    rep.note("Deviation from the paper: ...")
    rep.save()

Layout of one study's results directory (``results/<profile>/<study>/``)::

    metrics.json          everything below, with captions and relative paths
    tables/<name>.csv     full precision
    tables/<name>.md      Markdown, as inlined in REPORT.md
    figures/<name>.png
    run.json              written by the runner (status, wall time, error)

``build_report`` (in :mod:`lmle_core.study.report_builder`) assembles ``results/<profile>/REPORT.md``
from those files. Every write is atomic (:mod:`lmle_core.study.atomic_io`), so a reader never
sees a half-written file. This module is the notebook-facing API: ``StudyReport`` and
``compare_with_paper``; it also re-exports the Markdown, provenance, JSON / atomic-write helpers
and ``build_report`` (every name in ``__all__``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from lmle_core.study.atomic_io import atomic_write, json_default, read_json, write_json_atomic, write_text_atomic
from lmle_core.study.markdown import frame_for_output, format_value, markdown_table
from lmle_core.study.provenance import REPO_ROOT, now_iso, git_commit, hardware_summary, sanitize_text
from lmle_core.study.report_builder import build_report

__all__ = [
    "StudyReport",
    "compare_with_paper",
    "markdown_table",
    "format_value",
    "hardware_summary",
    "git_commit",
    "build_report",
    "read_json",
    "write_json_atomic",
    "write_text_atomic",
    "sanitize_text",
    "REPO_ROOT",
]


# ----------------------------------------------------------------------------------------------
# Comparison with the papers' numbers
# ----------------------------------------------------------------------------------------------
def compare_with_paper(ours: pd.DataFrame, paper: pd.DataFrame, on: str | Sequence[str],
                       columns: str | Sequence[str] | Mapping[str, str],
                       ours_label: str = "ours", paper_label: str = "paper") -> pd.DataFrame:
    """Our numbers beside the paper's.

    Joins on the key column(s) ``on`` and, for each value column ``c`` of ``columns``, gives
    ``"c (ours)"``, ``"c (paper)"`` and ``"c diff"`` (ours - paper). ``columns`` may also be a
    mapping ``{our column: paper column}`` when the names differ (the output uses our name).
    Rows present on one side only are kept, with NaN on the other; our rows come first in
    our order, then the paper's remaining rows in the paper's order.
    """
    keys = [on] if isinstance(on, str) else list(on)
    if isinstance(columns, str):
        mapping = {columns: columns}
    elif isinstance(columns, Mapping):
        mapping = dict(columns)
    else:
        mapping = {c: c for c in columns}
    for k in keys:
        if k not in ours.columns or k not in paper.columns:
            raise KeyError(f"key column {k!r} must be in both frames "
                           f"(ours: {list(ours.columns)}, paper: {list(paper.columns)})")
    missing_ours = [c for c in mapping if c not in ours.columns]
    missing_paper = [c for c in mapping.values() if c not in paper.columns]
    if missing_ours or missing_paper:
        raise KeyError(f"value columns missing: ours {missing_ours}, paper {missing_paper}")

    o = ours[keys + list(mapping)].rename(columns={c: f"{c} ({ours_label})" for c in mapping})
    p = paper[keys + list(mapping.values())].rename(
        columns={pc: f"{oc} ({paper_label})" for oc, pc in mapping.items()})
    left = o.merge(p, on=keys, how="left", sort=False)
    key_ours = set(map(tuple, o[keys].astype(object).itertuples(index=False, name=None)))
    paper_only = p[[tuple(r) not in key_ours for r in p[keys].astype(object).itertuples(index=False, name=None)]]
    if len(paper_only):
        frames = [f for f in (left, paper_only) if len(f)]
        merged = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else paper_only.copy()
    else:
        merged = left
    out = merged[keys].copy()
    for c in mapping:
        oc, pc = f"{c} ({ours_label})", f"{c} ({paper_label})"
        out[oc] = merged[oc]
        out[pc] = merged[pc]
        a = pd.to_numeric(merged[oc], errors="coerce").astype(float)
        b = pd.to_numeric(merged[pc], errors="coerce").astype(float)
        out[f"{c} diff"] = a - b
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# StudyReport: what a notebook records
# ----------------------------------------------------------------------------------------------
def _safe_name(name: str) -> str:
    name = str(name).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise ValueError(f"invalid name {name!r}: use letters, digits, '_', '-', '.' (it becomes a file name)")
    return name


def _in_ipython_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class StudyReport:
    """Collects one study's tables, figures, data description, notes, metrics and timings.

    Every recording call writes its file(s) and ``metrics.json`` at once, so a notebook that
    fails later still leaves what it made. Tables and figures are also shown in the notebook
    (``display=True``, only when running in a Jupyter kernel).
    """

    def __init__(self, results_dir: os.PathLike | str, title: str | None = None, *,
                 profile: str | None = None, display: bool = True):
        self.results_dir = Path(results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.profile = profile if profile is not None else self.results_dir.resolve().parent.name
        self.display = display
        self.tables: list[dict] = []
        self.figures: list[dict] = []
        self.data: list[dict] = []
        self.notes: list[str] = []
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.skipped: list[str] = []
        self.created = now_iso()
        from lmle_core.study.plots import use_style

        use_style()
        self.hardware = hardware_summary()
        self.commit = git_commit(REPO_ROOT)
        self.save()

    # -- helpers ------------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.results_dir / "metrics.json"

    def _show(self, obj: Any) -> None:
        if self.display and _in_ipython_kernel():
            from IPython.display import display

            display(obj)

    @staticmethod
    def _upsert(items: list[dict], entry: dict) -> None:
        for i, item in enumerate(items):
            if item["name"] == entry["name"]:
                items[i] = entry
                return
        items.append(entry)

    # -- recording ----------------------------------------------------------------------------
    def table(self, name: str, df: pd.DataFrame, caption: str = "",
              float_format: str | Callable[[float], str] | None = None, index: bool | None = None) -> None:
        """Write ``tables/<name>.csv`` (full precision) and ``tables/<name>.md`` (formatted)."""
        name = _safe_name(name)
        if not isinstance(df, pd.DataFrame):
            df = pd.DataFrame(df)
        out = frame_for_output(df, index)
        csv_rel = f"tables/{name}.csv"
        md_rel = f"tables/{name}.md"
        write_text_atomic(self.results_dir / csv_rel, out.to_csv(index=False))
        write_text_atomic(self.results_dir / md_rel, markdown_table(out, float_format=float_format, index=False))
        self._upsert(self.tables, {"name": name, "caption": caption, "csv": csv_rel, "markdown": md_rel,
                                   "rows": int(len(out)), "columns": [str(c) for c in out.columns]})
        self.save()
        self._show(df)

    def figure(self, name: str, fig: Any, caption: str = "", dpi: int = 120) -> None:
        """Save ``figures/<name>.png`` (dpi 120, tight bounding box), then close the figure."""
        name = _safe_name(name)
        rel = f"figures/{name}.png"
        self._show(fig)
        try:
            atomic_write(self.results_dir / rel, lambda p: fig.savefig(p, format="png", dpi=dpi, bbox_inches="tight"))
        finally:
            try:
                import matplotlib.pyplot as plt

                plt.close(fig)
            except Exception:  # noqa: BLE001
                pass
        self._upsert(self.figures, {"name": name, "caption": caption, "path": rel})
        self.save()

    def data_used(self, dataset: str, counts: Mapping[str, Any], note: str = "") -> None:
        """Record a dataset and how many items of each split were used (no local paths)."""
        entry = {"name": str(dataset), "dataset": str(dataset),
                 "counts": {str(k): json_default(v) if not isinstance(v, (int, float, str)) else v
                            for k, v in dict(counts).items()},
                 "note": note}
        self._upsert(self.data, entry)
        self.save()

    def note(self, text: str) -> None:
        """Short prose for the report, e.g. a deviation from the paper's protocol."""
        self.notes.append(str(text))
        self.save()

    def metric(self, name: str, value: Any) -> None:
        self.metrics[str(name)] = value
        self.save()

    def timing(self, name: str, seconds: float) -> None:
        self.timings[str(name)] = float(seconds)
        self.save()

    def skip(self, reason: str) -> None:
        """This study could not run part of its work (e.g. an optional dataset is missing)."""
        self.skipped.append(str(reason))
        self.save()

    # -- output -------------------------------------------------------------------------------
    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "profile": self.profile,
            "git_commit": self.commit,
            "hardware": self.hardware,
            "created": self.created,
            "updated": now_iso(),
            "tables": self.tables,
            "figures": self.figures,
            "data_used": self.data,
            "notes": self.notes,
            "metrics": self.metrics,
            "timings": self.timings,
            "skipped": self.skipped,
        }

    def save(self) -> Path:
        """Write ``metrics.json`` atomically (called by every recording method)."""
        return write_json_atomic(self.metrics_path, self.as_dict())

    def __repr__(self) -> str:
        return (f"StudyReport({self.title or self.results_dir.name!r}, tables={len(self.tables)}, "
                f"figures={len(self.figures)})")

