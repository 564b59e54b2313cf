"""How ``qdlpy watch`` shows its events: JSON lines, a live table, or log lines."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from qdlpy.cli.progress import human
from qdlpy.watcher import WatchEvent
from qdlpy.watcher import events as ev

log = logging.getLogger("qdlpy.cli.watch")


def emit_line(doc: dict[str, Any]) -> None:
    """One JSON object per line on stdout (``--json``), flushed at once for pipes."""
    sys.stdout.write(json.dumps(doc, default=str) + "\n")
    sys.stdout.flush()


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _rate(bytes_per_s: float | None) -> str:
    return f"{bytes_per_s / 2**20:.1f} MiB/s" if bytes_per_s else ""


def describe(event: WatchEvent) -> str | None:
    """The log line for an event (None: nothing worth a line)."""
    d = event.to_dict()
    key = event.device.key if event.device else ""
    where = d.get("output_dir")
    if event.kind == ev.DEVICE_SEEN:
        path = event.device.usb_path if event.device else None
        return f"{key}: device seen ({event.device.transport if event.device else ''}" + \
            (f" {path})" if path else ")")
    if event.kind == ev.DEVICE_GONE:
        return f"{key}: device gone"
    if event.kind == ev.PULL_STARTED:
        verb = "continuing" if d["resume"] else "pulling"
        return f"{key}: {verb} {d['regions']} regions ({human(d['total_bytes'])}) into {where}"
    if event.kind == ev.PULL_PAUSED:
        return (f"{key}: device lost mid-pull ({event.error}); {where} is continued when it "
                "comes back")
    if event.kind == ev.PULL_FINISHED:
        if event.status == "ok":
            return f"{key}: pulled: {where}"
        why = f": {event.error}" if event.error else ""
        return f"{key}: pull {event.status} (exit {d['exit_code']}){why}" + \
            (f"; saved so far: {where}" if where else "")
    if event.kind == ev.EXEC_FINISHED:
        return f"{key}: --exec exited with {d['exit_code']} after {d['seconds']:.1f} s"
    if event.kind == ev.WATCH_FINISHED:
        return (f"watch finished: {d['pulls']} pulls, {d['ok']} ok, {d['error']} not")
    return None


def progress_line(event: WatchEvent) -> str:
    d = event.to_dict()
    total = d["total_bytes"] or 1
    return (f"{event.device.key if event.device else ''}: {human(d['bytes_done'])}/"
            f"{human(d['total_bytes'])} {100 * d['bytes_done'] / total:.0f}% "
            f"{_rate(d['bytes_per_s'])} eta {_eta(d['eta_s'])}".rstrip())


class LogView:
    """Log lines (CI logs, journald); progress lines only when ``progress`` is set."""

    def __init__(self, progress: bool) -> None:
        self.progress = progress

    def __enter__(self) -> LogView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def show(self, event: WatchEvent) -> None:
        if event.kind == ev.PROGRESS:
            if self.progress:
                log.info("%s", progress_line(event))
            return
        line = describe(event)
        if line is None:
            return
        bad = event.kind == ev.PULL_FINISHED and event.status != "ok"
        log.log(logging.WARNING if bad else logging.INFO, "%s", line)


_STATES = {ev.DEVICE_SEEN: "present", ev.DEVICE_GONE: "gone", ev.PULL_STARTED: "pulling",
           ev.PULL_PAUSED: "paused (device lost)"}


class TableView(LogView):
    """One live table on the terminal: a row per device; event lines print above it."""

    def __init__(self, console: Console, root: Path) -> None:
        super().__init__(progress=False)
        self.root = root
        self.rows: dict[str, dict[str, str]] = {}
        self.live = Live(self._table(), console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> TableView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._table(), refresh=True)
        self.live.stop()

    def _row(self, event: WatchEvent) -> dict[str, str]:
        device = event.device
        assert device is not None
        row = self.rows.setdefault(device.key, {"device": device.key, "path": "",
                                                "state": "", "bytes": "", "rate": "",
                                                "eta": "", "folder": ""})
        row["path"] = device.usb_path or device.transport
        if event.output_dir is not None:
            folder = event.output_dir
            row["folder"] = str(folder.relative_to(self.root)
                                if folder.is_relative_to(self.root) else folder)
        return row

    def show(self, event: WatchEvent) -> None:
        if event.kind != ev.PROGRESS:
            super().show(event)
        if event.device is not None:
            self._update(self._row(event), event)
        self.live.update(self._table(), refresh=True)

    @staticmethod
    def _update(row: dict[str, str], event: WatchEvent) -> None:
        d = event.to_dict()
        if event.kind == ev.DEVICE_GONE and row["state"] not in ("", "present", "gone"):
            row["state"] = f"{row['state'].split(' (')[0]} (device gone)"
        elif event.kind in _STATES:
            row["state"] = _STATES[event.kind]
        if event.kind == ev.PULL_STARTED:
            row["total"] = human(d["total_bytes"])
            row["bytes"] = f"0/{row['total']}"
            row["rate"] = row["eta"] = ""
        elif event.kind == ev.PROGRESS:
            row["bytes"] = f"{human(d['bytes_done'])}/{human(d['total_bytes'])}"
            row["rate"], row["eta"] = _rate(d["bytes_per_s"]), _eta(d["eta_s"])
        elif event.kind == ev.PULL_FINISHED:
            row["state"] = str(event.status)
            row["rate"] = row["eta"] = ""
            if event.status == "ok":
                row["bytes"] = f"{row.get('total', '')}/{row.get('total', '')}"
        elif event.kind == ev.EXEC_FINISHED:
            row["state"] += f", exec {d['exit_code']}"

    def _table(self) -> Table:
        table = Table(title="qdlpy watch", expand=False)
        for name in ("device", "path", "state", "bytes", "rate", "ETA", "folder"):
            table.add_column(name, justify="right" if name in ("bytes", "rate") else "left",
                             no_wrap=name != "folder")
        for row in self.rows.values():
            table.add_row(*(escape(row[k]) for k in ("device", "path", "state", "bytes",
                                                     "rate", "eta", "folder")))
        return table
