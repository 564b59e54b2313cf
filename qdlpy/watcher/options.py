"""The settings of one watch: which devices, how many pulls at once, and each pull's options."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qdlpy.errors import InvalidArgument
from qdlpy.transport import parse_uri

#: How often the USB bus is looked at (a sysfs fingerprint gates the real scan).
USB_POLL_S = 0.5
#: A full USB scan at least this often, even when the fingerprint did not change.
USB_RESCAN_S = 5.0
#: How often an absent --transport device is tried again.
URI_RETRY_S = 1.0
#: How often a device that was pulled but never went away is checked for having gone.
URI_PROBE_S = 5.0
#: Resumes of one pull in a row that bring no new byte before it is given up.
MAX_FRUITLESS_RESUMES = 3


@dataclasses.dataclass(frozen=True)
class PullOptions:
    """What ``qdlpy.pull`` gets for every device (the ``qdlpy pull`` options of the same names)."""

    regions: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    after: str | None = None
    chunk_size: int | None = None
    timeout: float = 60.0  # how long a pull waits for a device that dropped off
    io_timeout: float = 30.0
    hello_timeout: float = 1.0
    elf: bool = True
    keep_going: bool = False
    report: bool = True  # dmesg.txt and report.json beside minidump.elf

    def validate(self) -> None:
        if self.after not in (None, "reset", "none"):
            raise InvalidArgument(f"--after must be reset or none, not {self.after!r}")
        if self.chunk_size is not None:
            from qdlpy.dump.engine import MIN_CHUNK
            from qdlpy.protocols.constants import MAX_READ_SIZE

            if not MIN_CHUNK <= self.chunk_size <= MAX_READ_SIZE:
                raise InvalidArgument(f"--chunk-size must be between {MIN_CHUNK} and "
                                      f"{MAX_READ_SIZE} bytes, not {self.chunk_size}")
        if self.timeout <= 0:
            raise InvalidArgument("--timeout must be positive under watch: a device that "
                                  "stays away is resumed whenever it comes back")

    def kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WatchOptions:
    """Which devices to serve and how (see ``qdlpy.watch``)."""

    root: Path
    transports: tuple[str, ...] = ()
    serials: tuple[str, ...] = ()
    usb_paths: tuple[str, ...] = ()
    count: int = 0
    max_parallel: int = 0
    exec_command: str | None = None
    pull: PullOptions = PullOptions()
    progress_interval: float = 2.0
    backend: Any = None  # a pyusb backend instead of the default libusb (simulators, tests)

    @property
    def uris(self) -> tuple[str, ...]:
        """The --transport devices that are not USB hot-plug selectors."""
        return tuple(u for u in self.transports if parse_uri(u)[0] != "usb")

    @property
    def watches_usb(self) -> bool:
        return not self.transports or bool(self.serials or self.usb_paths) or \
            len(self.uris) < len(self.transports)

    def selectors(self) -> tuple[frozenset[str], frozenset[str]]:
        """(serials, USB paths) a USB device must match one of; both empty: every device."""
        serials = {s.lower() for s in self.serials}
        paths = set(self.usb_paths)
        for uri in self.transports:
            scheme, rest, knobs = parse_uri(uri)
            if scheme != "usb":
                continue
            if rest or set(knobs) - {"serial", "path"}:
                raise InvalidArgument(f"watch takes usb, usb?serial=SN or usb?path=P, not {uri!r}")
            if "serial" in knobs:
                serials.add(knobs["serial"].lower())
            if "path" in knobs:
                paths.add(knobs["path"])
        return frozenset(serials), frozenset(paths)


def build_options(root: str | Path, transports: Sequence[str], serials: Sequence[str],
                  usb_paths: Sequence[str], count: int, max_parallel: int,
                  exec_command: str | None, pull: PullOptions, progress_interval: float,
                  backend: Any) -> WatchOptions:
    """Check everything that can be checked before any device is touched."""
    if count < 0 or max_parallel < 0:
        raise InvalidArgument("--count and --max-parallel must be 0 (no limit) or more")
    if progress_interval <= 0:
        raise InvalidArgument("the progress interval must be positive")
    if exec_command is not None and not exec_command.strip():
        raise InvalidArgument("--exec needs a command")
    pull.validate()
    seen: set[str] = set()
    for uri in transports:
        parse_uri(uri)  # unknown schemes fail here
        if uri in seen:
            raise InvalidArgument(f"--transport {uri} is given twice")
        seen.add(uri)
    options = WatchOptions(Path(root), tuple(transports), tuple(serials), tuple(usb_paths),
                           count, max_parallel, exec_command, pull, progress_interval, backend)
    options.selectors()
    return options
