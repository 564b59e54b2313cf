"""``qdlpy regions``: print the device's region table; the device keeps waiting."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from qdlpy.cli import output as ui
from qdlpy.cli.options import device_options, json_option
from qdlpy.cli.progress import human
from qdlpy.regions import read_regions

SCHEMA = "qdlpy.regions/1"


@click.command("regions")
@device_options
@json_option
def command(transport: str | None, serial: str | None, usb_path: str | None, timeout: float,
            as_json: bool) -> None:
    """Handshake in crash-dump mode and list the regions (no reset: pull can follow)."""
    ui.start_json(SCHEMA if as_json else None)
    result = read_regions(transport, serial=serial, usb_path=usb_path, timeout=timeout)
    if as_json:
        ui.emit_json(ui.document(SCHEMA, {"status": "ok", **result.to_dict()}))
        return
    table = Table(title=f"{len(result.table.regions)} regions "
                        f"({'64' if result.table.is64 else '32'}-bit table) on "
                        f"{result.identity.label()}")
    for col in ("#", "file", "base", "size", "kind", "id", "description"):
        table.add_column(col, justify="right" if col in ("#", "size", "id") else "left")
    for r in result.table.regions:
        n = r.name
        table.add_row(str(r.position), r.filename, f"0x{r.base:x}", human(r.length),
                      n.kind.value, "" if n.id is None else str(n.id), r.description)
    Console(markup=False, highlight=False, width=160).print(table)
