"""``serial:/dev/ttyUSB0``: Sahara over a tty (qcserial's ttyUSB, a Windows-style QDLoader
COM port bridged to Linux, or a UART).

Settings that matter (docs/protocol.md#serial-ttys): raw mode, **no flow control**,
and the receive buffer is **not purged on open** — a HELLO the device sent before we
opened is still in the tty's input queue and must not be thrown away. pyserial's POSIX
``open()`` always flushes the input queue (``tcflush(TCIFLUSH)``), so ``_KeepRxSerial``
turns that one call into a no-op (tests/transport/test_serial.py pins it).

A tty is a byte stream: ``read()`` returns whatever has arrived (at least one byte), not
one device transfer, so ``message_boundaries`` is False. Reads are kept to 32 KiB by
default: the Linux tty flip buffer is 64 KiB and the Quectel/Sierra tools settled on
32 KiB chunks (docs/protocol.md#request-sizing).
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any

import serial as pyserial

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

from .base import DeviceIdentity, Transport

__all__ = ["SerialTransport"]


class _KeepRxSerial(pyserial.Serial):  # type: ignore[misc]
    """pyserial's Serial without the input flush in ``open()`` (see module docstring)."""

    def _reset_input_buffer(self) -> None:
        return None


def _open_error(path: str, exc: BaseException) -> QdlpyError:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
        return DeviceNotFound(f"{path}: no such serial device")
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(
            f"{path}: permission denied",
            hint="add yourself to the group owning the tty (often `dialout`) and log in "
            "again, or run as root",
        )
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in str(exc).lower():
        return DeviceBusy(
            f"{path}: the port is held by another program",
            hint=f"find it with `fuser -v {path}` (ModemManager probes ttyUSB ports)",
        )
    return TransportError(f"{path}: {exc}")


class SerialTransport(Transport):
    """A tty in raw mode; see the module docstring."""

    scheme = "serial"
    message_boundaries = False
    default_chunk_size = 32 * 1024

    def __init__(self, path: str, *, baudrate: int = 115200) -> None:
        if not path:
            raise InvalidArgument("serial: needs a device path, e.g. serial:/dev/ttyUSB0")
        self.path = path
        self.baudrate = baudrate
        self._port: Any = None

    @classmethod
    def from_uri(cls, rest: str, knobs: dict[str, str]) -> SerialTransport:
        extra = set(knobs) - {"baud"}
        if extra:
            raise InvalidArgument(f"serial: unknown option(s) {', '.join(sorted(extra))}")
        try:
            baud = int(knobs.get("baud", "115200"))
        except ValueError:
            raise InvalidArgument(f"serial: baud must be a number, not {knobs['baud']!r}") from None
        return cls(rest, baudrate=baud)

    def open(self) -> None:
        if self._port is not None:
            return
        port = _KeepRxSerial()
        port.port = self.path
        port.baudrate = self.baudrate
        port.bytesize = pyserial.EIGHTBITS
        port.parity = pyserial.PARITY_NONE
        port.stopbits = pyserial.STOPBITS_ONE
        port.xonxoff = False
        port.rtscts = False
        port.dsrdtr = False
        port.exclusive = True  # flock: a second qdlpy/ModemManager-style user gets EBUSY
        try:
            port.open()
        except (pyserial.SerialException, OSError) as exc:
            raise _open_error(self.path, exc) from exc
        self._port = port

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            # close() never raises (base.py lifecycle)
            with contextlib.suppress(Exception):
                port.close()

    def _require(self) -> Any:
        if self._port is None:
            raise TransportError(f"{self.path}: serial transport is not open")
        return self._port

    def read(self, size: int, timeout: float) -> bytes:
        port = self._require()
        if size <= 0:
            return b""
        try:
            port.timeout = timeout
            first = port.read(1)  # waits up to `timeout` for the first byte
            if not first:
                raise TransferTimeout(f"{self.path}: no data within {timeout:g} s")
            waiting = port.in_waiting
            if waiting and size > 1:
                return bytes(first) + bytes(port.read(min(waiting, size - 1)))
            return bytes(first)
        except QdlpyError:
            raise
        except (pyserial.SerialException, OSError) as exc:
            raise Disconnected(f"{self.path}: read failed ({exc})") from exc

    def write(self, data: bytes | memoryview, timeout: float) -> None:
        port = self._require()
        try:
            port.write_timeout = timeout
            sent = port.write(bytes(data))
        except pyserial.SerialTimeoutException as exc:
            raise TransferTimeout(f"{self.path}: write timed out") from exc
        except (pyserial.SerialException, OSError) as exc:
            raise Disconnected(f"{self.path}: write failed ({exc})") from exc
        if sent is not None and sent != len(data):
            raise TransferTimeout(f"{self.path}: wrote {sent} of {len(data)} bytes")

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(transport=f"serial:{self.path}", description=self.path)
