"""What a test gets for one generated real-kernel minidump, and the run's informational notes.

A module of its own (not conftest.py) so that conftest and the tests share one copy: with
``--import-mode=importlib`` a test importing ``conftest`` would get a second module object.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from generator.arch import ArchSpec

__all__ = ["KernelCase", "NOTES"]

NOTES: list[str] = []  # printed at the end of the run by conftest's pytest_terminal_summary


@dataclasses.dataclass(frozen=True)
class KernelCase:
    """One generated real-kernel minidump (see generator/pipeline.py for the layout)."""

    arch: ArchSpec
    out: Path
    expected: dict[str, Any]

    @property
    def vmlinux(self) -> Path:
        return Path(self.expected["vmlinux"])

    @property
    def crash(self) -> list[str]:
        """The argv prefix that runs a crash reading this architecture's cores."""
        return [str(part) for part in self.expected["crash_command"]]

    @property
    def reference(self) -> Path:
        return self.out / str(self.expected["reference_elf"])

    @property
    def reference_missing(self) -> Path:
        return self.out / str(self.expected["reference_missing_elf"])

    def folder(self, variant: str) -> Path:
        return self.out / str(self.expected["folders"][variant])

    def __str__(self) -> str:
        return self.arch.name
