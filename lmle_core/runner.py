"""Execute the study notebooks of a profile with papermill, then write REPORT.md.

    python -m lmle_core.runner --profile quick --data-root ./data [--only NAME[,NAME]] [--list]
                               [--results-root results] [--kernel lmle] [--notebooks-dir notebooks]

(``./run_all.sh`` bootstraps the environment and calls this.)

Reads ``<notebooks-dir>/studies.yaml`` (ordered list of studies: ``name``, ``notebook``,
``title``, ``paper_item``, ``requires``: a list of alternatives, each a list of dataset
names; ``[]`` = needs no data) and ``<notebooks-dir>/profiles/<profile>.yaml``
(``timeout_s``, ``parameters`` for every notebook, ``notebooks: {name: {param: value}}``).

For each selected study: when no alternative of ``requires`` is available the study is
``skipped`` (reason and download commands recorded, not executed); otherwise the notebook
runs in-process through papermill with the profile's parameters plus ``data_root``,
``results_dir`` and ``profile``; the executed copy goes to
``results/<profile>/notebooks/<notebook>``. A failure (exception in a cell, timeout, dead
kernel, ...) marks the study ``failed`` and the run goes on. Each study gets
``results/<profile>/<name>/run.json``; finally ``results/<profile>/REPORT.md`` is built.

Exit status: 0 all selected studies ok or skipped, 1 some failed, 2 usage / configuration error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from lmle_core import reporting

REPO_ROOT = reporting.REPO_ROOT
DEFAULT_NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_RESULTS_ROOT = REPO_ROOT / "results"
DEFAULT_KERNEL = "lmle"
INJECTED = ("data_root", "results_dir", "profile")

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ConfigError(Exception):
    """A usage or configuration problem (exit status 2)."""


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------
def _load_yaml(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {path} is not valid YAML: {e}") from None


def load_studies(notebooks_dir: Path) -> list[dict]:
    """The studies of ``studies.yaml``, validated and with defaults filled in."""
    path = notebooks_dir / "studies.yaml"
    raw = _load_yaml(path, "studies file")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: expected a list of studies, got {type(raw).__name__}")
    studies, seen = [], set()
    for i, entry in enumerate(raw):
        where = f"{path}: study #{i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with name, notebook, title, paper_item, requires")
        for key in ("name", "notebook"):
            if not entry.get(key):
                raise ConfigError(f"{where}: missing '{key}'")
        name = str(entry["name"])
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
            raise ConfigError(f"{where}: invalid name {name!r} (letters, digits, '_', '-', '.')")
        if name in seen:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        seen.add(name)
        requires = entry.get("requires") or []
        if not isinstance(requires, list) or not all(
                isinstance(alt, list) and alt and all(isinstance(d, str) for d in alt) for alt in requires):
            raise ConfigError(f"{where} ({name}): 'requires' must be a list of alternatives, each a non-empty "
                              f"list of dataset names, e.g. [[mnist_rot_back_image], [mnist, bsds500]]; "
                              f"got {requires!r}")
        studies.append({**entry, "name": name, "notebook": str(entry["notebook"]),
                        "title": str(entry.get("title") or name),
                        "paper_item": str(entry.get("paper_item") or ""), "requires": requires})
    return studies


def available_profiles(notebooks_dir: Path) -> list[str]:
    return sorted(p.stem for p in (notebooks_dir / "profiles").glob("*.yaml"))


def load_profile(notebooks_dir: Path, profile: str) -> dict:
    path = notebooks_dir / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        avail = available_profiles(notebooks_dir)
        raise ConfigError(f"profile file not found: {path} (profile {profile!r}; available: "
                          f"{', '.join(avail) if avail else 'none'})")
    raw = _load_yaml(path, "profile file") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with timeout_s, parameters, notebooks")
    params = raw.get("parameters") or {}
    per_nb = raw.get("notebooks") or {}
    if not isinstance(params, dict) or not isinstance(per_nb, dict) or \
            not all(isinstance(v, dict) or v is None for v in per_nb.values()):
        raise ConfigError(f"{path}: 'parameters' must be a mapping and 'notebooks' a mapping "
                          f"of study name -> mapping of parameters")
    timeout = raw.get("timeout_s")
    if timeout is not None:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: timeout_s must be a number of seconds or null") from None
        if timeout <= 0:
            timeout = None
    timeouts = raw.get("timeouts") or {}
    if not isinstance(timeouts, dict):
        raise ConfigError(f"{path}: 'timeouts' must be a mapping of study name -> seconds")
    try:
        timeouts = {str(k): (float(v) if v is not None and float(v) > 0 else None) for k, v in timeouts.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: 'timeouts' values must be numbers of seconds or null") from None
    for key in INJECTED:
        if key in params or any(key in (v or {}) for v in per_nb.values()):
            raise ConfigError(f"{path}: '{key}' is set by the runner; do not put it in a profile")
    return {"path": path, "timeout_s": timeout, "timeouts": timeouts, "parameters": params,
            "notebooks": {str(k): (v or {}) for k, v in per_nb.items()}}


def select_studies(studies: list[dict], only: Sequence[str] | None) -> list[dict]:
    if not only:
        return studies
    names = [s["name"] for s in studies]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ConfigError(f"unknown study name(s): {', '.join(unknown)}; valid names: "
                          f"{', '.join(names) if names else '(none: studies.yaml is empty)'}")
    wanted = set(only)
    return [s for s in studies if s["name"] in wanted]


# ----------------------------------------------------------------------------------------------
# Data availability
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Execution
# ----------------------------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """One short, readable description of a notebook failure."""
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        PapermillExecutionError = ()  # type: ignore[assignment]
    if isinstance(exc, PapermillExecutionError):
        tb = [_ANSI_RE.sub("", line).rstrip() for line in (exc.traceback or [])]
        tb = [line for line in "\n".join(tb).splitlines() if line.strip()]
        head = f"{exc.ename}: {exc.evalue}".strip()
        where = f" (cell {exc.exec_count})" if getattr(exc, "exec_count", None) is not None else ""
        lines = [f"{head}{where}"]
        last = tb[-1].strip() if tb else ""
        if last and last != head:
            lines.append(last)
        # The innermost source line that raised ("----> 12 x = f(y)"), when the traceback shows one.
        arrows = [line.strip() for line in tb if line.lstrip().startswith("--->")]
        if arrows and arrows[-1] not in lines:
            lines.append(arrows[-1])
        return "\n".join(lines)
    name = type(exc).__name__
    is_timeout = _is_timeout(exc)
    text = _ANSI_RE.sub("", str(exc)).strip()
    if is_timeout:
        return f"timeout: {name}: {text}" if text else f"timeout: {name}"
    return f"{name}: {text}" if text else name


def clear_study_dir(study_dir: Path) -> None:
    """Remove a study's previous outputs (keeping a ``cache/`` folder for reuse)."""
    if not study_dir.exists():
        return
    for child in study_dir.iterdir():
        if child.name == "cache":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _ensure_pythonpath() -> None:
    """Kernels started by papermill must import this ``lmle_core`` (it is not installed)."""
    root = str(REPO_ROOT)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([root] + parts)


def check_kernel(kernel: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        names = sorted(KernelSpecManager().find_kernel_specs())
        raise ConfigError(f"no Jupyter kernel named {kernel!r} (found: {', '.join(names) or 'none'}); "
                          f"run scripts/bootstrap.sh, which registers 'lmle', or pass --kernel NAME") from None


def run_study(study: dict, profile_name: str, profile: dict, data_root: str, results_profile_dir: Path,
              notebooks_dir: Path, kernel: str, replacements: dict[str, str]) -> dict:
    """Run (or skip) one study; write its run.json; return the record."""
    name = study["name"]
    study_dir = results_profile_dir / name
    study_dir.mkdir(parents=True, exist_ok=True)
    clear_study_dir(study_dir)
    nb_out = results_profile_dir / "notebooks" / Path(study["notebook"]).name
    if nb_out.is_file():
        nb_out.unlink()  # an executed copy from an earlier run must not pass for this one
    started = _now()
    t0 = time.perf_counter()
    record: dict[str, Any] = {"study": name, "notebook": study["notebook"], "profile": profile_name,
                              "status": None, "wall_s": 0.0, "error": None, "started": started,
                              "finished": None}
    try:
        ok, reason, commands = data_status(study, data_root)
    except Exception as e:  # noqa: BLE001 -- an unknown dataset name etc. fails this study only
        ok, reason, commands = None, f"dataset availability check failed: {describe_error(e)}", []
    if ok is None:
        record.update(status="failed", error=reason)
    elif not ok:
        record.update(status="skipped", reason=reason, download_commands=commands)
    else:
        nb_in = notebooks_dir / study["notebook"]
        nb_out.parent.mkdir(parents=True, exist_ok=True)
        params = dict(profile["parameters"])
        params.update(profile["notebooks"].get(name, {}))
        params.update(data_root=data_root, results_dir=str(study_dir.resolve()), profile=profile_name)
        timeout = profile["timeouts"].get(name, profile["timeout_s"])
        print(f"{study['name']}: executing {study['notebook']} ...", file=sys.stderr, flush=True)
        try:
            if not nb_in.is_file():
                raise FileNotFoundError(f"notebook not found: {nb_in}")
            import papermill

            extra: dict[str, Any] = {}
            if timeout:
                # timeout_s bounds the whole notebook: papermill's execution_timeout applies per
                # cell, so each cell gets what is left of the notebook's budget (nbclient timeout_func).
                deadline = time.monotonic() + timeout
                extra["timeout_func"] = lambda cell: max(0.05, deadline - time.monotonic())
            papermill.execute_notebook(
                str(nb_in), str(nb_out), parameters=params, kernel_name=kernel, language="python",
                execution_timeout=math.ceil(timeout) if timeout else None, progress_bar=False,
                cwd=str(notebooks_dir), **extra)
            record["status"] = "ok"
        except KeyboardInterrupt:
            record.update(status="failed", error="interrupted (KeyboardInterrupt)")
            raise
        except BaseException as e:  # noqa: BLE001 -- any failure of one notebook must not stop the others
            if isinstance(e, SystemExit) and e.code in (0, None):
                record["status"] = "ok"
            elif _is_timeout(e) and timeout:
                preview = re.search(r"-{5,}\n(.*?)\n-{5,}", str(e), flags=re.S)
                record.update(status="failed", error=(
                    f"timeout: the notebook ran past its limit of {timeout:g} s (profile {profile_name!r})"
                    + (f"; it was executing:\n{preview.group(1).strip()}" if preview else "")))
            else:
                record.update(status="failed", error=describe_error(e))
        finally:
            _finish(record, t0, study_dir, replacements)
        return record
    _finish(record, t0, study_dir, replacements)
    return record


def _finish(record: dict, t0: float, study_dir: Path, replacements: dict[str, str]) -> None:
    record["wall_s"] = round(time.perf_counter() - t0, 3)
    record["finished"] = _now()
    if record["status"] is None:
        record["status"] = "failed"
    for key in ("error", "reason"):
        if record.get(key):
            record[key] = reporting.sanitize_text(record[key], replacements)
    if record.get("download_commands"):
        record["download_commands"] = [reporting.sanitize_text(c, replacements)
                                       for c in record["download_commands"]]
    reporting.write_json_atomic(study_dir / "run.json", record)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def _split_only(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_all.sh" if os.environ.get("LMLE_RUN_ALL") else "python -m lmle_core.runner",
        description="Execute the study notebooks of a profile with papermill and write results/<profile>/REPORT.md.")
    p.add_argument("--profile", default="quick",
                   help="profile: tiny (seconds, CI), quick (default; real data, reduced), full (the paper's "
                        "protocol, GPU); a file notebooks/profiles/<profile>.yaml")
    p.add_argument("--data-root", default=None,
                   help="datasets in their official layouts (default: $LMLE_DATA_ROOT, else ./data of the repository)")
    p.add_argument("--only", action="append", metavar="NAME[,NAME]",
                   help="run only these studies (comma separated or repeated); REPORT.md keeps the others' "
                        "earlier results")
    p.add_argument("--list", action="store_true", help="list the studies and whether their data is available, then exit")
    p.add_argument("--results-root", default=None, help="where results/<profile>/ goes (default: the repository's results/)")
    p.add_argument("--kernel", default=os.environ.get("LMLE_KERNEL", DEFAULT_KERNEL),
                   help="Jupyter kernel that runs the notebooks (default: $LMLE_KERNEL, else lmle)")
    p.add_argument("--notebooks-dir", default=None,
                   help="folder with studies.yaml, profiles/ and the notebooks (default: the repository's notebooks/)")
    return p


def _resolve_data_root(arg: str | None) -> str:
    root = arg or os.environ.get("LMLE_DATA_ROOT") or str(REPO_ROOT / "data")
    # Notebooks run with the notebooks folder as working directory: pass an absolute path.
    return os.path.abspath(os.path.expanduser(root))


def list_studies(studies: list[dict], data_root: str, profile_name: str) -> None:
    if not studies:
        print("no studies defined (studies.yaml is an empty list)")
        return
    width = max(len(s["name"]) for s in studies)
    for s in studies:
        try:
            ok, reason, commands = data_status(s, data_root)
            data = "data: ok" if ok else "data: MISSING: " + reason.replace("\n", "\n" + " " * (width + 4))
        except Exception as e:  # noqa: BLE001
            data, commands = f"data: check failed ({describe_error(e)})", []
        print(f"{s['name']:<{width}}  {s['notebook']}  [{s['paper_item'] or '-'}]  {s['title']}")
        print(f"{'':<{width}}  {data}")
        for c in commands:
            print(f"{'':<{width}}    get it: {c}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    notebooks_dir = Path(args.notebooks_dir).resolve() if args.notebooks_dir else DEFAULT_NOTEBOOKS_DIR
    results_root = Path(args.results_root).resolve() if args.results_root else DEFAULT_RESULTS_ROOT
    data_root = _resolve_data_root(args.data_root)
    profile_name = args.profile
    try:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", profile_name):
            raise ConfigError(f"invalid profile name {profile_name!r}")
        studies = load_studies(notebooks_dir)
        profile = load_profile(notebooks_dir, profile_name)
        selected = select_studies(studies, _split_only(args.only))
        if args.list:
            list_studies(selected, data_root, profile_name)
            return 0
        unknown = sorted((set(profile["notebooks"]) | set(profile["timeouts"])) - {s["name"] for s in studies})
        if unknown:
            print(f"warning: {profile['path'].name} sets parameters for unknown studies: {', '.join(unknown)}",
                  file=sys.stderr)
        if selected:
            check_kernel(args.kernel)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    _ensure_pythonpath()
    results_profile_dir = results_root / profile_name
    results_profile_dir.mkdir(parents=True, exist_ok=True)
    replacements = {data_root: "<data_root>", str(results_root): "<results>", str(notebooks_dir): "<notebooks>"}

    run_info: dict[str, Any] = {
        "profile": profile_name,
        "started": _now(),
        "finished": None,
        "wall_s": None,
        "git_commit": reporting.git_commit(REPO_ROOT),
        "hardware": reporting.hardware_summary(),
        "kernel": args.kernel,
        "only": [s["name"] for s in selected] if args.only else None,
        "timeout_s": profile["timeout_s"],
        "studies": {},
    }
    t_run = time.perf_counter()
    if not selected:
        print("no studies to run (notebooks/studies.yaml is empty)" if not studies else "no studies selected")

    failed = 0
    interrupted = False
    n = len(selected)
    for i, study in enumerate(selected, 1):
        try:
            record = run_study(study, profile_name, profile, data_root, results_profile_dir, notebooks_dir,
                               args.kernel, replacements)
        except KeyboardInterrupt:
            interrupted = True
            failed += 1
            run_info["studies"][study["name"]] = "failed"
            print(f"[{i}/{n}] {study['name']:<28} failed   (interrupted)", flush=True)
            break
        run_info["studies"][study["name"]] = record["status"]
        failed += record["status"] == "failed"
        detail = ""
        if record["status"] == "failed":
            detail = "  " + str(record.get("error") or "").splitlines()[0][:160]
        elif record["status"] == "skipped":
            detail = "  " + str(record.get("reason") or "").splitlines()[0][:160]
        print(f"[{i}/{n}] {study['name']:<28} {record['status']:<8} {record['wall_s']:8.1f} s{detail}", flush=True)

    run_info["finished"] = _now()
    run_info["wall_s"] = round(time.perf_counter() - t_run, 3)
    reporting.write_json_atomic(results_profile_dir / "run.json", run_info)
    report = reporting.build_report(results_profile_dir, studies, profile_name)
    try:
        shown = report.relative_to(Path.cwd())
    except ValueError:
        shown = report
    ok = sum(v == "ok" for v in run_info["studies"].values())
    skipped = sum(v == "skipped" for v in run_info["studies"].values())
    print(f"done: {ok} ok, {failed} failed, {skipped} skipped; report: {shown}", flush=True)
    if interrupted:
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
