"""Scratch space for harnesses that write files: one fresh folder per case, on tmpfs when
the machine has one, removed after the case."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["scratch", "root", "cleanup"]

_ROOT: Path | None = None


def root() -> Path:
    """This process's scratch root (created on first use, removed at exit by the runner)."""
    global _ROOT
    if _ROOT is None:
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        _ROOT = Path(tempfile.mkdtemp(prefix="qdlpy-fuzz-", dir=base))
    return _ROOT


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """An empty folder for one case."""
    path = Path(tempfile.mkdtemp(dir=root()))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cleanup() -> None:
    if _ROOT is not None:
        shutil.rmtree(_ROOT, ignore_errors=True)
