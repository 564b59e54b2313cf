"""One pull attempt, run in its own thread: open the device, ``qdlpy.pull``, say how it ended.

The thread never touches the watch's state: it posts ``Began`` once the device offered its
table and the folder exists, and ``Ended`` with an ``Outcome`` when it is over. Progress is
read from the ``Tracker`` (the pull's ProgressSink) by the watch loop.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qdlpy.errors import (
    DeviceBusy,
    DeviceNotFound,
    Interrupted,
    NoHello,
    OutputExists,
    PermissionDenied,
    QdlpyError,
    TransportError,
)
from qdlpy.transport.base import Transport

from .events import DeviceRef
from .options import PullOptions
from .stoppable import StopAwareTransport

if TYPE_CHECKING:
    from qdlpy.dump import PullResult

log = logging.getLogger("qdlpy.watch")

#: Errors that, before the device offered a table, only mean "no device in download mode
#: there now" (nothing listening, no HELLO, gone again while opening).
_ABSENT = (DeviceNotFound, NoHello, TransportError)

#: Pause between tries of a device that refuses to open.
REFUSAL_RETRY_S = 0.25

# Outcome kinds.
COMPLETE, PAUSED, FAILED, INTERRUPTED = "complete", "paused", "failed", "interrupted"
ABSENT, PRESENT, SUPERSEDED = "absent", "present", "superseded"


@dataclasses.dataclass
class Attempt:
    """What the watch asks of one thread."""

    key: str
    ref: DeviceRef
    folder: Path
    resume: bool
    make_transport: Callable[[], Transport]
    wait_open: float  # how long a device that refuses to open is retried; 0: one try
    probe_only: bool = False  # only check that the device can be opened


@dataclasses.dataclass
class Outcome:
    kind: str
    error: QdlpyError | None = None
    result: PullResult | None = None


class Tracker:
    """The pull's ProgressSink: counters the watch loop reads for progress events."""

    def __init__(self, key: str, post: Callable[[object], None]) -> None:
        self.key, self.post = key, post
        self.began = False
        self.total = self.regions = self.done = 0
        self.region = ""

    def begin(self, total_bytes: int, regions: int) -> None:
        self.total, self.regions, self.began = total_bytes, regions, True
        self.post(Began(self.key, self))

    def region_start(self, name: str, size: int, done: int) -> None:
        self.region = name
        self.done += done

    def advance(self, n: int) -> None:
        self.done += n

    def region_end(self, name: str, status: str) -> None:
        pass

    def end(self) -> None:
        pass


@dataclasses.dataclass
class Began:
    key: str
    tracker: Tracker


@dataclasses.dataclass
class Ended:
    key: str
    attempt: Attempt
    outcome: Outcome
    tracker: Tracker


def classify(exc: QdlpyError, began: bool, resume: bool) -> str:
    """How a pull that raised ``exc`` ended, for the device's next step."""
    if isinstance(exc, Interrupted):
        return INTERRUPTED
    if isinstance(exc, OutputExists) and resume:
        return SUPERSEDED  # the folder's table is not the device's: another crash
    if not began:
        return ABSENT if isinstance(exc, _ABSENT) else FAILED
    if isinstance(exc, (TransportError, DeviceNotFound)):
        return PAUSED  # gone mid-pull and not back in time: continue when it returns
    return FAILED


def _open(attempt: Attempt, transport: Transport) -> Outcome | None:
    """Open the device; an Outcome when that already decides the attempt.

    A device that refuses us (permissions, busy) is retried for ``wait_open`` seconds: udev
    applies its rule and ModemManager lets go shortly after a device appears.
    """
    deadline = time.monotonic() + attempt.wait_open
    while True:
        try:
            transport.open()
            return None
        except Interrupted as exc:
            return Outcome(INTERRUPTED, exc)
        except _ABSENT as exc:
            return Outcome(ABSENT, exc)
        except (PermissionDenied, DeviceBusy) as exc:
            if time.monotonic() >= deadline:
                return Outcome(FAILED, exc)
            log.debug("%s: %s (retrying)", attempt.key, exc)
            time.sleep(REFUSAL_RETRY_S)
        except QdlpyError as exc:
            return Outcome(FAILED, exc)


def _attempt(attempt: Attempt, options: PullOptions, stop: threading.Event,
             tracker: Tracker) -> Outcome:
    from qdlpy.dump import pull

    transport = StopAwareTransport(attempt.make_transport(), stop)
    try:
        early = _open(attempt, transport)
        if early is not None:
            return early
        if attempt.probe_only:
            return Outcome(PRESENT)
        try:
            result = pull(transport, output=attempt.folder, resume=attempt.resume,
                          progress=tracker, interrupt=stop, **options.kwargs())
        except QdlpyError as exc:
            return Outcome(classify(exc, tracker.began, attempt.resume), exc)
        return Outcome(COMPLETE, result=result)
    finally:
        transport.close()


def run_attempt(attempt: Attempt, options: PullOptions, stop: threading.Event,
                post: Callable[[object], None]) -> None:
    """The thread's body; always posts exactly one ``Ended``."""
    tracker = Tracker(attempt.key, post)
    try:
        outcome = _attempt(attempt, options, stop, tracker)
    except Exception as exc:  # a bug in one pull must not end the watch
        log.exception("%s: pull crashed", attempt.key)
        outcome = Outcome(FAILED, QdlpyError(f"internal error: {type(exc).__name__}: {exc}"))
    post(Ended(attempt.key, attempt, outcome, tracker))
