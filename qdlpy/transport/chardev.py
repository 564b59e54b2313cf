"""``chardev:/dev/mhi0_SAHARA``: Sahara over a kernel character device (PCIe/MHI).

On PCIe devices Sahara runs over the MHI channel pair "SAHARA"/"QAIC_SAHARA"; out-of-tree
mhi_uci drivers expose it as a char device and qdl's ``ks`` uses plain read/write on such
a node (docs/protocol.md#pcie-and-mhi-character-devices). Each MHI transfer is one packet, so one
``read()`` is one device transfer (``message_boundaries``); the MTU is 0xFFFF, hence the kernel
driver's 0xFFF0 read size, used here as the default chunk (docs/protocol.md#request-sizing).
"""

from __future__ import annotations

import errno
import os
import select

from qdlpy.errors import (
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    InvalidArgument,
    PermissionDenied,
    QdlpyError,
    TransferTimeout,
    TransportError,
)

from .base import DeviceIdentity, ReadIntoTransport

__all__ = ["ChardevTransport"]

_GONE = (errno.ENODEV, errno.EIO, errno.ENXIO, errno.EPIPE, errno.ESHUTDOWN, errno.ECONNRESET)


class ChardevTransport(ReadIntoTransport):
    """Plain ``os.read``/``os.write`` on a character device node."""

    scheme = "chardev"
    message_boundaries = True
    default_chunk_size = 0xFFF0

    def __init__(self, path: str) -> None:
        if not path:
            raise InvalidArgument("chardev: needs a device path, e.g. chardev:/dev/mhi0_SAHARA")
        self.path = path
        self._fd: int | None = None

    @classmethod
    def from_uri(cls, rest: str, knobs: dict[str, str]) -> ChardevTransport:
        if knobs:
            raise InvalidArgument(f"chardev: takes no options ({', '.join(sorted(knobs))})")
        return cls(rest)

    def open(self) -> None:
        if self._fd is not None:
            return
        flags = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
        try:
            self._fd = os.open(self.path, flags)
        except OSError as exc:
            raise self._open_error(exc) from exc

    def _open_error(self, exc: OSError) -> QdlpyError:
        if exc.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            return DeviceNotFound(f"{self.path}: no such device node")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return PermissionDenied(
                f"{self.path}: permission denied",
                hint=f"check the owner of {self.path} (a udev rule for the MHI node), "
                "or run as root",
            )
        if exc.errno == errno.EBUSY:
            return DeviceBusy(f"{self.path}: held by another program (or the kernel driver)")
        return TransportError(f"{self.path}: {exc.strerror or exc}")

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _require(self) -> int:
        if self._fd is None:
            raise TransportError(f"{self.path}: char device transport is not open")
        return self._fd

    def _wait(self, fd: int, write: bool, timeout: float) -> None:
        r, w = ([], [fd]) if write else ([fd], [])
        try:
            ready = select.select(r, w, [], max(0.0, timeout))
        except OSError as exc:
            raise Disconnected(f"{self.path}: {exc.strerror or exc}") from exc
        if not (ready[0] or ready[1]):
            what = "not writable" if write else "no data"
            raise TransferTimeout(f"{self.path}: {what} within {timeout:g} s")

    def readinto(self, buf: memoryview, timeout: float) -> int:
        fd = self._require()
        if len(buf) == 0:
            return 0
        self._wait(fd, False, timeout)
        try:
            n = os.readv(fd, [buf])
        except BlockingIOError:
            raise TransferTimeout(f"{self.path}: no data within {timeout:g} s") from None
        except OSError as exc:
            raise self._io_error(exc) from exc
        if n == 0:
            # Readable but nothing to read: the node's other end is gone.
            raise Disconnected(f"{self.path}: end of file (device gone)")
        return n

    def write(self, data: bytes | memoryview, timeout: float) -> None:
        fd = self._require()
        view = memoryview(data)
        while view:
            self._wait(fd, True, timeout)
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise self._io_error(exc) from exc
            view = view[n:]

    def _io_error(self, exc: OSError) -> QdlpyError:
        if exc.errno in _GONE:
            return Disconnected(f"{self.path}: {exc.strerror or exc} (device gone)")
        if exc.errno == errno.ETIMEDOUT:
            return TransferTimeout(f"{self.path}: timed out")
        return TransportError(f"{self.path}: {exc.strerror or exc}")

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(transport=f"chardev:{self.path}", description=self.path)
