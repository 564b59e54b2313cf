"""``qdlpy pull``: save every region of a crash-dump device and build minidump.elf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from qdlpy.cli import output as ui
from qdlpy.cli.options import device_options, json_option, parse_size_option, progress_option
from qdlpy.cli.progress import human, make_progress
from qdlpy.dump import ElfNotBuilt, PullResult, pull
from qdlpy.errors import QdlpyError
from qdlpy.formats.manifest import SCHEMA as MANIFEST_SCHEMA
from qdlpy.formats.manifest import Manifest

SCHEMA = MANIFEST_SCHEMA  # the JSON summary is the manifest plus the run's figures


@click.command("pull")
@device_options
@click.option("-o", "--output", type=click.Path(file_okay=False), metavar="DIR",
              help="Folder for the dump (default qdlpy-<serial|usb-path|scenario>-<UTC time>).")
@click.option("-r", "--region", "regions", multiple=True, metavar="GLOB",
              help="Only regions whose file name or description matches the glob, ignoring "
                   "case (repeatable; e.g. 'md_K*'). Selecting nothing is an error (exit 2).")
@click.option("-x", "--exclude", multiple=True, metavar="GLOB",
              help="Skip regions matching the glob (ignoring case; repeatable).")
@click.option("--resume", is_flag=True,
              help="Continue the pull in -o DIR (checks sizes and sha256) from the device it "
                   "came from: a stopped pull with its own --region/--exclude, a completed "
                   "selection with the regions it left (unless given again).")
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
                   "minidump pull, also one that stopped early (from the regions saved). A "
                   "full dump gets no ELF here (a second copy of all DDR): run `qdlpy "
                   "assemble DIR` for minidump-fulldump.elf.")
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

    `--resume` without a device option continues with the device the folder came from.
    SIGTERM and SIGHUP stop a pull as Ctrl-C does: the chunk in hand is saved, then
    minidump.elf is built from the regions saved so far.

    Exit codes: 0 complete, 2 usage, 3 no device, 4 permission, 5 busy, 6 device
    error/NAK, 7 transfer error (resume with --resume), 8 partial (--keep-going),
    9 output error (also: another pull holds the folder), 10 unusable folder (a damaged
    manifest), 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP.
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
        if "output_dir" in err.details:
            _failure(err, st, as_json)  # the summary of what was saved, with the error inside
        raise
    if as_json:
        ui.emit_json(result.to_dict())
        return
    _summary(result, st)


def _failure(err: QdlpyError, st: ui.CliState, as_json: bool) -> None:
    """A failed pull: under --json its document (the manifest's account of the folder plus
    the error), else the ELF built from what was saved."""
    folder = Path(str(err.details["output_dir"]))
    try:
        manifest = Manifest.load(folder)
    except QdlpyError:
        manifest = None
    if as_json:
        body = manifest.to_dict() if manifest is not None else {"status": "error"}
        body = {k: v for k, v in body.items() if k not in ("schema", "qdlpy_version")}
        ui.emit_json(ui.document(SCHEMA, {**body, "output_dir": str(folder),
                                          "error": err.to_dict()}))
    elif manifest is not None and manifest.elf and st.verbosity >= 0:
        _recorded_elf(manifest.elf, st.console)


def _recorded_elf(elf: dict[str, Any], c: Console) -> None:
    """The ELF a stopped pull built, from the manifest's record of it."""
    output = elf.get("output")
    if not output:
        return
    kernel = elf.get("kernel") or {}
    missing = kernel.get("regions_missing") or 0
    c.print(f"ELF from the regions saved: {escape(str(output))}"
            + (f" ({missing} kernel region(s) missing, listed in manifest.json's elf)"
               if missing else ""))


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
    outcome = result.assembly
    if isinstance(outcome, ElfNotBuilt):
        c.print(f"ELF {outcome.status}: {escape(outcome.reason)}")
    elif outcome is not None:
        for o in outcome.outputs:
            c.print(f"ELF: {escape(o.path)}")
        for cmd in outcome.next_commands:
            c.print(f"  next: {escape(cmd)}")
    _triage_summary((result.elf or {}).get("triage"), c)
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
    outcome = result.assembly
    elf_warnings = [] if outcome is None or isinstance(outcome, ElfNotBuilt) else \
        outcome.warnings
    for w in [*result.manifest.warnings, *elf_warnings]:
        c.print(f"[yellow]warning:[/] {escape(str(w))}")
