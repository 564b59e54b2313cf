"""``qdlpy doctor``: diagnose libusb, udev rule, permissions, kernel driver, ModemManager."""

from __future__ import annotations

import click

from qdlpy import doctor as doctor_api
from qdlpy.cli import output

SCHEMA = "qdlpy.doctor/1"
_MARK = {"ok": "[green]ok[/]  ", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]",
         "info": "[dim]info[/]"}


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True,
              help=f'One JSON document on stdout (schema "{SCHEMA}").')
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Check why a Qualcomm device cannot be used, and print how to fix each problem.

    Looks at the libusb library, the udev rule (and that it sorts before
    73-seat-late.rules), device node permissions, a kernel driver bound to the
    interface, ModemManager, and container setups. Sends nothing to the device.

    Exit status: 0 when no check failed (warnings allowed), 4 when a permission
    check failed (udev rule, device node access), 1 when another check failed.

    JSON schema history: qdlpy.doctor/1 has "status" ("ok" or "error"), "exit_code"
    and "findings": [{"id", "status" (ok|warn|fail|info), "summary", "detail", "fix"}].
    """
    output.start_json(SCHEMA if as_json else None)
    findings = doctor_api.diagnose()
    code = doctor_api.exit_code(findings)
    if as_json:
        output.emit_json(output.document(SCHEMA, {
            "status": "ok" if code == 0 else "error",
            "exit_code": code,
            "findings": [f.to_dict() for f in findings],
        }))
    else:
        # The report is the command's data: it goes to stdout (docs/design.md#output-streams).
        from rich.console import Console
        from rich.markup import escape

        con = Console(highlight=False, soft_wrap=True)
        for f in findings:
            con.print(f"{_MARK[f.status]} {escape(f.summary)}")
            if f.detail:
                con.print(f"      [dim]{escape(f.detail)}[/]")
            if f.fix and f.status in ("warn", "fail"):
                con.print(f"      fix: {escape(f.fix)}")
    ctx.exit(code)
