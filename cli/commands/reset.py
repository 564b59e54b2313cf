"""``qdlpy reset``: leave EDL or crash-dump mode (RESET); a crash dump needs --force."""

from __future__ import annotations

import click

from qdlpy.cli import output as ui
from qdlpy.cli.options import device_options, json_option
from qdlpy.reset import reset_device

SCHEMA = "qdlpy.reset/1"


@click.command("reset")
@device_options
@click.option("--force", is_flag=True,
              help="Reset even a device that holds a crash dump (the dump is lost).")
@json_option
def command(transport: str | None, serial: str | None, usb_path: str | None, timeout: float,
            force: bool, as_json: bool) -> None:
    """Send RESET: the device reboots out of download mode.

    A device still offering a crash dump is refused (exit 2) unless --force: pull it
    first. Exit codes: 0 reset, 2 refused (dump would be lost), 3 no device, 6 protocol
    error.
    """
    ui.start_json(SCHEMA if as_json else None)
    result = reset_device(transport, serial=serial, usb_path=usb_path, timeout=timeout,
                          force=force)
    if as_json:
        ui.emit_json(ui.document(SCHEMA, result.to_dict()))
        return
    what = (
        "reset"
        if result.acknowledged
        else "RESET sent (no RESET_RESP: it may have rebooted already)"
    )
    extra = "; the crash dump was discarded" if result.dump_discarded else ""
    if result.dump_maybe_discarded:
        # No HELLO came, so its mode is unknown: it may have been a crash-dump device.
        extra = "; the device sent no HELLO, so any crash dump it held was discarded"
    ui.state().console.print(
        f"{result.identity.label()}: {what}{extra}", markup=False, highlight=False
    )
