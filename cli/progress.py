"""Progress renderers for the CLI: rich bars on a terminal, plain lines in CI logs.

``auto`` picks rich when stderr is an interactive terminal and plain otherwise; under
--json nothing is drawn (ux-and-style.md §b7). Plain mode prints one line per region and
a status line every QDLPY_PROGRESS_INTERVAL seconds (default 10).
"""

from __future__ import annotations

import logging
import os
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from qdlpy.progress import NullProgress, ProgressSink

log = logging.getLogger("qdlpy.cli.progress")


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


class RichProgress:
    """One bar per region and one for the whole pull (binary units, MB/s, ETA)."""

    def __init__(self, console: Console, *, noun: str = "regions") -> None:
        self.noun = noun
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            DownloadColumn(binary_units=True), TransferSpeedColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        )
        self.total: TaskID | None = None
        self.current: TaskID | None = None

    def begin(self, total_bytes: int, regions: int) -> None:
        self.progress.start()
        self.total = self.progress.add_task(f"total ({regions} {self.noun})", total=total_bytes)

    def region_start(self, name: str, size: int, done: int) -> None:
        self.current = self.progress.add_task(escape(name), total=size, completed=done)
        if done and self.total is not None:
            self.progress.advance(self.total, done)

    def advance(self, n: int) -> None:
        if self.current is not None:
            self.progress.advance(self.current, n)
        if self.total is not None:
            self.progress.advance(self.total, n)

    def region_end(self, name: str, status: str) -> None:
        if self.current is not None and status != "complete":
            self.progress.update(self.current, description=escape(f"{name} [{status}]"))
        self.current = None

    def end(self) -> None:
        self.progress.stop()


class PlainProgress:
    """Log lines for non-terminals: one per region, plus a status line every ~10 s."""

    def __init__(self, interval: float | None = None, *, verb: str = "pulling",
                 noun: str = "regions") -> None:
        self.verb, self.noun = verb, noun
        self.interval = interval if interval is not None else float(
            os.environ.get("QDLPY_PROGRESS_INTERVAL", "10"))
        self.total = self.done = 0
        self.name = ""
        self.size = self.region_done = 0
        self.started = self.region_started = self.last = time.monotonic()

    def begin(self, total_bytes: int, regions: int) -> None:
        self.total = total_bytes
        self.started = self.last = time.monotonic()
        log.info("%s %d %s, %s", self.verb, regions, self.noun, human(total_bytes))

    def region_start(self, name: str, size: int, done: int) -> None:
        self.name, self.size, self.region_done = name, size, done
        self.done += done
        self.region_started = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        self.region_done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0
            pct = 100 * self.region_done / self.size if self.size else 100
            log.info("%s %s/%s %.0f%% %.1f MiB/s eta %d:%02d", self.name,
                     human(self.region_done), human(self.size), pct, rate / 2**20,
                     int(eta) // 60, int(eta) % 60)

    def region_end(self, name: str, status: str) -> None:
        secs = time.monotonic() - self.region_started
        rate = self.region_done / secs / 2**20 if secs > 0 else 0
        shown = human(self.size) if status == "complete" else \
            f"{human(self.region_done)} of {human(self.size)}"
        log.info("%s %s %s (%.1f MiB/s)", name, status, shown, rate)

    def end(self) -> None:
        if not self.total:
            return  # nothing was started (e.g. refused before the first byte)
        secs = time.monotonic() - self.started
        log.info("done: %s in %.1f s", human(self.done), secs)


def make_progress(mode: str, console: Console, as_json: bool, *, verb: str = "pulling",
                  noun: str = "regions") -> ProgressSink:
    if mode == "auto":
        mode = "none" if as_json else ("rich" if console.is_interactive else "plain")
    if mode == "rich":
        return RichProgress(console, noun=noun)
    if mode == "plain":
        return PlainProgress(verb=verb, noun=noun)
    return NullProgress()
