"""qdlpy.log: every pull folder carries a debug log of its whole run.

Recording starts before the device is opened (the handshake, a re-provoked HELLO and the
table offer matter most when something goes wrong) and is written to the folder once the
folder exists; the console keeps the verbosity the user chose.

Several pulls may run at once in one process (``qdlpy watch``, one thread per device): each
folder's log keeps only the records of the thread that runs its pull, and the ``qdlpy``
logger's level and propagation are changed by the first run that starts and restored by the
last one that ends.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import threading
from collections.abc import Iterator
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Forward(logging.Handler):
    """Hands records on to the parent loggers' handlers at the level they asked for."""

    def __init__(self, level: int) -> None:
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        logger: logging.Logger | None = logging.getLogger("qdlpy").parent
        while logger is not None:
            for h in logger.handlers:
                if record.levelno >= h.level:
                    h.handle(record)
            logger = logger.parent if logger.propagate else None


class _ThisThread(logging.Filter):
    """Keeps the records logged by one thread (the one running this pull)."""

    def __init__(self) -> None:
        super().__init__()
        self.ident = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.ident


class RunLog:
    """Buffers the ``qdlpy`` logger's records until ``attach()`` names the file."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("qdlpy")
        self.only_this_thread = _ThisThread()
        self.buffer = logging.handlers.MemoryHandler(capacity=100_000,
                                                     flushLevel=logging.CRITICAL + 1)
        self.buffer.setLevel(logging.DEBUG)
        self.buffer.addFilter(self.only_this_thread)
        self.file: logging.FileHandler | None = None

    def attach(self, path: Path) -> None:
        if self.file is not None:
            return
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter(_FORMAT))
        fh.addFilter(self.only_this_thread)
        self.buffer.setTarget(fh)
        self.buffer.flush()
        self.logger.removeHandler(self.buffer)
        self.logger.addHandler(fh)
        self.file = fh


class _SharedSetup:
    """The ``qdlpy`` logger settings a run needs, applied once for overlapping runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs = 0
        self.saved: tuple[int, bool, int] = (logging.NOTSET, True, logging.NOTSET)
        self.forward: _Forward | None = None

    def enter(self) -> None:
        with self.lock:
            self.runs += 1
            if self.runs > 1:
                return
            logger = logging.getLogger("qdlpy")
            trace = logging.getLogger("qdlpy.trace")
            self.saved = (logger.level, logger.propagate, trace.level)
            if logger.propagate:
                self.forward = _Forward(logger.getEffectiveLevel())
                logger.addHandler(self.forward)
                logger.propagate = False
            logger.setLevel(logging.DEBUG)
            # Packet traces (qdlpy.trace) stay off unless someone turned them on (-vv): a
            # 16 GiB pull sends tens of thousands of requests.
            if trace.level == logging.NOTSET:
                trace.setLevel(logging.INFO)

    def leave(self) -> None:
        with self.lock:
            self.runs -= 1
            if self.runs:
                return
            logger = logging.getLogger("qdlpy")
            level, propagate, trace_level = self.saved
            if self.forward is not None:
                logger.removeHandler(self.forward)
                self.forward = None
            logger.setLevel(level)
            logger.propagate = propagate
            logging.getLogger("qdlpy.trace").setLevel(trace_level)


_shared = _SharedSetup()


@contextlib.contextmanager
def run_log() -> Iterator[RunLog]:
    """Record the ``qdlpy`` logger at DEBUG for qdlpy.log without a chattier console.

    Console handlers attached to "qdlpy" itself (the CLI's) keep their own levels.
    """
    run = RunLog()
    _shared.enter()
    run.logger.addHandler(run.buffer)
    try:
        yield run
    finally:
        run.logger.removeHandler(run.buffer)
        run.buffer.close()
        if run.file is not None:
            run.logger.removeHandler(run.file)
            run.file.close()
        _shared.leave()
