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

import pandas as pd

from lmle_core.study.atomic_io import read_json, write_text_atomic
from lmle_core.study.markdown import escape_cell, format_value, markdown_table
from lmle_core.study.provenance import REPO_ROOT, now_iso, git_commit, hardware_summary, sanitize_text

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


def _this_run(run_info: Mapping[str, Any], name: str) -> dict | None:
    """This run's record of study ``name`` (older run.json files stored only the status)."""
    rec = (run_info.get("studies") or {}).get(name)
    if rec is None:
        return None
    return dict(rec) if isinstance(rec, Mapping) else {"status": str(rec)}


def _status_text(record: Mapping[str, Any] | None) -> str:
    if not record:
        return "not run"
    status = str(record.get("status", "unknown"))
    if status == "ok" and record.get("partial"):
        return "ok, " + " ".join(str(record["partial"][0]).split())
    return status


def _date(text: Any) -> str:
    return str(text)[:16].replace("T", " ") if text else "unknown date"


def _data_root_lines(info: Mapping[str, Any] | None, given: str | None) -> list[str]:
    if not info and not given:
        return []
    info = info or {}
    where = f"`{given}`" if given else "(path not recorded)"
    source = f" ({info['source']})" if info.get("source") else ""
    if info.get("is_file"):
        return [f"- Data root: {where}{source} **is a file, not a folder**: every study that needs data was skipped "
                "and kept its earlier results"]
    if info.get("exists") is False:
        return [f"- Data root: {where}{source} **does not exist**: every study that needs data was skipped "
                "and kept its earlier results"]
    found = ", ".join(info.get("datasets") or []) or "none of the datasets"
    return [f"- Data root: {where}{source}, holding {found}"]


def _run_lines(this: Mapping[str, Any] | None, kept: Mapping[str, Any] | None, run_date: str) -> list[str]:
    """What happened to a study in this run, and where its results come from."""
    lines = []
    if this is None:
        lines.append("- Not run this time" + (f"; the results below are from the run of {_date(kept.get('finished'))}"
                                               if kept else "; no results yet"))
        return lines
    lines.append(f"- Status in this run ({run_date}): **{_status_text(this)}**")
    if this.get("wall_s") is not None:
        lines.append(f"- Wall time: {_fmt_seconds(this['wall_s'])}")
    if this.get("status") != "ok":
        if kept:
            lines.append(f"- The results below are the last good ones, from the run of {_date(kept.get('finished'))} "
                         f"(they were kept: a skipped, failed or interrupted study never replaces its results)")
        else:
            lines.append("- No earlier results of this study exist with this profile")
    return lines


def _parameter_lines(kept: Mapping[str, Any] | None) -> list[str]:
    """The profile and parameters the results below were made with (their study's ``run.json``)."""
    if not kept:
        return []
    if "parameters" not in kept:
        return ["- Parameters: not recorded (these results were made before run.json recorded them)"]
    ran = f"- Made with profile `{kept.get('profile', '?')}`"
    if kept.get("profile_file"):
        ran += f" (`notebooks/{kept['profile_file']}`)"
    cli = kept.get("command_line") or {}
    ran += (f"; given on the command line: `{_json(cli)}`" if cli else "; nothing given on the command line")
    return [ran, f"- Parameters: `{_json(kept.get('parameters') or {})}`"]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _common_command_line(kept_records: Sequence[Mapping[str, Any] | None]) -> dict | None:
    """The command-line parameters every section's results were made with, when they agree."""
    records = [k for k in kept_records if k]
    if not records or any("command_line" not in k for k in records):
        return None
    texts = {json.dumps(k.get("command_line") or {}, sort_keys=True) for k in records}
    return json.loads(texts.pop()) if len(texts) == 1 else None


def build_report(results_profile_dir: os.PathLike | str, studies: Sequence[Mapping[str, Any]],
                 profile: str, data_root_given: str | None = None) -> Path:
    """Write ``<results_profile_dir>/REPORT.md`` from the run's and the studies' JSON files.

    ``studies``: the entries of ``notebooks/studies.yaml`` in order (``name``, ``title``,
    ``paper_item``, ``notebook``). The run-level ``run.json`` (written by the runner) gives this
    run's hardware, commit, data root and every study's status in it; each study folder's
    ``run.json`` / ``metrics.json`` describe the run that produced the results kept there.
    ``data_root_given``: the data root as the user gave it (shown once in the header).
    No local absolute path is written (data root, repository and home are replaced).
    """
    root = Path(results_profile_dir)
    root.mkdir(parents=True, exist_ok=True)
    run_info = read_json(root / "run.json") or {}
    hardware = run_info.get("hardware") or hardware_summary()
    commit = run_info.get("git_commit") or git_commit(REPO_ROOT)
    finished = run_info.get("finished") or now_iso()
    run_date = _date(finished)
    san = lambda t: sanitize_text(t) if isinstance(t, str) else t  # noqa: E731

    entries = []
    used: dict[str, int] = {}
    for study in studies:
        name = str(study["name"])
        title = str(study.get("title") or name)
        sdir = root / name
        kept = read_json(sdir / "run.json")
        metrics = read_json(sdir / "metrics.json")
        entries.append((study, name, title, _slug(title, used), _this_run(run_info, name), kept, metrics, sdir))

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
    L.extend(san(line) for line in _data_root_lines(run_info.get("data_root"), data_root_given))
    if run_info.get("only"):
        L.append(f"- This run executed only: {', '.join(map(str, run_info['only']))} "
                 "(other sections are from earlier runs, see their dates)")
    common = _common_command_line([kept for *_, kept, _m, _d in entries])
    if common:  # else each section says what its results were made with
        L.append(f"- Parameters given on the command line (the same for every section): `{san(_json(common))}`")
    L.append("")

    if not entries:
        L.append("No studies are defined yet (`notebooks/studies.yaml` is empty).")
        L.append("")
    else:
        L.append("## Summary")
        L.append("")
        L.append("| study | paper item | status in this run | results from | wall time |")
        L.append("| :--- | :--- | :--- | :--- | ---: |")
        for study, name, title, slug, this, kept, metrics, _ in entries:
            status = _status_text(this) if this else "not run"
            source = _date(kept.get("finished")) if kept else "none"
            wall = _fmt_seconds(kept.get("wall_s")) if kept and kept.get("wall_s") is not None else "n/a"
            L.append(f"| [{escape_cell(title)}](#{slug}) | {escape_cell(str(study.get('paper_item', '') or ''))} "
                     f"| {escape_cell(san(status))} | {source} | {wall} |")
        L.append("")

    for study, name, title, slug, this, kept, metrics, sdir in entries:
        L.append(f"## {title}")
        L.append("")
        L.append(f"- Study: `{name}` (notebook `{study.get('notebook', '')}`)")
        if (sdir / "notebook.html").is_file():
            L.append(f"- Executed notebook (every printed line and figure of the run): "
                     f"[{name}/notebook.html]({name}/notebook.html)")
        if study.get("paper_item"):
            L.append(f"- Paper item: {study['paper_item']}")
        L.extend(_run_lines(this, kept, run_date))
        if kept and kept.get("finished"):
            L.append(f"- Results from: {_date(kept['finished'])}, wall time {_fmt_seconds(kept.get('wall_s'))}")
        L.extend(san(line) for line in _parameter_lines(kept))
        if metrics:
            if metrics.get("git_commit") and metrics["git_commit"] != commit:
                L.append(f"- Git commit of these results: `{metrics['git_commit']}`")
            if metrics.get("hardware") and _hardware_line(metrics["hardware"]) != _hardware_line(hardware):
                L.append(f"- Hardware of these results: {san(_hardware_line(metrics['hardware']))}")
        L.append("")

        if this and this.get("status") == "failed":
            L.append("Error in this run:")
            L.append("")
            L.append("```")
            L.append(san(str(this.get("error") or "unknown error")))
            L.append("```")
            L.append("")
        if this and this.get("status") == "interrupted":
            L.append(f"Interrupted in this run ({san(str(this.get('error') or 'interrupted'))}); nothing of that run "
                     f"was kept.")
            L.append("")
        if this and this.get("status") == "skipped":
            reason = san(str(this.get("reason") or this.get("error") or "required data missing")).splitlines()
            L.append(f"Skipped in this run: {reason[0]}")
            L.append("")
            if len(reason) > 1:
                L.extend(reason[1:])
                L.append("")
            cmds = [san(c) for c in (this.get("download_commands") or []) if c]
            if cmds:
                L.append("To get the data:")
                L.append("")
                L.append("```")
                L.extend(cmds)
                L.append("```")
                L.append("")
        if not metrics:
            if kept and kept.get("status") == "ok":
                L.append("The notebook recorded no results (no `StudyReport`).")
                L.append("")
            continue

        for reason in metrics.get("skipped") or []:
            lines = san(str(reason)).splitlines() or [""]
            L.append(f"> Part of this study was skipped: {lines[0]}")
            L.extend(f"> {line}" for line in lines[1:])  # every line quoted: the block stays one quote
            L.append("")

        data = metrics.get("data_used") or []
        if data:
            L.extend(["Data used:", "", markdown_table(pd.DataFrame(
                {"dataset": [san(d.get("dataset", "")) for d in data],
                 "images / items": [_counts_text(d.get("counts") or {}) for d in data],
                 "note": [san(d.get("note") or "") for d in data]})).rstrip("\n"), ""])

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
            L.append(f"![{escape_cell(caption)}]({rel})")
            L.append("")
            L.append(f"*Figure {fname}.* {caption}")
            L.append("")

        notes = metrics.get("notes") or []
        if notes:
            L.extend(["Notes:", ""] + [f"- {' '.join(san(n).split())}" for n in notes] + [""])

        extra = metrics.get("metrics") or {}
        if extra:
            values = [json.dumps(v) if isinstance(v, (list, dict)) else format_value(v) for v in extra.values()]
            L.extend(["Metrics:", "", markdown_table(pd.DataFrame(
                {"metric": list(extra), "value": [san(v) for v in values]})).rstrip("\n"), ""])
        timings = metrics.get("timings") or {}
        if timings:
            L.extend(["Timings:", "", markdown_table(pd.DataFrame(
                {"step": list(timings), "seconds": [float(v) for v in timings.values()]}),
                float_format=".2f").rstrip("\n"), ""])

    text = "\n".join(L).rstrip("\n") + "\n"
    return write_text_atomic(root / "REPORT.md", sanitize_text(text))
