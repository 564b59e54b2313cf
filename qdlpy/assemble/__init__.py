"""Minidump ELF assembly and inspection (docs/formats.md#how-the-kernel-elf-is-assembled).

``assemble(folder)`` turns a dump folder (``qdlpy pull``, qdl, edl or QPST/PCAT output)
into ``minidump.elf`` for crash/gdb plus one generic ELF per other region group;
``inspect(path)`` explains an ELF or a folder without running crash.
"""

from __future__ import annotations

from .api import DEFAULT_OUTPUT, assemble, inspect
from .report import AssembleReport, InspectReport, KernelInfo, OutputFile, Placement

__all__ = ["assemble", "inspect", "AssembleReport", "InspectReport", "KernelInfo", "OutputFile",
           "Placement", "DEFAULT_OUTPUT"]
