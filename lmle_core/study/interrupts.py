"""SIGINT and SIGTERM during a batch run: stop cleanly, say "interrupted", leave nothing behind.

Inside :class:`InterruptGuard` a SIGINT (Ctrl-C) or SIGTERM raises :class:`RunInterrupted` in
the main thread (a ``BaseException``: no ``except Exception`` swallows it). Sections that must
not be cut in half (swapping a study's results in, writing the run's summary and report) run
under :meth:`InterruptGuard.deferred`: a signal received there is raised at the next
:meth:`InterruptGuard.checkpoint` (between studies).
Once raised, further signals are only recorded, so the clean-up (killing the kernel, removing
the staging folder and the half-written notebook) completes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["RunInterrupted", "InterruptGuard", "exit_status"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """The run received SIGINT or SIGTERM."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")


def exit_status(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


class InterruptGuard:
    """Turns SIGINT / SIGTERM into :class:`RunInterrupted` while active (main thread only)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raised = False
        self._deferred = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, _frame) -> None:
        if self.received is None:
            self.received = signum
        if not self._deferred:
            self._raise()

    def _raise(self) -> None:
        if self.received is not None and not self._raised:
            self._raised = True
            raise RunInterrupted(self.received)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a signal must not cut: a signal received inside is only recorded (the next
        :meth:`checkpoint` raises it)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    def checkpoint(self) -> None:
        """Raise :class:`RunInterrupted` for a signal received in a deferred section (once)."""
        if not self._deferred:
            self._raise()
