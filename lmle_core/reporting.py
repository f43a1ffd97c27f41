"""The one module that writes results.

Inside a notebook::

    from lmle_core.reporting import StudyReport, compare_with_paper
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

``build_report`` assembles ``results/<profile>/REPORT.md`` from those files.
Every write goes to a temporary name in the same directory and is moved into
place with ``os.replace``, so a reader never sees a half-written file.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

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

#: The repository (or installed site) directory that holds the ``lmle_core`` package.
REPO_ROOT = Path(__file__).resolve().parent.parent

_TMP_PREFIX = ".tmp-"


# ----------------------------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------------------------
def _tmp_path(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", dir=str(path.parent))
    os.close(fd)
    return Path(name)


def _atomic_write(path: os.PathLike | str, writer: Callable[[Path], None]) -> Path:
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
    return _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(obj: Any) -> Any:
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
    text = json.dumps(_clean_floats(json.loads(json.dumps(data, default=_json_default))), indent=2,
                      ensure_ascii=False)
    return write_text_atomic(path, text + "\n")


def read_json(path: os.PathLike | str) -> dict | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None


# ----------------------------------------------------------------------------------------------
# Markdown tables
# ----------------------------------------------------------------------------------------------
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


def _escape_cell(text: str) -> str:
    text = str(text).replace("\r\n", "\n").replace("\n", " ")
    return text.replace("|", "\\|")


def _frame_for_output(df: pd.DataFrame, index: bool | None) -> pd.DataFrame:
    """Move a meaningful index into columns (``index=None``: only when it is not a plain RangeIndex)."""
    if index is None:
        index = not (isinstance(df.index, pd.RangeIndex) and df.index.name is None)
    if index:
        df = df.reset_index()
    return df


def markdown_table(df: pd.DataFrame, float_format: str | Callable[[float], str] | None = None,
                   index: bool | None = None) -> str:
    """Render ``df`` as a GitHub-flavoured Markdown table (no dependency on ``tabulate``).

    Numeric columns are right-aligned, others left-aligned; ``|`` in cells is escaped and
    newlines become spaces. ``float_format`` as in :func:`format_value`. ``index=None``
    shows the index only when it carries information (not an unnamed RangeIndex).
    """
    df = _frame_for_output(df, index)
    columns = [" / ".join(str(c) for c in col) if isinstance(col, tuple) else str(col) for col in df.columns]
    header = [_escape_cell(c) for c in columns]
    aligns = []
    for col in df.columns:
        series = df[col]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        aligns.append("---:" if numeric else ":---")
    rows = []
    for values in df.itertuples(index=False, name=None):
        rows.append([_escape_cell(format_value(v, float_format)) for v in values])
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(aligns) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


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
# Provenance: hardware and git
# ----------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                 text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def _ram_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 ** 2, 1)
    except (OSError, ValueError):
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3, 1)
    except (ValueError, OSError, AttributeError):
        return None


def hardware_summary() -> dict:
    """CPU model, logical cores, RAM (GB), OS, Python, torch / CUDA GPUs, faiss version."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        gpus = []
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                try:
                    gpus.append(torch.cuda.get_device_name(i))
                except Exception:  # noqa: BLE001 -- a broken device must not break a report
                    gpus.append("unknown CUDA device")
        info["cuda_gpus"] = gpus
        info["cuda"] = torch.version.cuda if gpus else None
    except Exception:  # noqa: BLE001
        info["torch"] = None
        info["cuda_gpus"] = []
    try:
        import faiss

        info["faiss"] = getattr(faiss, "__version__", "unknown")
    except Exception:  # noqa: BLE001
        info["faiss"] = None
    return info


def git_commit(repo_dir: os.PathLike | str | None = None) -> str:
    """Short commit hash of ``repo_dir`` (default: this repository), ``+dirty`` when tracked or
    untracked (not ignored) files differ from it (``results/`` excluded: runs write there);
    ``"unknown"`` outside git or before the first commit."""
    repo_dir = str(repo_dir or REPO_ROOT)

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", repo_dir, *args], capture_output=True, text=True, timeout=20)

    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown"
        commit = head.stdout.strip()
        status = git("status", "--porcelain", "--", ".", ":(exclude)results")
        if status.returncode == 0 and status.stdout.strip():
            commit += "+dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Paths never reach a report
# ----------------------------------------------------------------------------------------------
_ABS_PATH_RE = re.compile(r"(?<![\w.:/~<>\-])(?:/[\w.+@%=,\-]+){2,}/?")


def sanitize_text(text: str, replacements: Mapping[str, str] | None = None) -> str:
    """Remove local absolute paths from ``text``.

    ``replacements`` maps known roots (e.g. the data root) to placeholders (``<data_root>``);
    the repository and home directories become ``<repo>`` and ``~``; any other absolute path
    with two or more components is shortened to ``<path>/<last component>``.
    """
    if not text:
        return text
    text = str(text)
    pairs = dict(replacements or {})
    pairs.setdefault(str(REPO_ROOT), "<repo>")
    home = os.path.expanduser("~")
    if home and home not in ("/", "~"):
        pairs.setdefault(home, "~")
    expanded: dict[str, str] = {}
    for root, placeholder in pairs.items():
        if not root:
            continue
        expanded[str(root).rstrip("/") or "/"] = placeholder
        try:
            real = os.path.realpath(root)
            expanded.setdefault(real.rstrip("/"), placeholder)
        except OSError:
            pass
    for root in sorted(expanded, key=len, reverse=True):
        if root in ("/", ""):
            continue
        text = text.replace(root, expanded[root])
    return _ABS_PATH_RE.sub(lambda m: "<path>/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


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
        self.created = _now()
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
        out = _frame_for_output(df, index)
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
            _atomic_write(self.results_dir / rel, lambda p: fig.savefig(p, format="png", dpi=dpi, bbox_inches="tight"))
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
                 "counts": {str(k): _json_default(v) if not isinstance(v, (int, float, str)) else v
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
            "updated": _now(),
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


# ----------------------------------------------------------------------------------------------
# REPORT.md
# ----------------------------------------------------------------------------------------------
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
        if data:
            L.append("Data used:")
            L.append("")
            L.append("| dataset | images / items | note |")
            L.append("| :--- | :--- | :--- |")
            for d in data:
                L.append(f"| {_escape_cell(san(d.get('dataset', '')))} | {_escape_cell(_counts_text(d.get('counts') or {}))} "
                         f"| {_escape_cell(san(d.get('note') or ''))} |")
            L.append("")

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
        if notes:
            L.append("Notes:")
            L.append("")
            for n in notes:
                L.append(f"- {san(n)}")
            L.append("")

        extra = metrics.get("metrics") or {}
        if extra:
            L.append("Metrics:")
            L.append("")
            L.append("| metric | value |")
            L.append("| :--- | ---: |")
            for k, v in extra.items():
                val = json.dumps(v) if isinstance(v, (list, dict)) else format_value(v)
                L.append(f"| {_escape_cell(k)} | {_escape_cell(san(val))} |")
            L.append("")

        timings = metrics.get("timings") or {}
        if timings:
            L.append("Timings:")
            L.append("")
            L.append("| step | seconds |")
            L.append("| :--- | ---: |")
            for k, v in timings.items():
                L.append(f"| {_escape_cell(k)} | {format_value(v, '.2f')} |")
            L.append("")

    text = "\n".join(L).rstrip("\n") + "\n"
    return write_text_atomic(root / "REPORT.md", sanitize_text(text))
