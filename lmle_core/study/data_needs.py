"""What data a study needs and what the data root holds: the runner's checks before a study starts.

``check_dataset`` is :func:`lmle_core.data.availability.check_dataset`, imported lazily (it reads the
data folder; the tests replace it here).
"""
from __future__ import annotations

import os
from typing import Any

from lmle_core.data.paths import locate_data_root

__all__ = ["check_dataset", "data_root_line", "data_status", "describe_data_root", "resolve_data_root"]


def check_dataset(name: str, data_root: str):
    """``lmle_core.data.availability.check_dataset`` (imported lazily; tests replace this)."""
    from lmle_core.data.availability import check_dataset as _check

    return _check(name, data_root)


def data_status(study: dict, data_root: str) -> tuple[bool, str, list[str]]:
    """(satisfied, reason when not, download commands) for the study's ``requires``.

    The reason's first line names the missing alternatives; one line per missing dataset follows
    (the first line of its availability message).
    """
    requires = study["requires"]
    if not requires:
        return True, "", []
    cache: dict[str, Any] = {}
    missing_by_alt, commands = [], []
    for alt in requires:
        missing = []
        for ds in alt:
            if ds not in cache:
                cache[ds] = check_dataset(ds, data_root)
            st = cache[ds]
            if not getattr(st, "available", False):
                missing.append((ds, st))
        if not missing:
            return True, "", []
        missing_by_alt.append((alt, missing))
    details: dict[str, str] = {}
    for alt, missing in missing_by_alt:
        for ds, st in missing:
            msg = str(getattr(st, "message", "") or "").strip().splitlines()
            first = msg[0].strip() if msg else "not available"
            while first.startswith(f"{ds}:"):  # "celeba: missing ..." -> "missing ..."
                first = first[len(ds) + 1:].strip()
            details.setdefault(ds, first or "not available")
            cmd = getattr(st, "download_command", None)
            if cmd and str(cmd) not in commands:
                commands.append(str(cmd))
    alts = [" + ".join(alt) for alt, _ in missing_by_alt]
    head = f"required data not available: {alts[0]}" if len(alts) == 1 else \
        "required data not available: needs one of " + " | ".join(alts)
    reason = "\n".join([head] + [f"- {ds}: {msg}" for ds, msg in details.items()])
    return False, reason, commands


def describe_data_root(given: str, source: str, path: str) -> dict:
    """The data root as the user gave it, whether it exists, and which datasets it holds."""
    from lmle_core.data.availability import DATASET_NAMES

    exists = os.path.isdir(path)
    is_file = os.path.exists(path) and not exists
    found = []
    if exists:
        for name in DATASET_NAMES:
            try:
                if check_dataset(name, path).available:
                    found.append(name)
            except Exception:  # noqa: BLE001 -- a broken dataset is reported by its study
                pass
    return {"given": given, "source": source, "exists": exists, "is_file": is_file, "datasets": found}


def data_root_line(info: dict) -> str:
    where = f"{info['given']} ({info['source']})"
    if info.get("is_file"):
        return (f"data root {where} is a file, not a folder: studies that need data are skipped and keep "
                f"their earlier results")
    if not info["exists"]:
        return (f"data root {where} DOES NOT EXIST: studies that need data are skipped and keep their "
                f"earlier results")
    found = ", ".join(info["datasets"]) or "none of the datasets"
    return f"data root {where}: holds {found}"


def resolve_data_root(arg: str | None) -> tuple[str, str, str]:
    """(as given, where it came from, absolute path): notebooks run in notebooks/, so they get the absolute one."""
    given, source, path = locate_data_root(arg, argument="--data-root")
    return given, source, str(path)
