"""``--exec CMD``: a shell command run after each pull, in its own thread (docs/lab.md#exec).

The command gets the pull's folder and outcome in ``QDLPY_*`` environment variables; each
line it prints (stdout and stderr) goes to the watch's log, and the last lines also to the
``exec-finished`` event. A slow command (an upload, ``qdlpy report``) never delays the other
pulls: each runs in its own thread.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from qdlpy.formats import manifest as mf

from .events import DeviceRef

log = logging.getLogger("qdlpy.watch.exec")

#: Lines of the command's output kept for the exec-finished event.
TAIL_LINES = 20
#: Variables the watch sets (or removes when they do not apply) for the command.
VARIABLES = ("QDLPY_DUMP_DIR", "QDLPY_STATUS", "QDLPY_EXIT_CODE", "QDLPY_DEVICE",
             "QDLPY_SERIAL", "QDLPY_USB_PATH", "QDLPY_TRANSPORT", "QDLPY_MANIFEST",
             "QDLPY_ERROR")


@dataclasses.dataclass
class HookDone:
    key: str
    ref: DeviceRef
    folder: Path | None
    command: str
    exit_code: int
    seconds: float
    output: list[str]


def hook_environment(ref: DeviceRef, folder: Path | None, status: str, exit_code: int,
                     error: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """The command's environment: ``base`` plus the pull's QDLPY_* variables."""
    values = {
        "QDLPY_DUMP_DIR": str(folder.resolve()) if folder is not None else None,
        "QDLPY_STATUS": status,
        "QDLPY_EXIT_CODE": str(exit_code),
        "QDLPY_DEVICE": ref.key,
        "QDLPY_SERIAL": ref.serial,
        "QDLPY_USB_PATH": ref.usb_path,
        "QDLPY_TRANSPORT": ref.transport,
        "QDLPY_MANIFEST": str((folder / mf.NAME).resolve())
        if folder is not None and (folder / mf.NAME).is_file() else None,
        "QDLPY_ERROR": error,
    }
    env = {k: v for k, v in base.items() if k not in VARIABLES}
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def run_hook(command: str, env: dict[str, str], ref: DeviceRef, folder: Path | None,
             post: Callable[[object], None]) -> None:
    """The thread's body: run ``command`` with ``sh -c``, log its output, post ``HookDone``."""
    started = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(command, shell=True, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace")
    except OSError as exc:
        log.error("%s: --exec could not start: %s", ref.key, exc)
        post(HookDone(ref.key, ref, folder, command, 127, 0.0, [str(exc)]))
        return
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            text = line.rstrip("\n")
            tail.append(text)
            log.info("%s: exec: %s", ref.key, text)
    code = proc.wait()
    seconds = time.monotonic() - started
    log.debug("%s: --exec finished with exit code %d in %.1f s", ref.key, code, seconds)
    post(HookDone(ref.key, ref, folder, command, code, seconds, list(tail)))

