"""``qdlpy list``: Qualcomm EDL / crash-dump devices on USB, without any protocol traffic."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from qdlpy.cli import output as ui
from qdlpy.cli.options import json_option

SCHEMA = "qdlpy.list/1"


@click.command("list")
@click.option("--serial", "-s", metavar="SN", help="Only the device with this serial.")
@click.option("--usb-path", "-p", metavar="BUS-PORT[.PORT]", help="Only the device at this port.")
@json_option
def command(serial: str | None, usb_path: str | None, as_json: bool) -> None:
    """List devices (vendor:product, serial, USB path, interface protocol, access).

    Devices are matched by their Sahara interface (class/subclass 0xff, protocol
    0xff/0x10/0x11/0x13), not by product id. A device without permission is listed
    with `access: denied` (see `qdlpy doctor`).
    """
    from qdlpy.transport.usb import list_usb_devices

    ui.start_json(SCHEMA if as_json else None)
    devices = [d for d in list_usb_devices()
               if (serial is None or d.serial == serial)
               and (usb_path is None or d.usb_path == usb_path)]
    if as_json:
        ui.emit_json(ui.document(SCHEMA, {"status": "ok",
                                          "devices": [d.to_dict() for d in devices]}))
        return
    if not devices:
        ui.state().console.print("no Qualcomm EDL / crash-dump device found "
                                 "(check the cable and the device's mode; `qdlpy doctor`)")
        return
    table = Table()
    for col in ("usb path", "vid:pid", "serial", "protocol", "access", "product"):
        table.add_column(col)
    for d in devices:
        table.add_row(d.usb_path or "?", f"{d.vid:04x}:{d.pid:04x}", d.serial or "-",
                      f"0x{d.interface_protocol:02x}", d.access, d.product or "")
    Console(markup=False, highlight=False).print(table)
