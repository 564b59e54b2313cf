"""What ``qdlpy.watch`` reports: one event per thing that happened (docs/lab.md#events).

Under ``qdlpy watch --json`` each event is one line of JSON, schema ``qdlpy.watch/1``: every
object has ``schema``, ``qdlpy_version``, ``event`` (the kind) and ``time`` (UTC), most a
``device``; the other keys depend on the kind (see ``KINDS``).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qdlpy._version import __version__
from qdlpy.errors import QdlpyError

if TYPE_CHECKING:
    from qdlpy.dump import PullResult

SCHEMA = "qdlpy.watch/1"

DEVICE_SEEN = "device-seen"
DEVICE_GONE = "device-gone"
PULL_STARTED = "pull-started"
PROGRESS = "progress"
PULL_PAUSED = "pull-paused"
PULL_FINISHED = "pull-finished"
EXEC_FINISHED = "exec-finished"
WATCH_FINISHED = "watch-finished"

#: Every event kind and the keys its JSON object carries besides the common ones.
KINDS: dict[str, tuple[str, ...]] = {
    DEVICE_SEEN: ("device",),
    DEVICE_GONE: ("device",),
    PULL_STARTED: ("device", "output_dir", "resume", "total_bytes", "regions"),
    PROGRESS: ("device", "output_dir", "bytes_done", "total_bytes", "bytes_per_s", "eta_s",
               "region"),
    PULL_PAUSED: ("device", "output_dir", "status", "error", "resumes"),
    PULL_FINISHED: ("device", "output_dir", "status", "exit_code", "summary"),
    EXEC_FINISHED: ("device", "output_dir", "status", "command", "exit_code", "seconds",
                    "output"),
    WATCH_FINISHED: ("status", "exit_code", "pulls", "ok", "error"),
}


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclasses.dataclass(frozen=True)
class DeviceRef:
    """Which device an event is about."""

    key: str  # its folder name under the watch root: serial, USB path or host-port
    transport: str  # "usb" for hot-plugged USB devices, else the --transport URI
    serial: str | None = None
    usb_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """One event. ``to_dict()`` is its ``qdlpy.watch/1`` JSON object.

    ``result`` (pull-finished of a complete pull) is the ``PullResult`` that ``qdlpy.pull``
    returned; ``error`` is the ``QdlpyError`` a pull ended or paused with.
    """

    kind: str
    device: DeviceRef | None = None
    output_dir: Path | None = None
    status: str | None = None
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: QdlpyError | None = None
    result: PullResult | None = dataclasses.field(default=None, compare=False, repr=False)
    time: str = dataclasses.field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": SCHEMA, "qdlpy_version": __version__,
                               "event": self.kind, "time": self.time}
        if self.device is not None:
            doc["device"] = self.device.to_dict()
        if self.kind in (PULL_STARTED, PROGRESS, PULL_PAUSED, PULL_FINISHED, EXEC_FINISHED):
            doc["output_dir"] = str(self.output_dir) if self.output_dir is not None else None
        if self.status is not None:
            doc["status"] = self.status
        doc.update(self.data)
        if self.error is not None:
            doc["error"] = self.error.to_dict()
        return doc
