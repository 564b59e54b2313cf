"""``qdlpy.watch``: wait for crash-dump devices and pull each one, many at once.

    import qdlpy
    for event in qdlpy.watch("dumps", transports=["tcp:relay1:5555"], count=1):
        print(event.to_dict())

Each device is pulled by ``qdlpy.pull`` in its own thread into
``ROOT/<serial|usb-path|host-port>/<UTC time>/`` (the ``qdlpy pull`` folder contract). The
generator yields ``WatchEvent`` objects (schema ``qdlpy.watch/1``, see ``events``) and ends
with a ``watch-finished`` event once ``count`` pulls have finished or ``stop`` is set;
closing it early stops every pull the way Ctrl-C stops one. docs/lab.md describes the whole
behaviour.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from .events import KINDS, SCHEMA, DeviceRef, WatchEvent
from .loop import Watcher
from .options import PullOptions, build_options

__all__ = ["KINDS", "SCHEMA", "DeviceRef", "PullOptions", "WatchEvent", "watch"]


def watch(
    root: str | Path,
    *,
    transports: Sequence[str] = (),
    serials: Sequence[str] = (),
    usb_paths: Sequence[str] = (),
    count: int = 0,
    max_parallel: int = 0,
    exec_command: str | None = None,
    regions: Sequence[str] = (),
    exclude: Sequence[str] = (),
    after: str | None = None,
    chunk_size: int | None = None,
    timeout: float = 60.0,
    io_timeout: float = 30.0,
    hello_timeout: float = 1.0,
    elf: bool = True,
    keep_going: bool = False,
    report: bool = True,
    progress_interval: float = 2.0,
    stop: threading.Event | None = None,
    backend: Any = None,
) -> Generator[WatchEvent, None, None]:
    """Serve crash-dump devices until ``count`` pulls finished (0: until ``stop`` is set).

    Without ``transports`` every Sahara USB device is served as it appears (``serials`` /
    ``usb_paths`` narrow that to the devices matching one of them); each transport URI is
    one more device (``usb`` adds USB hot-plug back). ``max_parallel`` caps the pulls
    running at once (0: no cap); ``exec_command`` runs through ``sh -c`` after each pull
    with ``QDLPY_DUMP_DIR``, ``QDLPY_STATUS``, ... set. ``timeout`` is how long a pull waits
    for a device that dropped off before it is paused (and continued in the same folder
    whenever the device returns); the other pull options are ``qdlpy.pull``'s. ``backend``
    replaces the default libusb backend (e.g. the simulator's). Arguments are checked
    here, before anything is touched; the work happens while the result is iterated.
    """
    options = build_options(
        root, transports, serials, usb_paths, count, max_parallel, exec_command,
        PullOptions(tuple(regions), tuple(exclude), after, chunk_size, timeout, io_timeout,
                    hello_timeout, elf, keep_going, report),
        progress_interval, backend)
    return Watcher(options, stop or threading.Event()).events()
