"""``qdlpy assemble DIR``: build minidump.elf (and group ELFs) from a dump folder, offline.

JSON schema ``qdlpy.assemble/1`` (history: 1 = first version): ``status`` ok|warnings|error,
``folder``, ``address_source``, ``output``, ``outputs[]``, ``kernel`` (osrelease,
kerneloffset, page_size, machine, placements, missing, unreferenced, repairs), ``holes[]``
(every region an ELF has no bytes of: elf, kind, index, filename, paddr, size, reason),
``groups``, ``warnings``, ``next_commands``; ``error`` on failure (exit 10 bad input, 9
output error).
"""

from __future__ import annotations

import click

from qdlpy.assemble import AssembleReport, assemble
from qdlpy.cli import output as ui
from qdlpy.cli.commands._elf_view import kernel_summary, placements_table, print_lines
from qdlpy.cli.options import json_option

SCHEMA = "qdlpy.assemble/1"


@click.command("assemble")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(), metavar="FILE",
              help="Kernel ELF to write (default DIR/minidump.elf); group ELFs go beside it.")
@click.option("--strict", is_flag=True,
              help="Refuse instead of repairing (missing/short/long/misaligned regions, "
                   "vmcoreinfo problems, corrupt notes).")
@click.option("--repair", is_flag=True,
              help="Rewrite corrupt CORE notes when the VMCOREINFO note header is intact.")
@click.option("--force", is_flag=True,
              help="Replace an existing file that is not qdlpy's output: an ELF core in DIR "
                   "other than the default outputs, any other -o FILE, or a symbolic link "
                   "(the link is replaced, never followed). Region files are never replaced.")
@json_option
def command(folder: str, output: str | None, strict: bool, repair: bool, force: bool,
            as_json: bool) -> None:
    """Assemble the minidump ELF for crash/gdb from DIR (qdlpy pull, qdl, edl or QPST output).

    Regions are matched to the kernel header's PT_LOADs by physical address (from
    manifest.json, dump_info.txt or load.cmm; else by id order and size) and written at
    their own offsets. Exit codes: 0 done (maybe with warnings), 9 output error,
    10 unusable input.
    """
    ui.start_json(SCHEMA if as_json else None)
    report = assemble(folder, output, strict=strict, repair=repair, force=force)
    if as_json:
        ui.emit_json(ui.document(SCHEMA, report.to_dict()))
        return
    _human(report, ui.state().verbosity)


def _human(report: AssembleReport, verbosity: int) -> None:
    if verbosity < 0:  # -q: only what needs attention
        print_lines([f"warning: {w}" for w in report.warnings], stderr=True)
        return
    lines: list[str] = []
    k = report.kernel
    if k is not None and report.output:
        lines.append(f"{report.output}: {kernel_summary(k)}")
    elif k is None:
        lines.append("no kernel minidump header (md_KELF*) in this dump")
    lines.append(f"address source: {report.address_source}")
    for o in report.outputs:
        lines.append(f"wrote {o.path} ({o.kind}, {o.regions} regions, {o.size} bytes)")
    if report.holes:
        lines.append(f"holes (no bytes, read as zeros): {len(report.holes)}: "
                     + ", ".join(h.filename or hex(h.paddr) for h in report.holes[:8])
                     + (" ..." if len(report.holes) > 8 else ""))
    print_lines(lines)
    if k is not None:
        rows = k.placements if verbosity > 0 else [p for p in k.placements if p.status != "ok"]
        if rows:
            placements_table(rows, title="PT_LOADs needing attention" if verbosity <= 0
                             else "PT_LOAD -> region")
    notes: list[str] = []
    if k is not None:
        notes += [f"repair: {r}" for r in k.repairs]
    notes += [f"warning: {w}" for w in report.warnings]
    print_lines(notes, stderr=True)
    if report.next_commands:
        print_lines(["next:", *(f"  {c}" for c in report.next_commands)])
