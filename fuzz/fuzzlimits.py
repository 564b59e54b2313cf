"""The per-case rules every engine enforces: only QdlpyError may escape, a case has a time
limit, the process has a memory cap."""

from __future__ import annotations

import contextlib
import faulthandler
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["cap_memory", "run_case", "save_case", "ARTIFACTS"]

#: Where a case that broke a rule is written (the runner sets it per target).
ARTIFACTS: list[Path] = []


def cap_memory(megabytes: int) -> None:
    """Cap the address space: an unbounded allocation becomes MemoryError, a reported bug."""
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def save_case(data: bytes, kind: str) -> Path | None:
    if not ARTIFACTS:
        return None
    import hashlib

    path = ARTIFACTS[0] / f"{kind}-{hashlib.sha1(data).hexdigest()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"qdlpy-fuzz: wrote the case to {path}", file=sys.stderr, flush=True)
    return path


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Print every thread's stack if the case runs longer than ``seconds``
    (libFuzzer's -timeout, or the hypothesis engine's alarm, then ends the process)."""
    faulthandler.dump_traceback_later(seconds, exit=False)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def run_case(one_input: Callable[[bytes], None], data: bytes, seconds: float) -> None:
    """One case: QdlpyError is the allowed answer; anything else is saved and re-raised."""
    from qdlpy.errors import QdlpyError  # imported late: atheris instruments qdlpy first

    with _watchdog(seconds):
        try:
            one_input(data)
        except QdlpyError:
            pass
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                save_case(data, "escape")
            raise
