"""A transport that refuses to (re)open once the watch is stopping.

``qdlpy.pull`` stops between chunks when its ``interrupt`` event is set, but while it waits
for a device that dropped off (up to ``--timeout``) it only retries ``open()``. Handing the
pull this wrapper makes that wait end within one retry when SIGTERM/SIGINT arrives, so a
service stop is never held up by a missing device.
"""

from __future__ import annotations

import threading

from qdlpy.errors import Interrupted
from qdlpy.transport.base import DeviceIdentity, Transport


class StopAwareTransport(Transport):
    """Delegates everything to ``inner``; ``open()`` raises Interrupted once ``stop`` is set."""

    def __init__(self, inner: Transport, stop: threading.Event) -> None:
        self.inner = inner
        self.stop = stop
        self.scheme = inner.scheme
        self.message_boundaries = inner.message_boundaries
        self.default_chunk_size = inner.default_chunk_size

    @property
    def max_packet_size(self) -> int:
        return self.inner.max_packet_size

    def open(self) -> None:
        if self.stop.is_set():
            raise Interrupted("stopping: no longer waiting for the device")
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def read(self, size: int, timeout: float) -> bytes:
        return self.inner.read(size, timeout)

    def readinto(self, buf: memoryview, timeout: float) -> int:
        return self.inner.readinto(buf, timeout)

    def write(self, data: bytes | memoryview, timeout: float) -> None:
        self.inner.write(data, timeout)

    def identity(self) -> DeviceIdentity:
        return self.inner.identity()

    def label(self) -> str:
        return self.inner.label()

    def drain(self, quiet: float = 0.2, limit: float = 5.0) -> int:
        return self.inner.drain(quiet, limit)

    def bus_changed(self) -> bool:
        """For ``connect()``: the inner transport's answer, or "always worth a try"."""
        probe = getattr(self.inner, "bus_changed", None)
        return True if probe is None else bool(probe())
