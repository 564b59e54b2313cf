"""``qdlpy dmesg TARGET``: the kernel log of a dump, without vmlinux.

The default output is vmcore-dmesg's, byte for byte (docs/triage.md#output-format), so
scripts written for it keep working; what could not be read and any assumed layout are
said on stderr. JSON schema ``qdlpy.dmesg/1``: see ``qdlpy.triage.dmesg``.
"""

from __future__ import annotations

import sys

import click

from qdlpy.cli import output as ui
from qdlpy.cli.options import json_option
from qdlpy.triage.dmesg import DmesgResult, dmesg

SCHEMA = "qdlpy.dmesg/1"


@click.command("dmesg")
@click.argument("target", metavar="ELF|DIR", type=click.Path())
@click.option("-n", "--tail", type=click.IntRange(min=0), metavar="N",
              help="Only the last N records.")
@json_option
def command(target: str, tail: int | None, as_json: bool) -> None:
    """Print the kernel log of an ELF core or a dump folder, as vmcore-dmesg does.

    Reads the lockless printk ring (5.10+) or the older log_buf through VMCOREINFO, or a
    vendor minidump's md_KLOGBUF / md_LOG_DESC / md_LOG_INFO. A folder is assembled in
    memory; nothing is written. Exit codes: 0 printed (records that could not be proven
    are skipped and counted on stderr), 10 no readable log (the message names the missing
    VMCOREINFO key or region).
    """
    ui.start_json(SCHEMA if as_json else None)
    result = dmesg(target, tail=tail)
    if as_json:
        ui.emit_json(ui.document(SCHEMA, result.to_dict()))
        return
    sys.stdout.buffer.write(result.text())
    sys.stdout.flush()
    _notes(result, ui.state().verbosity)


def _notes(result: DmesgResult, verbosity: int) -> None:
    if result.assumed or verbosity > 0:
        sys.stderr.write(f"qdlpy dmesg: {result.layout_detail}\n")
    for w in result.warnings:
        sys.stderr.write(f"warning: {w}\n")
    if result.skipped:
        what = "; ".join(f"{n} {why}" for why, n in sorted(result.skipped.items()))
        sys.stderr.write(f"warning: {sum(result.skipped.values())} records skipped ({what})\n")
