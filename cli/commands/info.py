"""``qdlpy info``: serial number, HW id, OEM PK hash and SBL version via command mode."""

from __future__ import annotations

import click
from rich.markup import escape

from qdlpy.cli import output as ui
from qdlpy.cli.options import device_options, json_option
from qdlpy.info import DUMP_SKIPPED, DumpLost, InfoResult, read_info

SCHEMA = "qdlpy.info/1"


@click.command("info")
@device_options
@click.option("--force", is_flag=True,
              help="Also query a crash-dump device (a device that refuses command mode then "
                   "accepts only RESET, which loses the dump).")
@json_option
def command(transport: str | None, serial: str | None, usb_path: str | None, timeout: float,
            force: bool, as_json: bool) -> None:
    """Read chip identity from Sahara command mode; the device is left waiting.

    Works on EDL (PBL) devices; leaves command mode with SWITCH_MODE, never RESET.
    Exit codes: 0 ok (fields a device refuses are listed as unavailable), 3 no device,
    6 protocol error, no command mode, or --force cost a crash dump.
    """
    ui.start_json(SCHEMA if as_json else None)
    try:
        result = read_info(transport, serial=serial, usb_path=usb_path, timeout=timeout,
                           force=force)
    except DumpLost as lost:
        # Show what was learnt, then fail (exit 6): the dump is gone, which is no success.
        if as_json:
            body = {k: v for k, v in lost.result.to_dict().items() if k != "status"}
            ui.emit_json(ui.error_document(SCHEMA, lost, body))
        else:
            _print(lost.result, ui.state())
        raise
    if as_json:
        ui.emit_json(ui.document(SCHEMA, result.to_dict()))
        return
    _print(result, ui.state())


def _print(result: InfoResult, st: ui.CliState) -> None:
    d = result.to_dict()
    sahara = d["sahara"]
    rows: list[tuple[str, str]] = [
        ("device", result.identity.label()),
        ("sahara", f"version {sahara['version']}, {sahara['mode_name']}"),
        ("serial number", d["serial_number"] or "-"),
    ]
    hw = d["hw_id"]
    if hw:
        rows += [("MSM_ID", hw["msm_id"]), ("OEM_ID", hw["oem_id"]),
                 ("MODEL_ID", hw["model_id"])]
    else:
        rows.append(("HW id", "-"))
    pk = d["oem_pk_hash"]
    rows.append(("OEM PK hash", f"{pk['hex']} ({pk['algorithm'] or 'unknown width'})"
                 if pk else "-"))
    rows.append(("SBL version", d["sbl_version"] or "-"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
    c = st.console
    for field, why in result.unavailable.items():
        c.print(f"[yellow]unavailable:[/] {escape(field)}: {escape(why)}")
    for w in result.warnings:
        # Skipping command mode on a dump device is expected; anything else went wrong.
        label = "note" if w == DUMP_SKIPPED else "warning"
        c.print(f"[yellow]{label}:[/] {escape(w)}")
