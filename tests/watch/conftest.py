"""The watch tests' support module (``watch_support``) goes on sys.path here.

pytest's importlib mode keeps test files from importing each other; tests/conftest.py adds
tests/ for ``helpers`` and gives every test fresh ``sim:`` devices and clean logging.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
