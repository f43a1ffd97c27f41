"""Execute the study notebooks of a profile with papermill, then write REPORT.md.

    python -m lmle_core.study.runner --profile quick --data-root ./data [--only NAME[,NAME]] [--list]
        [-p NAME VALUE] [-y YAML] [--results-root results] [--kernel lmle] [--notebooks-dir notebooks]

(``./run_all.sh`` bootstraps the environment and calls this.)

Reads ``<notebooks-dir>/studies.yaml`` and ``<notebooks-dir>/profiles/<profile>.yaml``
(:mod:`lmle_core.study.config`) and checks every parameter against the notebooks' parameters
cells before anything runs. Under an exclusive lock on ``results/<profile>/`` each selected
study is then:

- ``skipped`` when no alternative of its ``requires`` is available (reason and download
  commands recorded); its earlier results stay as they were;
- executed in-process through papermill with the profile's parameters plus ``data_root``,
  ``results_dir`` (a staging folder) and ``profile``; when it succeeds its new results replace
  the old ones atomically (:mod:`lmle_core.study.results_store`); ``ok`` may carry the parts
  the notebook had to skip (``StudyReport.skip``), shown as "ok, <part> skipped: ...";
- ``failed`` on an exception, a timeout or a dead kernel: its earlier results stay, the failed
  run's outputs go to ``.failed/<study>/`` and the executed copy to
  ``notebooks/<notebook stem>.failed.ipynb``; the run goes on;
- ``interrupted`` by SIGINT (Ctrl-C) or SIGTERM: the kernel (its whole process group) is killed,
  the staging folder, the half-written notebook and the kernel log are removed, the earlier
  results stay; the run stops there and still writes its summary and REPORT.md.

``results/<profile>/run.json`` records this run (data root, hardware, commit, every study's
status); each study's ``run.json`` records the run that produced its results, with the
parameters the notebook received and those given on the command line. Finally
``results/<profile>/REPORT.md`` is built.

Notebooks run in a worker thread (papermill), so the main thread keeps the signal handlers
(:mod:`lmle_core.study.interrupts`).

Exit status: 0 all selected studies ok or skipped, 1 some failed, 2 usage / configuration
error, a busy or unwritable results folder, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from lmle_core.study import config, provenance, reporting
from lmle_core.study.provenance import now_iso
from lmle_core.study.atomic_io import write_json_atomic
from lmle_core.study.data_needs import data_root_line, data_status, describe_data_root, resolve_data_root  # noqa: F401
from lmle_core.study.config import INJECTED, ConfigError, load_profile, load_studies, select_studies  # noqa: F401
from lmle_core.study.interrupts import InterruptGuard, RunInterrupted, exit_status
from lmle_core.study.notebook_exec import NOTEBOOK_PAGE, check_kernel, describe_error, export_html  # noqa: F401
from lmle_core.study.notebook_exec import ensure_pythonpath, execute, is_timeout
from lmle_core.study.results_store import (FAILED_DIR, ResultsBusyError, ResultsFolder, ResultsNotWritableError,
                                           not_writable)

REPO_ROOT = provenance.REPO_ROOT
DEFAULT_NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_RESULTS_ROOT = REPO_ROOT / "results"
DEFAULT_KERNEL = "lmle"


# ----------------------------------------------------------------------------------------------
# One study
# ----------------------------------------------------------------------------------------------
def run_study(study: dict, params: dict, profile_name: str, profile: dict, data_root: str, folder: ResultsFolder,
              notebooks_dir: Path, kernel: str, replacements: dict[str, str], cli: dict | None = None,
              guard: InterruptGuard | None = None) -> dict:
    """Run (or skip) one study; on success swap its new results in; return this run's record.

    The record holds the parameters the notebook received (``parameters``) and those of them
    given on the command line (``command_line``). On :class:`RunInterrupted` nothing of this run
    is left (staging folder, notebook, kernel log) and the exception, carrying the record with
    status ``interrupted``, goes on up.
    """
    name = study["name"]
    guard = guard or InterruptGuard()  # not entered: installs no handler, deferred() still works
    t0 = time.perf_counter()
    record: dict[str, Any] = {"study": name, "notebook": study["notebook"], "profile": profile_name,
                              "profile_file": _profile_file(profile), "parameters": dict(params),
                              "command_line": dict(cli or {}),
                              "status": None, "wall_s": 0.0, "error": None, "started": now_iso(), "finished": None}
    nb_dir = folder.root / "notebooks"
    stem = Path(study["notebook"]).stem
    nb_tmp = nb_dir / f".{stem}.new-{os.getpid()}.ipynb"
    staging = None
    try:
        try:
            ok, reason, commands = data_status(study, data_root)
        except Exception as e:  # noqa: BLE001 -- an unknown dataset name etc. fails this study only
            ok, reason, commands = None, f"dataset availability check failed: {describe_error(e)}", []
        if ok is None:
            record.update(status="failed", error=reason)
            return _finish(record, t0)
        if not ok:
            record.update(status="skipped", reason=reason, download_commands=commands)
            return _finish(record, t0)
        staging = folder.staging(name)
        return _run_staged(study, record, t0, run_params_for(params, data_root, staging, profile_name), profile,
                           folder, staging, nb_dir, nb_tmp, notebooks_dir, kernel, replacements, guard)
    except (RunInterrupted, KeyboardInterrupt) as e:
        for leftover in (nb_tmp, nb_tmp.with_suffix(".kernel.log")):
            leftover.unlink(missing_ok=True)
        if staging is not None:
            folder.discard(name, staging, keep_as_failed=False)
        signum = e.signum if isinstance(e, RunInterrupted) else signal.SIGINT
        record.update(status="interrupted", error=f"interrupted by {signal.Signals(signum).name}")
        interrupted = e if isinstance(e, RunInterrupted) else RunInterrupted(signum)
        interrupted.record = _finish(record, t0)  # type: ignore[attr-defined]
        raise interrupted from None


def run_params_for(params: dict, data_root: str, staging: Path, profile_name: str) -> dict:
    """What the notebook receives: its parameters plus the injected ones."""
    return {**params, "data_root": data_root, "results_dir": str(staging.resolve()), "profile": profile_name}


def _profile_file(profile: dict) -> str:
    path = Path(str(profile.get("path", "")))
    return f"profiles/{path.name}" if path.name else ""


def _run_staged(study: dict, record: dict, t0: float, run_params: dict, profile: dict, folder: ResultsFolder,
                staging: Path, nb_dir: Path, nb_tmp: Path, notebooks_dir: Path, kernel: str,
                replacements: dict[str, str], guard: InterruptGuard) -> dict:
    """Execute the notebook into ``staging``; swap its results in, or keep the failure aside."""
    name, stem = study["name"], Path(study["notebook"]).stem
    profile_name = record["profile"]
    timeout = profile["timeouts"].get(name, profile["timeout_s"])
    try:
        nb_dir.mkdir(parents=True, exist_ok=True)
        execute(notebooks_dir / study["notebook"], nb_tmp, run_params, kernel, timeout, notebooks_dir)
        record["status"] = "ok"
    except (RunInterrupted, KeyboardInterrupt):
        raise
    except BaseException as e:  # noqa: BLE001 -- any failure of one notebook must not stop the others
        if isinstance(e, SystemExit) and e.code in (0, None):
            record["status"] = "ok"
        elif is_timeout(e) and timeout:
            preview = re.search(r"-{5,}\n(.*?)\n-{5,}", str(e), flags=re.S)
            record.update(status="failed", error=(
                f"timeout: the notebook ran past its limit of {timeout:g} s (profile {profile_name!r})"
                + (f"; it was executing:\n{preview.group(1).strip()}" if preview else "")))
        else:
            record.update(status="failed", error=describe_error(e))

    if record["status"] == "ok" and nb_tmp.exists():
        try:
            export_html(nb_tmp, staging / NOTEBOOK_PAGE, {**replacements, str(staging.resolve()): "<results_dir>"})
        except Exception as e:  # noqa: BLE001 -- a page that cannot be rendered must not lose the results
            print(f"warning: {name}: could not write {NOTEBOOK_PAGE}: {describe_error(e)}", file=sys.stderr)
    with guard.deferred():  # the swap and the moves below are not cut in half by a signal
        kernel_log = nb_tmp.with_suffix(".kernel.log")
        if kernel_log.exists():  # beside the executed notebook: notebooks/<name>[.failed].kernel.log
            os.replace(kernel_log, nb_dir / (f"{stem}.kernel.log" if record["status"] == "ok"
                                             else f"{stem}.failed.kernel.log"))
        if record["status"] == "ok":
            metrics = reporting.read_json(staging / "metrics.json") or {}
            if metrics.get("skipped"):
                record["partial"] = [str(s) for s in metrics["skipped"]]
            _finish(record, t0)
            write_json_atomic(staging / "run.json", sanitized(record, replacements))
            folder.commit(name, staging)
            if nb_tmp.exists():
                os.replace(nb_tmp, nb_dir / Path(study["notebook"]).name)
            for stale in (nb_dir / f"{stem}.failed.ipynb", nb_dir / f"{stem}.failed.kernel.log"):
                stale.unlink(missing_ok=True)  # an earlier failure's record is superseded
            folder.discard(name, folder.root / FAILED_DIR / name, keep_as_failed=False)
            return record
        kept = folder.discard(name, staging, keep_as_failed=True)
        if kept is not None:
            record["failed_outputs"] = f"{FAILED_DIR}/{name}"
        if nb_tmp.exists():
            os.replace(nb_tmp, nb_dir / f"{stem}.failed.ipynb")
            record["failed_notebook"] = f"notebooks/{stem}.failed.ipynb"
        return _finish(record, t0)


def _finish(record: dict, t0: float) -> dict:
    record["wall_s"] = round(time.perf_counter() - t0, 3)
    record["finished"] = now_iso()
    if record["status"] is None:
        record["status"] = "failed"
    return record


def sanitized(record: dict, replacements: dict[str, str]) -> dict:
    """A copy of ``record`` without local paths (for the files; the console shows the real ones)."""
    out = dict(record)
    for key in ("error", "reason"):
        if out.get(key):
            out[key] = provenance.sanitize_text(out[key], replacements)
    for key in ("download_commands", "partial"):
        if out.get(key):
            out[key] = [provenance.sanitize_text(c, replacements) for c in out[key]]
    for key in ("parameters", "command_line"):
        if out.get(key):
            out[key] = _sanitized_value(out[key], replacements)
    return out


def _sanitized_value(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, str):
        return provenance.sanitize_text(value, replacements)
    if isinstance(value, dict):
        return {k: _sanitized_value(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitized_value(v, replacements) for v in value]
    return value


def status_text(record: dict) -> str:
    """"ok", "skipped", "failed", or "ok, <part> skipped: <what is missing>" for a partly skipped study."""
    status = str(record.get("status", "unknown"))
    if status == "ok" and record.get("partial"):
        more = f" (+{len(record['partial']) - 1} more)" if len(record["partial"]) > 1 else ""
        return f"ok, {' '.join(str(record['partial'][0]).split())}{more}"
    return status


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def _split_only(values: Iterable[str] | None) -> list[str] | None:
    """The names of ``--only`` (None when it was not given; an empty list when it named none)."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_all.sh" if os.environ.get("LMLE_RUN_ALL") else "python -m lmle_core.study.runner",
        description="Execute the study notebooks of a profile with papermill and write results/<profile>/REPORT.md.")
    p.add_argument("--profile", default="quick",
                   help="profile: tiny (seconds, CI), quick (default; real data, reduced), full (the paper's "
                        "protocol, GPU); a file notebooks/profiles/<profile>.yaml")
    p.add_argument("--data-root", default=None,
                   help="datasets in their official layouts (default: $LMLE_DATA_ROOT, else ./data of the repository)")
    p.add_argument("--only", action="append", metavar="NAME[,NAME]",
                   help="run only these studies (comma separated or repeated); REPORT.md keeps the others' "
                        "earlier results")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="give every selected notebook this parameter (VALUE read as YAML, e.g. -p seeds '[0, 1, 2]'); "
                        "checked against each notebook's parameters cell")
    p.add_argument("-y", "--parameters-yaml", action="append", metavar="YAML",
                   help="parameters as a YAML mapping, e.g. -y 'seeds: [0, 1, 2]'")
    p.add_argument("--list", action="store_true", help="list the studies and whether their data is available, then exit")
    p.add_argument("--lab", action="store_true",
                   help="instead of a batch run, start JupyterLab on the notebooks with the project's kernel: "
                        "./run_all.sh --lab [--data-root DIR] [JupyterLab options] (scripts/lab.sh)")
    p.add_argument("--results-root", default=None, help="where results/<profile>/ goes (default: the repository's results/)")
    p.add_argument("--kernel", default=os.environ.get("LMLE_KERNEL", DEFAULT_KERNEL),
                   help="Jupyter kernel that runs the notebooks (default: $LMLE_KERNEL, else lmle)")
    p.add_argument("--notebooks-dir", default=None,
                   help="folder with studies.yaml, profiles/ and the notebooks (default: the repository's notebooks/)")
    return p


def list_studies(studies: list[dict], data_root: str) -> None:
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
    if args.lab:  # run_all.sh hands --lab to scripts/lab.sh; only a direct call gets here
        print("error: --lab starts JupyterLab through run_all.sh: ./run_all.sh --lab [--data-root DIR] "
              "[JupyterLab options]", file=sys.stderr)
        return 2
    notebooks_dir = Path(args.notebooks_dir).resolve() if args.notebooks_dir else DEFAULT_NOTEBOOKS_DIR
    results_root = Path(args.results_root).resolve() if args.results_root else DEFAULT_RESULTS_ROOT
    given_root, root_source, data_root = resolve_data_root(args.data_root)
    profile_name = args.profile
    try:
        studies = load_studies(notebooks_dir)
        profile = load_profile(notebooks_dir, profile_name, [s["name"] for s in studies])
        selected = select_studies(studies, _split_only(args.only))
        cli = config.parse_cli_parameters(args.parameter, args.parameters_yaml)
        if args.list:
            print(data_root_line(describe_data_root(given_root, root_source, data_root)))
            list_studies(selected, data_root)
            return 0
        params = config.validate_run(selected, profile, cli, notebooks_dir)
        if selected:
            check_kernel(args.kernel)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    ensure_pythonpath()
    folder = ResultsFolder(results_root / profile_name)
    try:
        folder.lock(f"run_all.sh --profile {profile_name}")
    except (ResultsBusyError, ResultsNotWritableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with InterruptGuard() as guard:
            return _run(args, folder, studies, selected, profile_name, profile, params, cli, data_root,
                        describe_data_root(given_root, root_source, data_root), results_root, notebooks_dir, guard)
    except RunInterrupted as e:  # between studies or while the summary was written
        print(f"interrupted ({e})", file=sys.stderr)
        return exit_status(e.signum)
    except ResultsNotWritableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {not_writable(folder.root, e)}", file=sys.stderr)
        return 2
    finally:
        folder.unlock()


def _run(args, folder: ResultsFolder, studies, selected, profile_name, profile, params, cli, data_root, root_info,
         results_root: Path, notebooks_dir: Path, guard: InterruptGuard) -> int:
    for line in folder.recover():
        print(f"note: {line}", file=sys.stderr)
    replacements = {data_root: "<data_root>", str(results_root): "<results>", str(notebooks_dir): "<notebooks>"}
    print(data_root_line(root_info), flush=True)
    run_info: dict[str, Any] = {
        "profile": profile_name,
        "started": now_iso(),
        "finished": None,
        "wall_s": None,
        "git_commit": provenance.git_commit(REPO_ROOT),
        "hardware": provenance.hardware_summary(),
        "kernel": args.kernel,
        "data_root": {k: v for k, v in root_info.items() if k != "given"},  # the path itself: REPORT.md only
        "only": [s["name"] for s in selected] if args.only else None,
        "parameters": dict(cli) or None,
        "timeout_s": profile["timeout_s"],
        "studies": {},
    }
    t_run = time.perf_counter()
    if not selected:
        print("no studies to run (notebooks/studies.yaml is empty)" if not studies else "no studies selected")
    failed, interrupted, n = 0, None, len(selected)
    for i, study in enumerate(selected, 1):
        try:
            guard.checkpoint()  # a signal that came while the previous study's results were swapped in
            print(f"[{i}/{n}] {study['name']:<28} ", end="", flush=True)  # the line is completed when it ends
            record = run_study(study, params[study["name"]], profile_name, profile, data_root, folder,
                               notebooks_dir, args.kernel, replacements, cli=cli, guard=guard)
        except RunInterrupted as e:
            interrupted = e.signum
            record = getattr(e, "record", None)
            if record is None:  # between studies: this one did not start
                print(f"not started: interrupted ({signal.Signals(e.signum).name})", flush=True)
                break
            run_info["studies"][study["name"]] = sanitized(record, replacements)
            print(f"{record['wall_s']:8.1f} s  interrupted ({signal.Signals(e.signum).name}): nothing of it is kept, "
                  f"its earlier results (if any) stay; the run stops here", flush=True)
            break
        run_info["studies"][study["name"]] = sanitized(record, replacements)
        failed += record["status"] == "failed"
        detail = ""
        if record["status"] == "failed":
            detail = ": " + str(record.get("error") or "").splitlines()[0][:160]
            if record.get("failed_notebook"):
                detail += f" (executed notebook: {folder.root.name}/{record['failed_notebook']})"
        elif record["status"] == "skipped":
            detail = ": " + str(record.get("reason") or "").splitlines()[0][:160]
        print(f"{record['wall_s']:8.1f} s  {status_text(record)}{detail}", flush=True)

    if interrupted is None and guard.received is not None:  # came while the last study's results were swapped in
        interrupted = guard.received
    with guard.deferred():  # the summary and the report are written whole, even when a signal comes
        run_info["finished"] = now_iso()
        run_info["wall_s"] = round(time.perf_counter() - t_run, 3)
        if interrupted is not None:
            run_info["interrupted"] = signal.Signals(interrupted).name
        write_json_atomic(folder.root / "run.json", run_info)
        report = reporting.build_report(folder.root, studies, profile_name, data_root_given=root_info["given"])
    try:
        shown = report.relative_to(Path.cwd())
    except ValueError:
        shown = report
    statuses = [r["status"] for r in run_info["studies"].values()]
    counts = f"{statuses.count('ok')} ok, {failed} failed, {statuses.count('skipped')} skipped"
    if interrupted is not None:
        counts += f", {statuses.count('interrupted')} interrupted, {n - len(statuses)} not started"
    print(f"done: {counts}; report: {shown}", flush=True)
    if interrupted is not None:
        return exit_status(interrupted)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
