"""Helpers of the umockdev tier: simulated devices and libusb contexts per library."""

from __future__ import annotations

import collections
import ctypes.util
from typing import Any

from qdlpy.simulator.scenarios import build_model
from qdlpy.simulator.usb_pipe import UsbPipe


def library_path(kind: str) -> str:
    """The libusb shared object of ``kind``: Debian's ("system") or libusb-package's."""
    if kind == "bundled":
        import libusb_package

        return str(libusb_package.find_library("usb-1.0"))
    path = ctypes.util.find_library("usb-1.0")
    if path is None:
        raise RuntimeError("no system libusb-1.0")
    return path


def fresh_backend() -> Any:
    """A new libusb context on the library this process uses (own device list).

    pyusb keeps its loaded library in a module global, so one process holds exactly one
    libusb: QDLPY_LIBUSB=system|bundled picks it for the whole run (the .ci/run lines run
    this tier once per library), and the CLI subprocess tests pick it per test. A context
    enumerates sysfs when created, so it sees the devices plugged before this call
    (libusb-package gets no hot-plug events under umockdev,
    docs/testing.md#how-the-umockdev-tier-works).
    """
    from qdlpy.transport import usb_backend

    return usb_backend.fresh_context(usb_backend.get_backend())


def make_pipe(scenario: Any = "kmemdump", *, serial: str = "UMOCK001", max_packet: int = 512,
              ports: tuple[int, ...] = (2,), pid: int = 0x900E, protocol: int = 0x10,
              **kwargs: Any) -> UsbPipe:
    """A simulated device; ``scenario`` is a scenario spec or a ready model."""
    model = build_model(scenario) if isinstance(scenario, str) else scenario
    return UsbPipe(model, max_packet=max_packet, serial=serial, port_numbers=ports, pid=pid,
                   interface_protocol=protocol, **kwargs)


class ScriptedModel:
    """A device model that answers each host transfer with the transfers it is told to.

    ``replies[request] = [transfer, ...]``; anything else is echoed. Used for exact
    transfer lengths (ZLP tests) where a Sahara scenario would get in the way.
    """

    unplugged = False
    rebooted = False

    def __init__(self, replies: dict[bytes, list[bytes]] | None = None) -> None:
        self.replies = replies or {}
        self.queue: collections.deque[bytes] = collections.deque()
        self.received: list[bytes] = []

    def connect(self) -> None:
        pass

    def disconnect(self) -> None:
        self.queue.clear()

    def host_write(self, data: bytes) -> None:
        self.received.append(data)
        self.queue.extend(self.replies.get(data, [data]))

    def next_transfer(self) -> bytes | None:
        return self.queue.popleft() if self.queue else None
