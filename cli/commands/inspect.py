"""``qdlpy inspect FILE.elf|DIR``: what an ELF core or a dump folder holds, without crash.

JSON schema ``qdlpy.inspect/1`` (history: 1 = first version): ``status`` ok|warnings|error,
``path``, ``kind`` elf|folder, ``kernel`` (style, machine, osrelease, kerneloffset,
placements = the PT_LOAD -> region map, missing, unreferenced), ``vmcoreinfo`` (keys),
``notes``, ``file_size``/``expected_size``, ``address_source``/``entries`` (folder),
``encrypted``, ``warnings``.
"""

from __future__ import annotations

import click

from qdlpy.assemble import InspectReport, inspect
from qdlpy.cli import output as ui
from qdlpy.cli.commands._elf_view import kernel_summary, placements_table, print_lines
from qdlpy.cli.options import json_option

SCHEMA = "qdlpy.inspect/1"


@click.command("inspect")
@click.argument("path", metavar="FILE.elf|DIR", type=click.Path())
@json_option
def command(path: str, as_json: bool) -> None:
    """Show the PT_LOAD -> region map, vmcoreinfo keys and what is missing in an ELF or DIR.

    Exit codes: 0 shown (maybe with warnings), 10 unreadable input.
    """
    ui.start_json(SCHEMA if as_json else None)
    report = inspect(path)
    if as_json:
        ui.emit_json(ui.document(SCHEMA, report.to_dict()))
        return
    _human(report, ui.state().verbosity)


def _human(r: InspectReport, verbosity: int) -> None:
    lines = [f"{r.path}: {r.kind}"]
    if r.kind == "folder":
        lines.append(f"address source: {r.address_source}; {len(r.entries)} regions listed")
    else:
        lines.append(f"file size {r.file_size}, PT_LOADs need {r.expected_size}; notes: "
                     f"{', '.join(r.notes) or 'none'}")
    if r.encrypted:
        lines.append("ENCRYPTED minidump: qdlpy cannot assemble it")
    k = r.kernel
    if k is not None:
        lines.append(kernel_summary(k))
    print_lines(lines)
    if k is not None and k.placements:
        placements_table(k.placements, title="PT_LOAD -> region")
    tail: list[str] = []
    if k is not None and k.vmcoreinfo:
        keys = list(k.vmcoreinfo.items())
        shown = keys if verbosity > 0 else keys[:12]
        tail.append(f"vmcoreinfo ({len(keys)} keys):")
        tail += [f"  {key}={value}" for key, value in shown]
        if len(shown) < len(keys):
            tail.append(f"  ... {len(keys) - len(shown)} more (-v shows all)")
    if k is not None and k.unreferenced:
        tail.append(f"unreferenced md_K regions: {', '.join(k.unreferenced)}")
    print_lines(tail)
    print_lines([f"warning: {w}" for w in r.warnings], stderr=True)
