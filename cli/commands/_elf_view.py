"""Rendering shared by ``qdlpy assemble`` and ``qdlpy inspect`` (no markup).

What was found goes to stdout; ``warning:`` / ``repair:`` lines go to stderr (data on
stdout, diagnostics on stderr, so `> file` keeps only the data).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from qdlpy.assemble import KernelInfo, Placement


def _console(stderr: bool = False) -> Console:
    return Console(markup=False, highlight=False, soft_wrap=True, stderr=stderr)


def print_lines(lines: list[str], *, stderr: bool = False) -> None:
    c = _console(stderr)
    for line in lines:
        c.print(line)


def kernel_summary(k: KernelInfo) -> str:
    placed, missing = len(k.placed), len(k.missing)
    parts = [f"{k.style} kernel minidump, {k.machine}",
             f"release {k.osrelease or '?'}",
             f"{placed} regions placed" + (f", {missing} missing" if missing else "")]
    if k.kerneloffset is not None:
        parts.append(f"KERNELOFFSET 0x{k.kerneloffset:x}")
    if k.page_size is not None:
        parts.append(f"page size {k.page_size}")
    if k.style == "kmemdump":
        parts.append(f"vmcoreinfo {k.vmcoreinfo_status}")
    if k.unreferenced:
        parts.append(f"{len(k.unreferenced)} unreferenced")
    return "; ".join(parts)


def placements_table(rows: list[Placement], *, title: str) -> None:
    table = Table(title=title)
    for col in ("#", "region", "paddr", "vaddr", "offset", "filesz", "memsz", "status", "detail"):
        table.add_column(col, justify="right" if col in ("#", "offset", "filesz", "memsz")
                         else "left")
    for p in rows:
        table.add_row(str(p.index), p.filename or "-", f"0x{p.paddr:x}", f"0x{p.vaddr:x}",
                      str(p.offset), str(p.filesz), str(p.memsz), p.status, p.detail)
    Console(markup=False, highlight=False, width=200).print(table)
