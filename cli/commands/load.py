"""``qdlpy load``: upload a programmer (image 13) and more images in EDL mode."""

from __future__ import annotations

import click
from rich.markup import escape

from qdlpy.cli import output as ui
from qdlpy.cli.options import device_options, json_option, progress_option
from qdlpy.cli.progress import human, make_progress
from qdlpy.load import PROGRAMMER_ID, LoadResult, load

SCHEMA = "qdlpy.load/1"


def _parse_image(ctx: click.Context, param: click.Parameter,
                 values: tuple[str, ...]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for value in values:
        ident, sep, path = value.partition(":")
        try:
            image_id = int(ident, 0)
        except ValueError:
            image_id = -1
        if not sep or not path or image_id < 0:
            raise click.BadParameter(f"{value!r} is not ID:FILE (e.g. 21:extra.mbn)")
        out.append((image_id, path))
    return out


@click.command("load")
@device_options
@click.argument("programmer", type=click.Path(dir_okay=False), required=False)
@click.option("--image", "images", multiple=True, metavar="ID:FILE", callback=_parse_image,
              help="Serve FILE when the device asks for image ID (repeatable).")
@click.option("--programmer-id", type=click.IntRange(0, 0xFFFFFFFF), default=PROGRAMMER_ID,
              show_default=True, help="Image id of PROGRAMMER (13 = Firehose programmer).")
@click.option("--io-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the device's next request.")
@progress_option("a bar")
@json_option
def command(transport: str | None, serial: str | None, usb_path: str | None, timeout: float,
            programmer: str | None, images: list[tuple[int, str]], programmer_id: int,
            io_timeout: float, progress_mode: str, as_json: bool) -> None:
    """Upload PROGRAMMER (ELF or MBN) to a device in EDL (image-transfer) mode.

    The device asks for byte ranges; qdlpy serves them from the files. Exit codes:
    0 loaded, 2 bad arguments or the device asked for an image that was not given,
    3 no device, 6 NAK (e.g. 0x21: wrong programmer for a secure device) or crash-dump
    device, 10 the device asked for bytes past the end of a file.
    """
    st = ui.state()
    ui.start_json(SCHEMA if as_json else None)
    sink = make_progress(progress_mode, st.console, as_json, verb="uploading", noun="images")
    result = load(programmer, images, programmer_id=programmer_id, transport=transport,
                  serial=serial, usb_path=usb_path, timeout=timeout, io_timeout=io_timeout,
                  progress=sink)
    if as_json:
        ui.emit_json(ui.document(SCHEMA, result.to_dict()))
        return
    _summary(result, st)


def _summary(result: LoadResult, st: ui.CliState) -> None:
    c = st.console
    for img in result.images:
        c.print(f"image {img.image_id}: {escape(str(img.path))} {img.status}, "
                f"{human(img.bytes_sent)} in {img.requests} requests")
    note = (" (DONE_RESP said pending after the only image: tolerated)"
            if result.done_status != "complete" else "")
    c.print(f"loaded {human(result.bytes_sent)} in {result.seconds:.2f} s{note}")
