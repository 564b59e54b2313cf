"""What planning the kernel ELF produces, and the limits every planner shares."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from qdlpy.errors import InputError

from .folder import Entry
from .report import KernelInfo
from .writer import OutputPlan

__all__ = ["KernelResult", "read_bounded", "MAX_HEADER", "MAX_VMCOREINFO", "MAX_OUTPUT",
           "MAX_PAD"]

MAX_HEADER = 64 * 1024 * 1024  # a KELF is ~12-16 KiB, a downstream header tens of KiB
MAX_VMCOREINFO = 1024 * 1024  # the kernel's buffer is one page
MAX_OUTPUT = 1 << 40  # no minidump is a TiB: such offsets mean a corrupt header
MAX_PAD = 1 << 30  # zero-padding a short file by more than this means a corrupt header


@dataclasses.dataclass
class KernelResult:
    plan: OutputPlan
    info: KernelInfo
    unreferenced: list[Entry]  # md_K entries no PT_LOAD uses (go to a side ELF)
    vmcoreinfo: bytes | None = None  # the descriptor written (for the group ELFs' PT_NOTE)


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The whole file, InputError when it cannot be read or is over ``limit`` bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} ({path}): {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise InputError(f"{what} is over {limit} bytes; not a minidump header")
    return data
