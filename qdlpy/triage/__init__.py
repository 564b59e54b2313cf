"""Field triage without vmlinux: the kernel log and a crash report from a dump alone.

``dmesg(path)`` reads the kernel log (vmcore-dmesg's output, byte for byte);
``report(path)`` adds which kernel it was, the panic and its call trace, taint, what the
dump lacks and what that costs. Both take an ELF core or a dump folder (assembled in
memory, nothing written). docs/triage.md explains the formats and rules.
"""

from __future__ import annotations

from .dmesg import DmesgResult, dmesg
from .records import Record
from .report import Report, report

__all__ = ["dmesg", "report", "DmesgResult", "Report", "Record"]
