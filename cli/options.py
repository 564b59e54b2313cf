"""Option decorators shared by the device commands (docs/design.md#waiting-for-a-device)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def device_options(func: F) -> F:
    """--transport, --serial, --usb-path, --timeout (each also from a QDLPY_* variable)."""
    decorators = [
        click.option("--transport", "-t", "transport", envvar="QDLPY_TRANSPORT",
                     show_envvar=True, metavar="URI",
                     help="usb (default), serial:/dev/ttyUSB0, chardev:PATH, tcp:HOST:PORT, "
                          "sim:SCENARIO (built-in simulator, e.g. sim:kmemdump)."),
        click.option("--serial", "-s", envvar="QDLPY_SERIAL", show_envvar=True, metavar="SN",
                     help="USB device whose iProduct carries _SN:SN."),
        click.option("--usb-path", "-p", envvar="QDLPY_USB_PATH", show_envvar=True,
                     metavar="BUS-PORT[.PORT]", help="USB device at this physical port."),
        click.option("--timeout", type=click.FloatRange(min=0), default=60.0,
                     envvar="QDLPY_TIMEOUT", show_envvar=True, show_default=True,
                     help="Seconds to wait for the device (0 = forever)."),
    ]
    for d in reversed(decorators):
        func = d(func)
    return func


def progress_option(what: str) -> Callable[[F], F]:
    """--progress auto|rich|plain|none, shared by the commands that move bulk data."""
    return click.option(
        "--progress", "progress_mode", default="auto", show_default=True,
        type=click.Choice(["auto", "rich", "plain", "none"]),
        help=f"Progress display (auto: {what} on a terminal, lines in logs, none with --json).")


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout (versioned schema).")(func)


def parse_size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from qdlpy.errors import QdlpyError
    from qdlpy.units import parse_size

    try:
        return parse_size(value)
    except QdlpyError as exc:
        raise click.BadParameter(exc.message) from exc
