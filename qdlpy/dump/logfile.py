"""qdlpy.log: every pull folder carries a debug log of its whole run.

Recording starts before the device is opened (the handshake, a re-provoked HELLO and the
table offer matter most when something goes wrong) and is written to the folder once the
folder exists; the console keeps the verbosity the user chose.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
from collections.abc import Iterator
from typing import IO

from .folder import PullFolder

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


class RunLog:
    """Buffers the ``qdlpy`` logger's records until ``attach()`` names the file."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("qdlpy")
        self.buffer = logging.handlers.MemoryHandler(capacity=100_000,
                                                     flushLevel=logging.CRITICAL + 1)
        self.buffer.setLevel(logging.DEBUG)
        self.file: logging.StreamHandler[IO[str]] | None = None

    def attach(self, folder: PullFolder) -> None:
        """Write the records so far, and every later one, to the folder's qdlpy.log (opened
        without following a link: :meth:`PullFolder.open_log`)."""
        if self.file is not None:
            return
        fh = logging.StreamHandler(folder.open_log())
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter(_FORMAT))
        self.buffer.setTarget(fh)
        self.buffer.flush()
        self.logger.removeHandler(self.buffer)
        self.logger.addHandler(fh)
        self.file = fh


@contextlib.contextmanager
def run_log() -> Iterator[RunLog]:
    """Record the ``qdlpy`` logger at DEBUG for qdlpy.log without a chattier console."""
    run = RunLog()
    logger = run.logger
    old_level, old_propagate = logger.level, logger.propagate
    forward = _Forward(logger.getEffectiveLevel()) if old_propagate else None
    logger.addHandler(run.buffer)
    if forward is not None:
        logger.addHandler(forward)
        logger.propagate = False
    logger.setLevel(logging.DEBUG)
    # Packet traces (qdlpy.trace) stay off unless someone turned them on (-vv): a 16 GiB
    # pull sends tens of thousands of requests.
    trace = logging.getLogger("qdlpy.trace")
    old_trace = trace.level
    if old_trace == logging.NOTSET:
        trace.setLevel(logging.INFO)
    # Console handlers attached to "qdlpy" itself (the CLI's) keep their own levels.
    try:
        yield run
    finally:
        logger.removeHandler(run.buffer)
        run.buffer.close()
        if run.file is not None:
            logger.removeHandler(run.file)
            run.file.close()
            run.file.stream.close()
        if forward is not None:
            logger.removeHandler(forward)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        trace.setLevel(old_trace)
