"""The fuzz targets: one module per surface that takes bytes from outside.

Each module defines ``NAME``, ``seeds() -> list[bytes]`` (a starting corpus) and
``one_input(data: bytes) -> None``, which must return or raise ``QdlpyError`` for every
input; anything else (another exception, a hang, unbounded memory) is a bug that
``fuzz/run.py`` reports.
"""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace
from typing import Any

__all__ = ["TARGETS", "CANARIES", "load"]

# name -> module under fuzz/fuzztargets/
TARGETS: dict[str, str] = {
    "packets": "packets",
    "table": "table",
    "host": "host",
    "pull": "pull",
    "assemble": "assemble",
    "inspect": "inspect_elf",
    "triage": "triage",
}


# Run only when named: each breaks one rule, to show that the runner reports it.
CANARIES = ("canary-escape", "canary-hang", "canary-memory")


def load(name: str) -> Any:
    """The target's module (or, for a canary, an object with the same three names)."""
    if name in CANARIES:
        canary: ModuleType = importlib.import_module("fuzztargets.canary")
        return SimpleNamespace(NAME=name, seeds=canary.seeds,
                               one_input=getattr(canary, name.split("-", 1)[1]))
    return importlib.import_module(f"fuzztargets.{TARGETS[name]}")
