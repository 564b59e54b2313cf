"""The labgrid tests (tests/labgrid/): this folder goes on sys.path for ``labgrid_support``
(pytest's importlib mode keeps test files from importing each other)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
