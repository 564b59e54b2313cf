"""A tqdm progress adapter for scripts and notebooks::

    from qdlpy.cli.tqdm_progress import TqdmProgress
    qdlpy.pull("usb", output="dump", progress=TqdmProgress())

It lives with the other front ends (UI libraries stay out of the library proper); the
``qdlpy`` command itself draws with rich instead (docs/design.md#progress). tqdm is imported
only when an adapter is created.
"""

from __future__ import annotations

from typing import Any


class TqdmProgress:
    """ProgressSink drawing one byte bar over the whole pull (tqdm.auto: notebook aware)."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._kwargs = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, **tqdm_kwargs}
        self.bar: Any = None

    def begin(self, total_bytes: int, regions: int) -> None:
        self.bar = self._tqdm(total=total_bytes, **self._kwargs)

    def region_start(self, name: str, size: int, done: int) -> None:
        if self.bar is not None:
            self.bar.set_description(name)
            if done:
                self.bar.update(done)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def region_end(self, name: str, status: str) -> None:
        if self.bar is not None and status != "complete":
            self._tqdm.write(f"{name}: {status}", file=self._kwargs.get("file"))

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
