"""Test-session setup shared by every area.

pytest runs in importlib mode (pyproject.toml), so test modules cannot import each other;
``tests/`` goes on ``sys.path`` here once, so any area can ``from helpers import ...``
(tests/helpers.py: the qdlpy console script as a subprocess, a ``qdlpy simulate`` fixture).
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
