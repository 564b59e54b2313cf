"""Fixtures of the watch tests (tests/watch/): isolated simulated devices and logging.

pytest's importlib mode keeps test files from importing each other, so this folder (for
``watch_support``) goes on sys.path here (tests/conftest.py adds tests/ for ``helpers``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(autouse=True)
def fresh_sim_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own in-process ``sim:`` devices (they persist per process by design)."""
    from qdlpy.transport import sim

    monkeypatch.setattr(sim, "_MODELS", {})


@pytest.fixture(autouse=True)
def restore_qdlpy_logging() -> Iterator[None]:
    """In-process ``main()`` adds a stderr handler per call; drop them after each test."""
    names = ("qdlpy", "qdlpy.trace")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in names}
    yield
    for n, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate
