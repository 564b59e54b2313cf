"""Progress renderers for the CLI: rich bars on a terminal, plain lines in CI logs.

Rates count the bytes this run moved (a resumed region's bytes already on disk do not
make it look fast) and use the binary units the sizes use (MiB/s beside MiB).

``auto`` picks rich when stderr is an interactive terminal and plain otherwise; under
--json nothing is drawn (docs/design.md#progress). Plain mode prints one line per region and
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
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from qdlpy.progress import NullProgress, ProgressSink

log = logging.getLogger("qdlpy.cli.progress")


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


class _Rate:
    """Bytes actually transferred per second since ``start()``: resumed bytes, which are
    already on disk, count toward the position but never toward the rate."""

    def __init__(self) -> None:
        self.moved = 0
        self.started = time.monotonic()

    def start(self) -> None:
        self.moved, self.started = 0, time.monotonic()

    def per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.moved / elapsed if elapsed > 0 else 0.0


class _RateColumn(ProgressColumn):
    """Transfer rate in binary units, the ones the sizes beside it use (MiB/s beside MiB)."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text(f"{human(rate)}/s" if rate else "?", style="progress.data.speed")


class _EtaColumn(ProgressColumn):
    """Time left at the rate actually measured (resumed bytes do not make it look fast)."""

    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        if not rate or task.total is None:
            return Text("-:--:--", style="progress.remaining")
        left = int(max(0.0, task.total - task.completed) / rate)
        return Text(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}",
                    style="progress.remaining")


class RichProgress:
    """Two bars: the whole transfer, and the region (or image) moving now.

    A kmemdump pull has 55 regions: one bar each would scroll the screen full of finished
    bars, so the second bar is reused; a region that does not complete is reported by the
    log line the pull writes for it.
    """

    def __init__(self, console: Console, *, noun: str = "regions") -> None:
        self.noun = noun
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(),
            DownloadColumn(binary_units=True), _RateColumn(), _EtaColumn(),
            console=console, transient=False,
        )
        self.total: TaskID | None = None
        self.current: TaskID | None = None
        self.total_rate, self.region_rate = _Rate(), _Rate()

    def begin(self, total_bytes: int, regions: int) -> None:
        self.progress.start()
        self.total_rate.start()
        self.total = self.progress.add_task(f"total ({regions} {self.noun})", total=total_bytes,
                                            rate=None)

    def region_start(self, name: str, size: int, done: int) -> None:
        self.region_rate.start()
        if self.current is None:
            self.current = self.progress.add_task(escape(name), total=size, completed=done,
                                                  rate=None)
        else:
            self.progress.reset(self.current, total=size, completed=done,
                                description=escape(name), rate=None)
        if done and self.total is not None:
            self.progress.advance(self.total, done)

    def advance(self, n: int) -> None:
        self.total_rate.moved += n
        self.region_rate.moved += n
        if self.current is not None:
            self.progress.update(self.current, advance=n, rate=self.region_rate.per_second())
        if self.total is not None:
            self.progress.update(self.total, advance=n, rate=self.total_rate.per_second())

    def region_end(self, name: str, status: str) -> None:
        if self.current is not None and status != "complete":
            self.progress.update(self.current, description=escape(f"{name} [{status}]"))

    def end(self) -> None:
        self.progress.stop()


class PlainProgress:
    """Log lines for non-terminals: one per region, plus a status line every ~10 s."""

    def __init__(self, interval: float | None = None, *, verb: str = "pulling",
                 noun: str = "regions") -> None:
        self.verb, self.noun = verb, noun
        self.interval = interval if interval is not None else float(
            os.environ.get("QDLPY_PROGRESS_INTERVAL", "10"))
        self.total = self.done = self.read = 0  # done: on disk; read: moved by this run
        self.name = ""
        self.size = self.region_done = self.region_read = 0
        self.started = self.region_started = self.last = time.monotonic()

    def begin(self, total_bytes: int, regions: int) -> None:
        self.total = total_bytes
        self.started = self.last = time.monotonic()
        log.info("%s %d %s, %s", self.verb, regions, self.noun, human(total_bytes))

    def region_start(self, name: str, size: int, done: int) -> None:
        self.name, self.size, self.region_done, self.region_read = name, size, done, 0
        self.done += done
        self.region_started = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        self.read += n
        self.region_done += n
        self.region_read += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self.read / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0
            pct = 100 * self.region_done / self.size if self.size else 100
            log.info("%s %s/%s %.0f%% %s/s eta %d:%02d", self.name,
                     human(self.region_done), human(self.size), pct, human(rate),
                     int(eta) // 60, int(eta) % 60)

    def region_end(self, name: str, status: str) -> None:
        secs = time.monotonic() - self.region_started
        rate = self.region_read / secs if secs > 0 else 0
        shown = human(self.size) if status == "complete" else \
            f"{human(self.region_done)} of {human(self.size)}"
        log.info("%s %s %s (%s/s)", name, status, shown, human(rate))

    def end(self) -> None:
        if not self.total:
            return  # nothing was started (e.g. refused before the first byte)
        secs = time.monotonic() - self.started
        log.info("done: %s in %.1f s (%s read at %s/s)", human(self.done), secs,
                 human(self.read), human(self.read / secs if secs > 0 else 0))


def make_progress(mode: str, console: Console, as_json: bool, *, verb: str = "pulling",
                  noun: str = "regions") -> ProgressSink:
    if mode == "auto":
        mode = "none" if as_json else ("rich" if console.is_interactive else "plain")
    if mode == "rich":
        return RichProgress(console, noun=noun)
    if mode == "plain":
        return PlainProgress(verb=verb, noun=noun)
    return NullProgress()
