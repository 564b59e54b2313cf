"""``qdlpy pull``: save every region of a crash-dump device and build minidump.elf."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from qdlpy.cli import output as ui
from qdlpy.cli.options import device_options, json_option, parse_size_option, progress_option
from qdlpy.cli.progress import human, make_progress
from qdlpy.dump import PullResult, pull
from qdlpy.errors import QdlpyError
from qdlpy.formats.manifest import Manifest

SCHEMA = "qdlpy.pull/1"


@click.command("pull")
@device_options
@click.option("-o", "--output", type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the dump (default qdlpy-<serial|usb-path|scenario>-<UTC time>).")
@click.option("-r", "--region", "regions", multiple=True, metavar="GLOB",
              help="Only regions whose file name or description matches the glob, ignoring "
                   "case (repeatable; e.g. 'md_K*'). Selecting nothing is an error (exit 2).")
@click.option("-x", "--exclude", multiple=True, metavar="GLOB",
              help="Skip regions matching the glob (ignoring case; repeatable).")
@click.option("--resume", is_flag=True, help="Continue the pull in -o DIR (checks sizes and sha256).")
@click.option("--force", is_flag=True,
              help="Pull into a non-empty -o DIR that holds no qdlpy pull: its files are kept "
                   "and never replaced (a clashing region name gets a ~2 suffix). A folder "
                   "with a pull's manifest.json is refused: continue it with --resume.")
@click.option("--after", type=click.Choice(["reset", "none"]), default=None,
              help="After a complete pull: reset the device, or leave it waiting. Default: "
                   "reset once every region is saved; keep waiting when --region/--exclude "
                   "left some on the device.")
@click.option("--chunk-size", callback=parse_size_option, metavar="N",
              help="Bytes per MEMORY_READ (default 512K on usb/tcp, 32K on ttys; max 1M).")
@click.option("--io-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the data of one read before retrying.")
@click.option("--keep-going", is_flag=True,
              help="Go on past a region that keeps timing out; exit 8 if any failed.")
@click.option("--elf/--no-elf", default=True, show_default=True,
              help="Assemble minidump.elf (and the small subsystem/firmware ELFs) after a "
                   "minidump pull. A full dump gets no ELF here (a second copy of all DDR): "
                   "run `qdlpy assemble DIR` for minidump-fulldump.elf.")
@click.option("--report/--no-report", "triage", default=True, show_default=True,
              help="Write dmesg.txt and report.json beside minidump.elf (kernel minidumps).")
@progress_option("bars")
@json_option
def command(transport: str | None, serial: str | None, usb_path: str | None, timeout: float,
            output: str | None, regions: tuple[str, ...], exclude: tuple[str, ...],
            resume: bool, force: bool, after: str | None, chunk_size: int | None,
            io_timeout: float, keep_going: bool, elf: bool, triage: bool, progress_mode: str,
            as_json: bool) -> None:
    """Pull the crash dump: every region to -o DIR, with manifest.json and minidump.elf.

    Exit codes: 0 complete, 2 usage, 3 no device, 4 permission, 5 busy, 6 device
    error/NAK, 7 transfer error (resume with --resume), 8 partial (--keep-going),
    9 output error, 130 interrupted.
    """
    st = ui.state()
    ui.start_json(SCHEMA if as_json else None)
    sink = make_progress(progress_mode, st.console, as_json)
    try:
        result = pull(transport, serial=serial, usb_path=usb_path, output=output,
                      regions=regions, exclude=exclude, resume=resume, force=force, after=after,
                      chunk_size=chunk_size, timeout=timeout, io_timeout=io_timeout, elf=elf,
                      report=triage, keep_going=keep_going, progress=sink)
    except QdlpyError as err:
        if as_json and "output_dir" in err.details:
            _emit_failure(err)  # the summary of what was saved, with the error inside
        raise
    if as_json:
        ui.emit_json(result.to_dict())
        return
    _summary(result, st)


def _emit_failure(err: QdlpyError) -> None:
    """A failed pull's --json document: the manifest's account of the folder plus the error."""
    folder = Path(str(err.details["output_dir"]))
    try:
        body = Manifest.load(folder).to_dict()
    except QdlpyError:
        body = {"status": "error"}
    body = {k: v for k, v in body.items() if k not in ("schema", "qdlpy_version")}
    ui.emit_json(ui.document(SCHEMA, {**body, "output_dir": str(folder),
                                      "error": err.to_dict()}))


def _summary(result: PullResult, st: ui.CliState) -> None:
    c = st.console
    if st.verbosity < 0:  # -q: warnings only; the folder on stdout is the command's data
        _warnings(result, c)
        click.echo(str(result.output_dir))
        return
    regions = result.regions
    done = [r for r in regions if r.status == "complete"]
    skipped = [r for r in regions if r.status == "skipped"]
    c.print(f"[bold]{len(done)}[/] regions saved ({human(sum(r.length for r in done))}) in "
            f"{escape(str(result.output_dir))}"
            + (f", {len(skipped)} skipped" if skipped else ""))
    elf = result.elf or {}
    outputs = elf.get("outputs") if isinstance(elf, dict) else None
    if outputs:
        for o in outputs:
            path = o.get("path", o) if isinstance(o, dict) else o
            c.print(f"ELF: {escape(str(path))}")
    if isinstance(elf, dict) and elf.get("status") in ("skipped", "error"):
        why = elf.get("reason") or (elf.get("error") or {}).get("message", "")
        c.print(f"ELF {elf['status']}: {escape(str(why))}")
    for cmd in (elf.get("next_commands") or []) if isinstance(elf, dict) else []:
        c.print(f"  next: {escape(str(cmd))}")
    _triage_summary(elf.get("triage") if isinstance(elf, dict) else None, c)
    _warnings(result, c)
    click.echo(str(result.output_dir))


def _triage_summary(triage: object, c: Console) -> None:
    """The panic line and the triage files (qdlpy.triage.pullfiles)."""
    if not isinstance(triage, dict):
        return
    if triage.get("status") == "error":
        c.print(f"[yellow]warning:[/] no triage files: {escape(str(triage.get('error')))}")
        return
    files = [str(triage[k]) for k in ("dmesg", "report") if triage.get(k)]
    if files:
        c.print(f"triage: {escape(', '.join(files))}")
    if triage.get("panic_line"):
        c.print(f"[bold red]panic:[/] {escape(str(triage['panic_line']))}")
    elif triage.get("log"):
        c.print("no panic or oops in the log")
    for w in triage.get("warnings") or []:
        c.print(f"[yellow]warning:[/] {escape(str(w))}")


def _warnings(result: PullResult, c: Console) -> None:
    elf = result.elf if isinstance(result.elf, dict) else {}
    for w in [*result.manifest.warnings, *(elf.get("warnings") or [])]:
        c.print(f"[yellow]warning:[/] {escape(str(w))}")
