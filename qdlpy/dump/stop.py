"""Stopping a pull on request: SIGINT, SIGTERM, SIGHUP, or the caller's ``interrupt`` event.

Inside the region loop the first request is polite: the chunk in hand is finished and
saved, the manifest says ``interrupted`` and the device is released. A second signal, or
one that arrives outside the loop (waiting for the device, handshaking, assembling the ELF
afterwards), stops at once (:class:`StopNow`); what is on disk stays consistent either way,
because the manifest never counts a byte before it is durable. The error raised is the
first signal's :class:`~qdlpy.errors.Interrupted` subclass (exit 128 + its number).

Signal handlers can only be installed from the main thread; a pull in another thread (the
``qdlpy watch`` workers) stops through ``interrupt`` alone. A signal the process ignores
(``nohup`` ignores SIGHUP, a shell ignores SIGINT for background jobs) stays ignored.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from qdlpy.errors import HungUp, Interrupted, Terminated

__all__ = ["StopNow", "StopRequest"]

log = logging.getLogger("qdlpy.pull")

_ERRORS: dict[int, type[Interrupted]] = {
    signal.SIGINT: Interrupted,
    signal.SIGTERM: Terminated,
    signal.SIGHUP: HungUp,
}
_NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM",
                          signal.SIGHUP: "SIGHUP"}


class StopNow(KeyboardInterrupt):
    """Raised by the signal handler to stop at once (a KeyboardInterrupt, so no ``except
    Exception`` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopRequest:
    """Whether, and why, the pull was asked to stop (see the module docstring)."""

    def __init__(self, external: threading.Event | None) -> None:
        self.flag = external or threading.Event()
        self.signum: int | None = None  # the first signal received, if any
        self._polite = False  # inside the region loop: finish the chunk first

    def error(self, message: str) -> Interrupted:
        """The Interrupted (sub)class for the first signal, or Interrupted for the event."""
        cls = _ERRORS.get(self.signum, Interrupted) if self.signum else Interrupted
        return cls(message)

    def stopped_at_once(self) -> Interrupted:
        what = _NAMES.get(self.signum or signal.SIGINT, "signal")
        return self.error(f"interrupted at once ({what}); the manifest tells what was saved")

    @contextlib.contextmanager
    def polite(self) -> Iterator[None]:
        """While inside: a first request finishes the current chunk."""
        self._polite = True
        try:
            yield
        finally:
            self._polite = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self.flag.is_set() or not self._polite:
            raise StopNow(signum)
        log.warning("%s: finishing the current chunk, then saving state (send it again to "
                    "stop at once)", _NAMES.get(signum, "signal"))
        self.flag.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT, SIGTERM and SIGHUP while inside (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {}
        for signum in _ERRORS:
            old = signal.getsignal(signum)
            if old is signal.SIG_IGN:
                continue
            previous[signum] = old
            signal.signal(signum, self._handle)
        try:
            yield
        finally:
            for signum, old in previous.items():
                signal.signal(signum, old)
