"""One profile's results folder (``results/<profile>/``): a lock, staging folders, atomic swaps.

A run never deletes or overwrites a study's previous results unless that study produced new
ones. Each study runs into a staging folder beside its results (``.<study>.new-<pid>``, same
file system); only when its notebook succeeded is the staging folder swapped in
(``<study>`` -> ``.<study>.old``, staging -> ``<study>``, then the old one removed). A skipped
or failed study leaves ``<study>/`` exactly as it was; a failed run's partial outputs are
kept in ``.failed/<study>/`` for inspection (not committed). A crash between the two renames
is repaired by the next run (:meth:`ResultsFolder.recover`).

``ResultsFolder.lock`` takes an exclusive ``flock`` on ``.lock``: a second run on the same
folder stops at once with a message naming the run that holds it.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

from lmle_core.study.provenance import now_iso

__all__ = ["ResultsFolder", "ResultsBusyError", "ResultsNotWritableError"]

FAILED_DIR = ".failed"


class ResultsBusyError(RuntimeError):
    """Another run holds the results folder's lock."""


class ResultsNotWritableError(RuntimeError):
    """The results folder cannot be created or written (read-only, full, ...)."""


def not_writable(folder: Path, exc: OSError) -> ResultsNotWritableError:
    reason = {errno.EACCES: "permission denied (read-only?)", errno.EPERM: "permission denied (read-only?)",
              errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
              errno.EDQUOT: "disk quota exceeded"}.get(exc.errno, exc.strerror or str(exc))
    return ResultsNotWritableError(f"cannot write the results folder {folder}: {reason}")


class ResultsFolder:
    """``results/<profile>/`` with its lock and staging/swap protocol."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock_fd: int | None = None

    # -- lock ---------------------------------------------------------------------------------
    def lock(self, description: str = "") -> "ResultsFolder":
        """Create the folder if needed and take its lock, or raise a one-line error."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise not_writable(self.root, e) from None
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ResultsBusyError(f"another run is writing {self.root} ({holder}); wait for it to finish, "
                                   f"or give this one another --results-root") from None
        except ImportError:  # pragma: no cover -- no flock (Windows): run unguarded
            pass
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}, started {now_iso()}{', ' + description if description else ''}\n"
                     .encode())
        except OSError as e:
            os.close(fd)
            raise not_writable(self.root, e) from None
        self._lock_fd = fd
        return self

    def unlock(self) -> None:
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
            except OSError:
                pass
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def __enter__(self) -> "ResultsFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.unlock()

    # -- staging and swap ---------------------------------------------------------------------
    def study_dir(self, name: str) -> Path:
        return self.root / name

    def _old(self, name: str) -> Path:
        return self.root / f".{name}.old"

    def recover(self) -> list[str]:
        """Repair what an interrupted run left (call with the lock held); returns what was done."""
        done = []
        for old in self.root.glob(".*.old"):
            name = old.name[1:-len(".old")]
            target = self.study_dir(name)
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(old, target)
                done.append(f"restored {name}/ from an interrupted swap")
        for new in self.root.glob(".*.new-*"):
            shutil.rmtree(new, ignore_errors=True)
            done.append(f"removed the staging folder {new.name} of an interrupted run")
        return done

    def staging(self, name: str) -> Path:
        """A new, empty staging folder for ``name`` (same file system as its results)."""
        path = self.root / f".{name}.new-{os.getpid()}"
        if path.exists():
            shutil.rmtree(path)
        try:
            path.mkdir(parents=True)
        except OSError as e:
            raise not_writable(self.root, e) from None
        return path

    def commit(self, name: str, staging: Path) -> Path:
        """Swap ``staging`` in as ``<name>/``; the previous results are removed only afterwards."""
        target, old = self.study_dir(name), self._old(name)
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    def discard(self, name: str, staging: Path, keep_as_failed: bool) -> Path | None:
        """Drop a staging folder; a failed run's outputs are kept in ``.failed/<name>/``."""
        if not staging.exists():
            return None
        if not keep_as_failed or not any(staging.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
            return None
        dest = self.root / FAILED_DIR / name
        try:
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, dest)
            return dest
        except OSError as e:
            print(f"warning: could not keep the failed run's outputs of {name}: {e}", file=sys.stderr)
            shutil.rmtree(staging, ignore_errors=True)
            return None

    def replace_file(self, tmp: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
