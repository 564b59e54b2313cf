"""qdlpy.log: every pull folder carries a debug log of its run, whatever the console shows."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path


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


@contextlib.contextmanager
def debug_log(path: Path) -> Iterator[None]:
    """Record the ``qdlpy`` logger at DEBUG into ``path`` without making the console chattier."""
    logger = logging.getLogger("qdlpy")
    old_level, old_propagate = logger.level, logger.propagate
    effective = logger.getEffectiveLevel()
    fh = logging.FileHandler(path, encoding="utf-8")
    fh.setLevel(logging.DEBUG)
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    forward = _Forward(effective) if old_propagate else None
    logger.addHandler(fh)
    if forward is not None:
        logger.addHandler(forward)
        logger.propagate = False
    logger.setLevel(logging.DEBUG)
    # The console handlers attached to "qdlpy" itself (the CLI's) keep their own levels.
    try:
        yield
    finally:
        logger.removeHandler(fh)
        fh.close()
        if forward is not None:
            logger.removeHandler(forward)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
