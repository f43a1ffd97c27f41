"""Assembly of ``results/<profile>/REPORT.md`` from the studies' result files.

``build_report`` reads the run-level ``run.json`` (written by the runner) and, for each study
of ``notebooks/studies.yaml``, its ``run.json`` and ``metrics.json`` (written by
:class:`lmle_core.reporting.StudyReport`), inlines the Markdown tables, links the CSVs and
figures, and writes the report atomically with local paths removed.
"""

from __future__ import annotations

import json
import numbers
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from lmle_core.atomic_io import read_json, write_text_atomic
from lmle_core.markdown import _escape_cell, format_value
from lmle_core.provenance import REPO_ROOT, _now, git_commit, hardware_summary, sanitize_text

__all__ = ["build_report"]


def _slug(title: str, used: dict[str, int]) -> str:
    """GitHub's heading anchor for ``title``; duplicates get ``-1``, ``-2``..."""
    s = title.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s, flags=re.UNICODE)
    s = s.replace(" ", "-")
    n = used.get(s, 0)
    used[s] = n + 1
    return s if n == 0 else f"{s}-{n}"


def _fmt_seconds(s: Any) -> str:
    if s is None:
        return "n/a"
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _hardware_line(hw: Mapping[str, Any] | None) -> str:
    if not hw:
        return "unknown"
    parts = [f"{hw.get('cpu', 'unknown CPU')} ({hw.get('logical_cores', '?')} logical cores)"]
    if hw.get("ram_gb") is not None:
        parts.append(f"{hw['ram_gb']} GB RAM")
    gpus = hw.get("cuda_gpus") or []
    if gpus:
        counts: dict[str, int] = {}
        for g in gpus:
            counts[g] = counts.get(g, 0) + 1
        gpu = ", ".join(f"{n} x {g}" if n > 1 else g for g, n in counts.items())
        parts.append(f"GPU: {gpu}" + (f" (CUDA {hw['cuda']})" if hw.get("cuda") else ""))
    else:
        parts.append("no GPU")
    sw = []
    if hw.get("python"):
        sw.append(f"Python {hw['python']}")
    if hw.get("torch"):
        sw.append(f"torch {hw['torch']}")
    if hw.get("faiss"):
        sw.append(f"faiss {hw['faiss']}")
    if hw.get("os"):
        sw.append(str(hw["os"]))
    return "; ".join(parts) + ("; " + ", ".join(sw) if sw else "")


def _counts_text(counts: Mapping[str, Any]) -> str:
    out = []
    for k, v in counts.items():
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            out.append(f"{k} {int(v):,}")
        else:
            out.append(f"{k} {format_value(v)}")
    return ", ".join(out) if out else "n/a"


def _study_status(run: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None) -> str:
    if not run:
        return "not run"
    status = str(run.get("status", "unknown"))
    if status == "ok" and metrics and metrics.get("skipped"):
        return "ok (partly skipped)"
    return status


def _section(label: str, body: Sequence[str], header: Sequence[str] = ()) -> list[str]:
    """``label:``, a blank line, ``header`` and ``body`` lines, a blank line; nothing when ``body`` is empty."""
    return [f"{label}:", "", *header, *body, ""] if body else []


def build_report(results_profile_dir: os.PathLike | str, studies: Sequence[Mapping[str, Any]],
                 profile: str) -> Path:
    """Write ``<results_profile_dir>/REPORT.md`` from the studies' ``run.json`` / ``metrics.json``.

    ``studies``: the entries of ``notebooks/studies.yaml`` in order (``name``, ``title``,
    ``paper_item``, ``notebook``). The run-level ``run.json`` (written by the runner) supplies
    the hardware, commit and dates; studies without results are listed as "not run".
    No local absolute path is written (data root, repository and home are replaced).
    """
    root = Path(results_profile_dir)
    root.mkdir(parents=True, exist_ok=True)
    run_info = read_json(root / "run.json") or {}
    hardware = run_info.get("hardware") or hardware_summary()
    commit = run_info.get("git_commit") or git_commit(REPO_ROOT)
    finished = run_info.get("finished") or _now()
    san = lambda t: sanitize_text(t) if isinstance(t, str) else t  # noqa: E731

    entries = []
    used: dict[str, int] = {}
    for study in studies:
        name = str(study["name"])
        title = str(study.get("title") or name)
        sdir = root / name
        run = read_json(sdir / "run.json")
        metrics = read_json(sdir / "metrics.json")
        entries.append((study, name, title, _slug(title, used), run, metrics, sdir))

    L: list[str] = []
    L.append(f"# LMLE-kNN / CRL reproducibility study: results ({profile} profile)")
    L.append("")
    L.append("Written by `run_all.sh`; do not edit by hand.")
    L.append("")
    L.append(f"- Profile: `{profile}`")
    L.append(f"- Date: {str(finished)[:19].replace('T', ' ')}")
    if run_info.get("started") and run_info.get("wall_s") is not None:
        L.append(f"- Run wall time: {_fmt_seconds(run_info['wall_s'])}")
    L.append(f"- Git commit: `{commit}`")
    L.append(f"- Hardware: {san(_hardware_line(hardware))}")
    if run_info.get("only"):
        L.append(f"- This run executed only: {', '.join(map(str, run_info['only']))} "
                 "(other sections are from earlier runs, see their dates)")
    L.append("")

    if not entries:
        L.append("No studies are defined yet (`notebooks/studies.yaml` is empty).")
        L.append("")
    else:
        L.append("## Summary")
        L.append("")
        L.append("| study | paper item | status | wall time |")
        L.append("| :--- | :--- | :--- | ---: |")
        for study, name, title, slug, run, metrics, _ in entries:
            status = _study_status(run, metrics)
            wall = _fmt_seconds(run.get("wall_s")) if run and run.get("wall_s") is not None else "n/a"
            L.append(f"| [{_escape_cell(title)}](#{slug}) | {_escape_cell(str(study.get('paper_item', '') or ''))} "
                     f"| {status} | {wall} |")
        L.append("")

    for study, name, title, slug, run, metrics, sdir in entries:
        L.append(f"## {title}")
        L.append("")
        status = _study_status(run, metrics)
        L.append(f"- Study: `{name}` (notebook `{study.get('notebook', '')}`)")
        if study.get("paper_item"):
            L.append(f"- Paper item: {study['paper_item']}")
        L.append(f"- Status: **{status}**")
        if run:
            if run.get("wall_s") is not None:
                L.append(f"- Wall time: {_fmt_seconds(run['wall_s'])}")
            if run.get("finished"):
                L.append(f"- Finished: {str(run['finished'])[:19].replace('T', ' ')}")
        if metrics:
            if metrics.get("git_commit") and metrics["git_commit"] != commit:
                L.append(f"- Git commit of this study's run: `{metrics['git_commit']}`")
            if metrics.get("hardware") and _hardware_line(metrics["hardware"]) != _hardware_line(hardware):
                L.append(f"- Hardware of this study's run: {san(_hardware_line(metrics['hardware']))}")
        L.append("")

        if run and run.get("status") == "failed":
            L.append("Error:")
            L.append("")
            L.append("```")
            L.append(san(str(run.get("error") or "unknown error")))
            L.append("```")
            L.append("")
        if run and run.get("status") == "skipped":
            reason = san(str(run.get("reason") or run.get("error") or "required data missing")).splitlines()
            L.append(f"Skipped: {reason[0]}")
            L.append("")
            if len(reason) > 1:
                L.extend(reason[1:])
                L.append("")
            cmds = [san(c) for c in (run.get("download_commands") or []) if c]
            if cmds:
                L.append("To get the data:")
                L.append("")
                L.append("```")
                L.extend(cmds)
                L.append("```")
                L.append("")
        if not run:
            L.append("This study has not been run with this profile yet.")
            L.append("")
        if not metrics:
            if run and run.get("status") == "ok":
                L.append("The notebook recorded no results (no `StudyReport`).")
                L.append("")
            continue

        for reason in metrics.get("skipped") or []:
            L.append(f"> Part of this study was skipped: {san(reason)}")
            L.append("")

        data = metrics.get("data_used") or []
        L.extend(_section("Data used", [
            f"| {_escape_cell(san(d.get('dataset', '')))} | {_escape_cell(_counts_text(d.get('counts') or {}))} "
            f"| {_escape_cell(san(d.get('note') or ''))} |" for d in data],
            header=["| dataset | images / items | note |", "| :--- | :--- | :--- |"]))

        for t in metrics.get("tables") or []:
            tname = t["name"]
            md_path = sdir / t.get("markdown", f"tables/{tname}.md")
            csv_rel = t.get("csv", f"tables/{tname}.csv")
            caption = san(t.get("caption") or tname)
            L.append(f"**Table {tname}.** {caption} ([csv]({name}/{csv_rel}))")
            L.append("")
            try:
                L.append(san(md_path.read_text(encoding="utf-8")).rstrip("\n"))
            except OSError:
                L.append("_(table file missing)_")
            L.append("")

        for fig in metrics.get("figures") or []:
            fname = fig["name"]
            caption = san(fig.get("caption") or fname)
            rel = name + "/" + fig.get("path", f"figures/{fname}.png")
            L.append(f"![{_escape_cell(caption)}]({rel})")
            L.append("")
            L.append(f"*Figure {fname}.* {caption}")
            L.append("")

        notes = metrics.get("notes") or []
        L.extend(_section("Notes", [f"- {san(n)}" for n in notes]))

        extra = metrics.get("metrics") or {}
        values = {k: json.dumps(v) if isinstance(v, (list, dict)) else format_value(v) for k, v in extra.items()}
        L.extend(_section("Metrics", [f"| {_escape_cell(k)} | {_escape_cell(san(v))} |" for k, v in values.items()],
                          header=["| metric | value |", "| :--- | ---: |"]))
        timings = metrics.get("timings") or {}
        L.extend(_section("Timings", [f"| {_escape_cell(k)} | {format_value(v, '.2f')} |" for k, v in timings.items()],
                          header=["| step | seconds |", "| :--- | ---: |"]))

    text = "\n".join(L).rstrip("\n") + "\n"
    return write_text_atomic(root / "REPORT.md", sanitize_text(text))
