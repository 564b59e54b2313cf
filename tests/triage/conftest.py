"""The triage tests' helpers are modules in this folder (pytest's importlib mode cannot
import test files from each other): ring models, an ELF builder and the oracles."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
