"""Progress reporting as a protocol the library calls and front ends implement.

The library never draws anything: ``qdlpy.pull`` calls a ProgressSink; the CLI renders it
with rich (terminals) or plain periodic lines (CI logs), scripts and notebooks can use
``qdlpy.cli.tqdm_progress.TqdmProgress``.
"""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def begin(self, total_bytes: int, regions: int) -> None:
        """Called once, after the table is known; ``total_bytes`` covers selected regions."""

    def region_start(self, name: str, size: int, done: int) -> None:
        """A region starts; ``done`` bytes of it are already on disk (resume)."""

    def advance(self, n: int) -> None:
        """``n`` more bytes of the current region are safely written."""

    def region_end(self, name: str, status: str) -> None:
        """The region ended as complete / partial / failed / skipped."""

    def end(self) -> None:
        """The pull is over (whatever the outcome)."""


class NullProgress:
    """The default sink: reports nothing."""

    def begin(self, total_bytes: int, regions: int) -> None:
        pass

    def region_start(self, name: str, size: int, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def region_end(self, name: str, status: str) -> None:
        pass

    def end(self) -> None:
        pass
