"""Provenance of a run: hardware, git commit, timestamps, and scrubbing local paths.

``hardware_summary`` and ``git_commit`` describe where and from what code results were made;
``sanitize_text`` removes local absolute paths (data root, repository, home, any other) so
that none reaches a report or a ``run.json``.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any, Mapping

__all__ = ["REPO_ROOT", "hardware_summary", "git_commit", "sanitize_text"]

#: The repository (or installed site) directory that holds the ``lmle_core`` package.
REPO_ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------------
# Hardware and git
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


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Paths never reach a report
# ----------------------------------------------------------------------------------------------
_ABS_PATH_RE = re.compile(r"(?<![\w.:/~<>\-])(?:/[\w.+@%=,\-]+){2,}/?")


def sanitize_text(text: str, replacements: Mapping[str, str] | None = None, other_paths: bool = True) -> str:
    """Remove local absolute paths from ``text``.

    ``replacements`` maps known roots (e.g. the data root) to placeholders (``<data_root>``);
    the repository and home directories become ``<repo>`` and ``~``; with ``other_paths`` any
    other absolute path with two or more components is shortened to ``<path>/<last component>``
    (off for HTML pages, whose embedded base64 images contain slashes).
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
    if not other_paths:
        return text
    return _ABS_PATH_RE.sub(lambda m: "<path>/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)

