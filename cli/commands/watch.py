"""``qdlpy watch``: wait for crash-dump devices and pull each one, many at once."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

import click

from qdlpy.cli import output as ui
from qdlpy.cli.options import parse_size_option, progress_option
from qdlpy.errors import QdlpyError
from qdlpy.watcher import SCHEMA, WatchEvent, watch
from qdlpy.watcher import events as ev

from ._watch_view import LogView, TableView, emit_line

log = logging.getLogger("qdlpy.cli.watch")

#: Seconds between progress reports when QDLPY_PROGRESS_INTERVAL does not say.
DEFAULT_INTERVAL = {"json": 2.0, "rich": 1.0, "plain": 10.0, "none": 10.0}


class _Stopper:
    """SIGINT/SIGTERM: the first stops every pull cleanly, a second one stops at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()
        log.warning("%s: stopping; every pull saves its state first (again to stop at once)",
                    signal.Signals(signum).name)

    @contextmanager
    def installed(self) -> Iterator[None]:
        old = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


def _interval(mode: str) -> float:
    text = os.environ.get("QDLPY_PROGRESS_INTERVAL")
    try:
        return float(text) if text else DEFAULT_INTERVAL[mode]
    except ValueError:
        return DEFAULT_INTERVAL[mode]


@click.command("watch")
@click.option("-o", "--output", "root", required=True, metavar="ROOT",
              type=click.Path(file_okay=False),
              help="Pull each device into ROOT/<serial|usb-path|host-port>/<UTC time>/.")
@click.option("--transport", "-t", "transports", multiple=True, metavar="URI",
              help="One more device to serve, e.g. tcp:HOST:PORT (repeatable). Without it, "
                   "every Sahara USB device is served as it appears (`usb` adds that back).")
@click.option("--serial", "-s", "serials", multiple=True, metavar="SN",
              help="Serve only USB devices with this serial (repeatable).")
@click.option("--usb-path", "-p", "usb_paths", multiple=True, metavar="BUS-PORT[.PORT]",
              help="Serve only USB devices at this port (repeatable).")
@click.option("--count", type=click.IntRange(min=0), default=0, show_default=True,
              help="Exit after this many pulls have finished (0: run until stopped).")
@click.option("--max-parallel", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pulls running at once (0: no limit).")
@click.option("--exec", "exec_command", metavar="CMD",
              help="Shell command run after each pull with QDLPY_DUMP_DIR, QDLPY_STATUS, "
                   "QDLPY_EXIT_CODE, QDLPY_SERIAL, QDLPY_USB_PATH, QDLPY_DEVICE set.")
@click.option("-r", "--region", "regions", multiple=True, metavar="GLOB",
              help="Only regions whose file name or description matches (repeatable).")
@click.option("-x", "--exclude", multiple=True, metavar="GLOB", help="Skip matching regions.")
@click.option("--after", type=click.Choice(["reset", "none"]), default=None,
              help="After a complete pull: reset the device (default once every region is "
                   "saved), or leave it waiting.")
@click.option("--chunk-size", callback=parse_size_option, metavar="N",
              help="Bytes per MEMORY_READ (default 512K on usb/tcp, 32K on ttys; max 1M).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds a pull waits for a device that dropped off before pausing (it is "
                   "continued in the same folder whenever the device comes back).")
@click.option("--io-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the data of one read before retrying.")
@click.option("--keep-going", is_flag=True,
              help="Go on past a region that keeps timing out; such a pull exits 8.")
@click.option("--elf/--no-elf", default=True, show_default=True,
              help="Assemble minidump.elf after each pull.")
@click.option("--report/--no-report", "report", default=True, show_default=True,
              help="Write dmesg.txt and report.json beside each minidump.elf.")
@progress_option("a live table")
@click.option("--json", "as_json", is_flag=True,
              help=f"One JSON object per line per event on stdout (schema {SCHEMA}).")
def command(root: str, transports: tuple[str, ...], serials: tuple[str, ...],
            usb_paths: tuple[str, ...], count: int, max_parallel: int,
            exec_command: str | None, regions: tuple[str, ...], exclude: tuple[str, ...],
            after: str | None, chunk_size: int | None, timeout: float, io_timeout: float,
            keep_going: bool, elf: bool, report: bool, progress_mode: str,
            as_json: bool) -> None:
    """Wait for crash-dump devices and pull each one, concurrently, until stopped.

    Every pull follows `qdlpy pull`'s folder contract. A device that drops off mid-pull
    and comes back is continued in the same folder; one that comes back after its dump
    was pulled is a new crash and gets a new folder.

    Exit codes: 0 every pull complete, otherwise the highest exit code of a failed pull
    (see `qdlpy pull --help`); 130 after SIGINT, 143 after SIGTERM (pulls stop cleanly,
    manifests say interrupted).
    """
    st = ui.state()
    mode = "json" if as_json else progress_mode
    if mode == "auto":
        mode = "rich" if st.console.is_interactive else "plain"
    _prefix_device_logs()
    stopper = _Stopper()
    try:
        events = watch(root, transports=transports, serials=serials, usb_paths=usb_paths,
                       count=count, max_parallel=max_parallel, exec_command=exec_command,
                       regions=regions, exclude=exclude, after=after, chunk_size=chunk_size,
                       timeout=timeout, io_timeout=io_timeout, elf=elf, keep_going=keep_going,
                       report=report,
                       progress_interval=_interval(mode), stop=stopper.event)
        view = TableView(st.console, Path(root)) if mode == "rich" else \
            LogView(progress=mode == "plain")
        last = _run(events, view, stopper, as_json)
    except QdlpyError as err:
        if as_json:
            emit_line(ui.document(SCHEMA, {"event": ev.WATCH_FINISHED, "time": ev.utc_now(),
                                           "status": "error",
                                           "exit_code": err.exit_code,
                                           "error": err.to_dict()}))
        raise
    if stopper.signum is not None:
        raise click.exceptions.Exit(stopper.exit_code)
    code = int(last.to_dict().get("exit_code", 0)) if last is not None else 0
    if code:
        raise click.exceptions.Exit(code)


def _run(events: Generator[WatchEvent, None, None], view: LogView, stopper: _Stopper,
         as_json: bool) -> WatchEvent | None:
    """Show every event; returns the last one (watch-finished)."""
    last: WatchEvent | None = None
    try:
        with stopper.installed(), view:
            for event in events:
                last = event
                if as_json:
                    emit_line(event.to_dict())
                else:
                    view.show(event)
    except KeyboardInterrupt:
        with suppress(BaseException):  # end the watch without waiting for its pulls
            events.throw(KeyboardInterrupt())
        sys.stderr.write("stopped at once: pulls still running were not saved cleanly\n")
        raise click.exceptions.Exit(stopper.exit_code) from None
    return last


class _DevicePrefix(logging.Formatter):
    """Prefixes the lines a pull thread logs with its device (several pulls share stderr)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        thread = record.threadName or ""
        if thread.startswith("qdlpy-watch:") and not record.name.startswith("qdlpy.watch"):
            return f"{thread.split(':')[1]}: {text}"
        return text


def _prefix_device_logs() -> None:
    for handler in logging.getLogger("qdlpy").handlers:
        if getattr(handler, "_qdlpy_cli", False) and not isinstance(handler.formatter,
                                                                    _DevicePrefix):
            handler.setFormatter(_DevicePrefix(handler.formatter))
