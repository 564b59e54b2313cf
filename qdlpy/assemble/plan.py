"""What planning the kernel ELF produces, and the limits every planner shares."""

from __future__ import annotations

import dataclasses

from .folder import Entry
from .regionfile import open_region, read_bounded
from .report import KernelInfo
from .writer import OutputPlan

__all__ = ["KernelResult", "read_bounded", "open_region", "MAX_HEADER", "MAX_VMCOREINFO",
           "MAX_OUTPUT", "MAX_PAD"]

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
