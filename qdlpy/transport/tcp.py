"""``tcp:HOST:PORT``: the raw Sahara byte stream over TCP (``qdlpy simulate``, or a
remote bridge to a device on another machine).

A TCP connection is a byte stream: one ``read()`` returns whatever arrived, not one device
transfer (``message_boundaries`` False). TCP_NODELAY keeps the small command packets
from waiting on Nagle's algorithm, which would add delay to every MEMORY_READ round trip.
"""

from __future__ import annotations

import errno
import socket

from qdlpy.errors import (
    DeviceNotFound,
    Disconnected,
    InvalidArgument,
    PermissionDenied,
    QdlpyError,
    TransferTimeout,
    TransportError,
)

from .base import DeviceIdentity, ReadIntoTransport

__all__ = ["TcpTransport", "parse_host_port"]

_GONE = (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN, errno.ESHUTDOWN)


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5555"``, ``"[::1]:5555"``, ``"localhost:5555"`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise InvalidArgument(f"tcp: expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise InvalidArgument(f"tcp: port must be a number, got {port!r}") from None
    if not 0 < number < 65536:
        raise InvalidArgument(f"tcp: port {number} out of range")
    return host, number


class TcpTransport(ReadIntoTransport):
    """A TCP client; see the module docstring."""

    scheme = "tcp"
    message_boundaries = False
    default_chunk_size = 512 * 1024

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None

    @classmethod
    def from_uri(cls, rest: str, knobs: dict[str, str]) -> TcpTransport:
        extra = set(knobs) - {"connect_timeout"}
        if extra:
            raise InvalidArgument(f"tcp: unknown option(s) {', '.join(sorted(extra))}")
        host, port = parse_host_port(rest)
        try:
            ct = float(knobs.get("connect_timeout", "5"))
        except ValueError:
            raise InvalidArgument("tcp: connect_timeout must be a number of seconds") from None
        return cls(host, port, connect_timeout=ct)

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except (ConnectionRefusedError, socket.gaierror) as exc:
            # Nobody listening (yet): connect() keeps waiting, like for an absent USB device.
            raise DeviceNotFound(f"tcp:{self.where}: {exc.strerror or exc}") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"tcp:{self.where}: {exc}", hint="check the firewall") from exc
        except TimeoutError as exc:
            raise DeviceNotFound(f"tcp:{self.where}: connection timed out") from exc
        except OSError as exc:
            raise TransportError(f"tcp:{self.where}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"tcp:{self.where}: transport is not open")
        return self._sock

    def _error(self, exc: OSError) -> QdlpyError:
        if isinstance(exc, TimeoutError):
            return TransferTimeout(f"tcp:{self.where}: timed out")
        if exc.errno in _GONE:
            return Disconnected(f"tcp:{self.where}: connection lost ({exc.strerror or exc})")
        return TransportError(f"tcp:{self.where}: {exc.strerror or exc}")

    def readinto(self, buf: memoryview, timeout: float) -> int:
        sock = self._require()
        if len(buf) == 0:
            return 0
        try:
            sock.settimeout(max(timeout, 1e-6))
            n = sock.recv_into(buf)
        except OSError as exc:
            raise self._error(exc) from exc
        if n == 0:
            raise Disconnected(f"tcp:{self.where}: the other side closed the connection")
        return n

    def write(self, data: bytes | memoryview, timeout: float) -> None:
        sock = self._require()
        try:
            sock.settimeout(max(timeout, 1e-6))
            sock.sendall(data)
        except OSError as exc:
            raise self._error(exc) from exc

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(transport=f"tcp:{self.where}", description=f"tcp {self.where}")
