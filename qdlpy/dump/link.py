"""The device side of a pull: connecting, the handshake, and reads that survive trouble.

* a transfer timeout: drain, retry the same bytes in smaller requests
  (docs/protocol.md#how-pull-recovers), a bounded number of times;
* a disconnect: wait for the device (``timeout``), handshake again (the table must be the
  same), continue from the last complete chunk.

Every transport opened along the way is closed by :meth:`DeviceLink.close`, so a device
is always released, whatever ended the pull.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time

from qdlpy.errors import (
    DeviceNotFound,
    Disconnected,
    Interrupted,
    InvalidArgument,
    NoHello,
    ProtocolError,
    TransferTimeout,
    TransportError,
)
from qdlpy.formats.manifest import RegionRecord
from qdlpy.protocols.constants import MAX_READ_SIZE
from qdlpy.protocols.host import plan_reads
from qdlpy.session import DumpTable, SaharaClient
from qdlpy.transport.base import Transport

from .stop import StopRequest

__all__ = ["DeviceChoice", "DeviceLink", "MIN_CHUNK", "resolve_chunk"]

log = logging.getLogger("qdlpy.pull")

MIN_CHUNK = 512
RETRY_ATTEMPTS = 3  # per request, with shrinking sizes (docs/protocol.md#how-pull-recovers)
MAX_RECONNECTS = 8


@dataclasses.dataclass(frozen=True)
class DeviceChoice:
    """Which device to talk to, and how long to wait for it."""

    transport: str | Transport | None
    serial: str | None
    usb_path: str | None
    timeout: float
    io_timeout: float
    hello_timeout: float

    def connect(self, timeout: float | None = None, stop: StopRequest | None = None) -> Transport:
        """Wait for the device; a stop request (signal or ``interrupt``) ends the wait with
        its own Interrupted subclass."""
        from qdlpy.transport import connect

        try:
            return connect(self.transport, serial=self.serial, usb_path=self.usb_path,
                           timeout=self.timeout if timeout is None else timeout,
                           cancel=stop.flag if stop is not None else None)
        except Interrupted as exc:
            if stop is None:
                raise
            raise stop.error(f"{exc}; every complete region and chunk is saved") from None

    def client(self, transport: Transport) -> SaharaClient:
        return SaharaClient(transport, data_timeout=self.io_timeout,
                            hello_timeout=self.hello_timeout)


def resolve_chunk(chunk_size: int | None, transport: Transport | None) -> int:
    if chunk_size is None:
        return transport.default_chunk_size if transport is not None else 512 * 1024
    if not MIN_CHUNK <= chunk_size <= MAX_READ_SIZE:
        raise InvalidArgument(
            f"--chunk-size must be between {MIN_CHUNK} and {MAX_READ_SIZE} bytes (1 MiB cap: "
            f"the device keeps read lengths in 32 bits), not {chunk_size}")
    return chunk_size


class DeviceLink:
    """An open device in memory-debug mode, its region table, and recovery counters."""

    def __init__(self, choice: DeviceChoice, chunk_size: int | None,
                 stop: StopRequest | None = None) -> None:
        """Connect and handshake; nothing stays open when that fails. ``stop`` ends a wait
        for the device (at the start or after a disconnect) as soon as it is requested."""
        self.choice = choice
        self.stop = stop
        self.transport = choice.connect(stop=stop)
        self.opened: list[Transport] = [self.transport]
        self.reconnects = self.retries = 0
        try:
            self.client = choice.client(self.transport)
            self.table: DumpTable = self.client.open_memory_debug()
            self.chunk = resolve_chunk(chunk_size, self.transport)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for transport in self.opened:
            with contextlib.suppress(Exception):
                transport.close()
        self.opened = []

    def abandon(self) -> None:
        """Give up on the request in flight (after a region is given up on)."""
        self.client.abandon()

    def reset(self) -> None:
        self.client.reset()

    # ---- reads ----------------------------------------------------------------------------

    def read(self, rec: RegionRecord, address: int, length: int,
             ahead: tuple[int, int] | None = None) -> memoryview:
        """Read [address, address+length) completely, surviving stalls and disconnects."""
        attempt = 0
        reconnects = 0
        while True:
            try:
                return self._read_checked(rec, address, length, attempt, ahead)
            except TransferTimeout as exc:
                attempt += 1
                self.retries += 1
                if attempt >= RETRY_ATTEMPTS:
                    raise TransferTimeout(
                        f"{rec.filename}: no data at 0x{address:x} after {attempt} attempts "
                        f"with smaller requests ({exc})",
                        hint="check the cable/hub; the device still holds the dump: run the "
                             "same command with --resume") from exc
                log.warning("%s: read at 0x%x timed out; retrying with smaller requests",
                            rec.filename, address)
                self.client.abandon()
            except Disconnected as exc:
                reconnects += 1
                if reconnects > MAX_RECONNECTS:
                    raise
                log.warning("%s: device disconnected (%s); waiting for it to come back",
                            rec.filename, exc)
                self._reconnect()

    def _read_checked(self, rec: RegionRecord, address: int, length: int, attempt: int,
                      ahead: tuple[int, int] | None) -> memoryview:
        data = self._read_exact(rec, address, length, attempt, ahead)
        if attempt and self.transport.drain(quiet=self.client.idle_timeout):
            # Bytes after a retried read: the device was still sending the old answer, so
            # this one may be misaligned. Never keep it.
            raise TransferTimeout(f"{rec.filename}: stale data after a retry at 0x{address:x}")
        return data

    def _read_exact(self, rec: RegionRecord, address: int, length: int,
                    attempt: int, ahead: tuple[int, int] | None = None) -> memoryview:
        """One request, or smaller ones on retries (512K -> 64K -> 4K,
        docs/protocol.md#how-pull-recovers)."""
        where = f"region {rec.filename}"
        if attempt == 0:
            return self.client.read_chunk(address, length, context=where, ahead=ahead)
        piece = (self.chunk, max(4096, self.chunk // 8), 4096)[min(attempt, 2)]
        if piece >= length:
            return self.client.read_chunk(address, length, context=where)
        out = bytearray()
        for a, n in plan_reads(address, length, piece):
            out += self.client.read_chunk(a, n, context=where)
        return memoryview(out)

    # ---- reconnecting ---------------------------------------------------------------------

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.transport.close()
        timeout = self.choice.timeout
        deadline = None if timeout == 0 else time.monotonic() + timeout
        while True:
            try:
                table = self._handshake_again(deadline)
                break
            except (Disconnected, TransportError, DeviceNotFound, NoHello) as exc:
                if deadline is not None and time.monotonic() > deadline:
                    raise Disconnected(
                        f"the device did not come back within {timeout:g} s ({exc})",
                        hint="everything pulled so far is saved: reconnect the device and run "
                             "the same command with --resume") from exc
                time.sleep(0.25)
        if table.raw != self.table.raw:
            raise ProtocolError("after reconnecting, the device offers a different region "
                                "table: it is not the same dump",
                                hint="the regions saved so far are kept; pull the new dump "
                                     "into another -o DIR")
        self.reconnects += 1
        log.info("device is back (reconnect %d); continuing", self.reconnects)

    def _handshake_again(self, deadline: float | None) -> DumpTable:
        left = max(0.5, deadline - time.monotonic()) if deadline is not None else 0
        transport = self.choice.connect(timeout=left, stop=self.stop)
        self.opened.append(transport)
        try:
            client = self.choice.client(transport)
            table = client.open_memory_debug()
        except BaseException:
            with contextlib.suppress(Exception):
                transport.close()  # a half-open device must not stay claimed (EBUSY next time)
            raise
        self.transport, self.client = transport, client
        return table
