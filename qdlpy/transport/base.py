"""The one interface every byte pipe to a Sahara device implements.

Lifecycle (the same for usb, serial, chardev, tcp and sim):

1. ``Transport(...)`` builds the object from its URI parts. No I/O happens, nothing is
   claimed, so constructing never fails because of the device.
2. ``open()`` finds the device and claims it (USB: detach a bound kernel driver, claim the
   interface; tcp: connect; serial: open in raw mode). It raises ``DeviceNotFound``,
   ``PermissionDenied``, ``DeviceBusy`` or ``TransportError``; never a library exception.
   It does *not* wait: waiting for a device to appear is ``qdlpy.transport.connect``'s job.
3. ``read()``/``readinto()``/``write()`` move bytes. A read returns what one transfer
   delivered (USB: one bulk transfer, so a ZLP gives ``b""``; streams: whatever arrived),
   and raises ``TransferTimeout`` when nothing arrived in ``timeout`` seconds and
   ``Disconnected`` when the device went away.
4. ``close()`` releases everything (USB: release the interface; never a USB reset, never
   re-attaching a kernel driver), is idempotent, and never raises. Use the transport as a
   context manager so that ``close()`` runs on every path.

A closed transport may be opened again (reconnect after the device re-enumerates).
"""

from __future__ import annotations

import abc
import dataclasses
import time
from types import TracebackType
from typing import TYPE_CHECKING

from qdlpy.errors import TransferTimeout

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are never evaluated at run time
    from typing_extensions import Self


@dataclasses.dataclass(frozen=True)
class DeviceIdentity:
    """What is known about the device at the other end (shown in manifests and JSON)."""

    transport: str  # canonical URI, e.g. "usb", "tcp:127.0.0.1:5555", "sim:kmemdump"
    serial: str | None = None  # the _SN: token of iProduct on USB
    usb_path: str | None = None  # BUS-PORT[.PORT...]
    vid: int | None = None
    pid: int | None = None
    product: str | None = None
    interface_protocol: int | None = None
    description: str = ""

    def label(self) -> str:
        """A short name for output folder names and messages."""
        return self.serial or self.usb_path or self.description or self.transport

    def to_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["vid"] = f"{self.vid:04x}" if self.vid is not None else None
        d["pid"] = f"{self.pid:04x}" if self.pid is not None else None
        return d


class Transport(abc.ABC):
    """A byte pipe to one Sahara device. See the module docstring for the lifecycle."""

    #: URI scheme ("usb", "serial", "chardev", "tcp", "sim").
    scheme: str = ""
    #: True when one read returns exactly one device transfer (USB, MHI char devices):
    #: the protocol layer then recognises a 16-byte END_OF_IMAGE_TX sent in place of
    #: data at once. Byte streams (tcp, tty) need a short idle wait instead
    #: (docs/protocol.md#recognising-end_of_image_tx-inside-data).
    message_boundaries: bool = False
    #: MEMORY_READ size used when the user gives no --chunk-size (docs/protocol.md#request-sizing).
    default_chunk_size: int = 512 * 1024

    @property
    def max_packet_size(self) -> int:
        """IN endpoint wMaxPacketSize on USB; 0 for transports without packets."""
        return 0

    @abc.abstractmethod
    def open(self) -> None:
        """Find and claim the device (no waiting)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; idempotent; never raises."""

    @abc.abstractmethod
    def read(self, size: int, timeout: float) -> bytes:
        """Return what one transfer delivered, at most ``size`` bytes."""

    def readinto(self, buf: memoryview, timeout: float) -> int:
        """Read one transfer into ``buf``; return the byte count (hot path)."""
        data = self.read(len(buf), timeout)
        buf[: len(data)] = data
        return len(data)

    @abc.abstractmethod
    def write(self, data: bytes | memoryview, timeout: float) -> None:
        """Send ``data`` as one transfer (USB adds a ZLP where the length needs one)."""

    @abc.abstractmethod
    def identity(self) -> DeviceIdentity:
        """Who is at the other end."""

    def label(self) -> str:
        """A short name for the device (output folder names): serial, USB path, ..."""
        return self.identity().label()

    def drain(self, quiet: float = 0.2, limit: float = 5.0) -> int:
        """Discard input until the device stays quiet for ``quiet`` seconds.

        Used before retrying a chunk after a timeout so stale bytes of the failed
        transfer are not taken for the retry's answer. Returns the bytes discarded.
        """
        dropped = 0
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                dropped += len(self.read(1024 * 1024, quiet))
            except TransferTimeout:
                break
        return dropped

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ReadIntoTransport(Transport):
    """A transport whose primitive is ``readinto()`` (sockets, file descriptors)."""

    @abc.abstractmethod
    def readinto(self, buf: memoryview, timeout: float) -> int:
        """Read one transfer into ``buf``; return the byte count."""

    def read(self, size: int, timeout: float) -> bytes:
        buf = bytearray(size)
        n = self.readinto(memoryview(buf), timeout)
        return bytes(buf[:n])
