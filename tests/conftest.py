"""Test-session setup shared by every area.

pytest runs in importlib mode (pyproject.toml), so test modules cannot import each other;
``tests/`` goes on ``sys.path`` here once, so any area can ``from helpers import ...``
(tests/helpers.py: the qdlpy console script as a subprocess, a ``qdlpy simulate`` fixture).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


@pytest.fixture(autouse=True)
def fresh_sim_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own in-process ``sim:`` devices (they persist per process by design)."""
    from qdlpy.transport import sim

    monkeypatch.setattr(sim, "_MODELS", {})


@pytest.fixture(autouse=True)
def restore_qdlpy_logging() -> Iterator[None]:
    """In-process ``main()`` adds a stderr handler per call; drop them after each test so a
    later test never logs into an earlier test's closed capture stream."""
    names = ("qdlpy", "qdlpy.trace")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in names}
    yield
    for n, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate
