"""One device's life under ``qdlpy watch``, and when it is pulled (docs/lab.md#lifecycle).

* new: never pulled by this watch: pull it (continuing an unfinished folder an earlier run
  left behind).
* pulling: a pull runs.
* paused: the device went away mid-pull and did not come back within the pull's
  ``--timeout``: the same folder is continued whenever it is seen again.
* done / failed: the pull is over. The device is pulled again, into a new folder, only
  after it was seen gone (a crash dump device that comes back is a new crash) or, for a
  complete pull that reset it, at once (the dump it held is gone anyway).
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

from qdlpy.errors import QdlpyError

from .events import DeviceRef
from .folders import has_manifest


class State(enum.Enum):
    NEW = "new"
    PULLING = "pulling"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


@dataclasses.dataclass
class Plan:
    """The next pull of a slot: into ``folder``, continuing it when ``resume``."""

    folder: Path | None  # None: a new folder
    resume: bool


@dataclasses.dataclass
class Slot:
    """What the watch knows about one device (a USB serial/path or one --transport URI)."""

    ref: DeviceRef
    uri: str | None = None  # the --transport URI; None for hot-plugged USB devices
    state: State = State.NEW
    folder: Path | None = None  # the folder of the current or last pull
    resume_folder: Path | None = None  # an unfinished folder to continue
    present: bool = False
    gone_since_pull: bool = True  # seen absent since the last pull ended
    fruitless_resumes: int = 0
    bytes_at_pause: int = 0
    retry_at: float = 0.0
    seen_at: float = 0.0  # when presence was last checked
    ended_at: float = 0.0  # when the last attempt ended (set by the watch loop)
    last_error: QdlpyError | None = None
    first_seen: float = 0.0

    def plan(self, now: float) -> Plan | None:
        """Whether to start a pull now, and where; None: nothing to do for this device."""
        if self.state is State.PULLING or now < self.retry_at:
            return None
        if self.state is State.PAUSED:
            return Plan(self.folder, resume=True)
        if self.state in (State.DONE, State.FAILED):
            if not self.gone_since_pull:
                return None
            self.state, self.resume_folder = State.NEW, None
        if has_manifest(self.resume_folder):
            return Plan(self.resume_folder, resume=True)
        return Plan(None, resume=False)

    def started(self, folder: Path) -> None:
        self.state, self.folder = State.PULLING, folder

    def ended(self, state: State, *, reset: bool = False) -> None:
        """A pull is over (done/failed) or paused; ``reset``: the device was reset after it."""
        self.state = state
        self.resume_folder = None
        self.gone_since_pull = reset

    def seen(self, present: bool, now: float) -> bool:
        """Record a presence check; True when it changed."""
        self.seen_at = now
        changed = present != self.present
        self.present = present
        if not present and self.state is not State.PULLING:
            self.gone_since_pull = True
        return changed
