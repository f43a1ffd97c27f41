"""Executing one notebook: papermill in a worker thread, a kernel that can be killed, the HTML page.

papermill runs in a worker thread so that the main thread keeps the SIGINT / SIGTERM handlers of
:mod:`lmle_core.study.interrupts` (nbclient installs its own only in the main thread, and there
they turn a Ctrl-C into a dead kernel, i.e. a "failed" study). The kernel starts in its own
session; on an interrupt its whole process group is killed (:class:`KernelHandle`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from lmle_core.study import provenance
from lmle_core.study.atomic_io import write_text_atomic
from lmle_core.study.config import ConfigError

__all__ = ["NOTEBOOK_PAGE", "KernelHandle", "check_kernel", "describe_error", "ensure_pythonpath", "execute",
           "export_html", "is_timeout"]

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_timeout(exc: BaseException) -> bool:
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
    text = _ANSI_RE.sub("", str(exc)).strip()
    if is_timeout(exc):
        return f"timeout: {name}: {text}" if text else f"timeout: {name}"
    return f"{name}: {text}" if text else name


def ensure_pythonpath() -> None:
    """Kernels started by papermill must import this ``lmle_core`` (it is not installed)."""
    root = str(provenance.REPO_ROOT)
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


class KernelHandle:
    """The kernel a notebook runs in, as the main thread sees it: its process group, to kill it
    (and every process it started) when the run is interrupted."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.ipc_dir: str | None = None
        self.cancelled = False
        self._lock = threading.Lock()

    def launched(self, pgid: int | None) -> None:
        with self._lock:
            self.pgid = pgid
            cancelled = self.cancelled
        if cancelled:  # interrupted while the kernel was starting
            self.kill()

    def kill(self) -> None:
        with self._lock:
            self.cancelled = True
            pgid = self.pgid
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _kernel_manager_class(log_path: Path, handle: KernelHandle | None = None):
    """The kernel manager papermill starts kernels with: IPC sockets in a private temporary folder
    instead of TCP on localhost (nothing listens on the network, and the kernel does not print
    its "running over TCP without encryption" warning), and the kernel's own stderr (its log
    lines, a crash's last words) in ``log_path`` instead of the console, which keeps one line per study.
    ``handle`` learns the kernel's process group (the kernel starts its own session)."""
    import tempfile

    from jupyter_client import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self):
            folder = tempfile.mkdtemp(prefix="lmle-kernel-")
            if handle is not None:
                handle.ipc_dir = folder
            return os.path.join(folder, "ipc")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._kernel_log = open(log_path, "ab")
            kw.setdefault("stderr", self._kernel_log)
            kw.setdefault("stdout", self._kernel_log)
            await super()._async_launch_kernel(kernel_cmd, **kw)
            if handle is not None:
                prov = getattr(self, "provisioner", None)
                handle.launched(getattr(prov, "pgid", None) or getattr(prov, "pid", None))

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart)
            if not restart:
                import shutil

                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)
                if getattr(self, "_kernel_log", None) is not None:
                    self._kernel_log.close()

    return IPCKernelManager


def execute(nb_in: Path, nb_out: Path, params: dict, kernel: str, timeout: float | None, cwd: Path) -> None:
    """papermill in a worker thread; the main thread waits, keeping SIGINT / SIGTERM (nbclient
    installs its own handlers only in the main thread). On :class:`RunInterrupted` the kernel's
    process group is killed and the worker given time to finish (it writes ``nb_out`` last)."""
    import papermill

    handle = KernelHandle()
    extra: dict[str, Any] = {"kernel_manager_class": _kernel_manager_class(nb_out.with_suffix(".kernel.log"), handle)}
    if timeout:
        # timeout_s bounds the whole notebook: papermill's execution_timeout applies per cell, so
        # each cell gets what is left of the notebook's budget (nbclient timeout_func).
        deadline = time.monotonic() + timeout
        extra["timeout_func"] = lambda cell: max(0.05, deadline - time.monotonic())
    outcome: dict[str, BaseException] = {}
    done = threading.Event()  # not Thread.join: a signal raised inside join() marks a running thread stopped

    def work() -> None:
        try:
            papermill.execute_notebook(
                str(nb_in), str(nb_out), parameters=params, kernel_name=kernel, language="python",
                execution_timeout=math.ceil(timeout) if timeout else None, progress_bar=False, cwd=str(cwd), **extra)
        except BaseException as e:  # noqa: BLE001 -- handed to the main thread
            outcome["error"] = e
        finally:
            done.set()

    threading.Thread(target=work, name=f"papermill {nb_in.name}", daemon=True).start()
    try:
        while not done.wait(0.5):
            pass
    except BaseException:
        papermill_log = logging.getLogger("papermill")  # nbclient logs through it: "Kernel died ..." is expected now
        papermill_log.addFilter(_drop_all)
        try:
            handle.kill()
            done.wait(KERNEL_EXIT_WAIT_S)
        finally:
            papermill_log.removeFilter(_drop_all)
        if handle.ipc_dir:
            shutil.rmtree(handle.ipc_dir, ignore_errors=True)
        raise
    if "error" in outcome:
        raise outcome["error"]


def _drop_all(_record) -> bool:
    return False


KERNEL_EXIT_WAIT_S = 60.0  # after the kernel is killed, nbclient notices within seconds and papermill returns


NOTEBOOK_PAGE = "notebook.html"


def export_html(notebook: Path, target: Path, replacements: dict | None = None) -> Path:
    """The executed notebook as one self-contained HTML page (nbconvert; figures embedded), written
    atomically: every printed line and figure of the run, readable without Jupyter. The known local
    roots (repository, home, data root) are replaced as in every other result file."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return write_text_atomic(target, provenance.sanitize_text(body, replacements, other_paths=False))
