"""SaharaClient: the host state machine driven over a Transport.

This is where protocol meets I/O: the handshake with lost-HELLO recovery, the region
table, chunked memory reads into a reusable buffer, command mode, image transfer and
RESET. Higher layers (pull, info, load) never touch packets.

Timeouts follow docs/protocol.md#timeouts: about 1 s for command packets, about 30 s per
data read; a HELLO that does not come within ~1 s is re-provoked with SWITCH_MODE
(docs/protocol.md#re-provoking-a-lost-hello), never with RESET (which would reboot away a dump).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator

from qdlpy.errors import (
    DeviceNak,
    Disconnected,
    MalformedPacket,
    NoHello,
    ProtocolError,
    TableError,
    TransferTimeout,
    UnexpectedPacket,
    WrongMode,
)
from qdlpy.protocols.constants import MAX_READ_SIZE, MAX_TABLE_SIZE, Mode
from qdlpy.protocols.host import (
    CommandReady,
    Event,
    ExecuteResponse,
    HelloReceived,
    HostMachine,
    HostState,
    ImageDone,
    ImageRequest,
    RawComplete,
    RawData,
    ResetDone,
    TableOffered,
    TransferComplete,
)
from qdlpy.protocols.packets import Hello
from qdlpy.protocols.table import Region, parse_table
from qdlpy.transport.base import Transport

log = logging.getLogger("qdlpy.session")
trace = logging.getLogger("qdlpy.trace")

PACKET_BUFFER = 4096
MAX_ANSWER = 4096  # the longest client-command answer accepted (the longest known is 0x60)
MAX_EMPTY_READS = 64  # ZLPs are legal, but a pipe that only ever returns nothing is not
# read buffers stay larger than what remains, so a ZLP ends the transfer
# (docs/protocol.md#zero-length-packets)
SLACK = 64 * 1024

EDL_EXPLANATION = (
    "the device is in image-transfer (EDL) mode, not memory-debug (crash dump) mode: "
    "download mode was probably not enabled on the target before it crashed "
    "(qcom_scm.download_mode), or this is a PBL/EDL boot that cannot dump memory"
)
EDL_HINT = (
    "enable download mode on the target (e.g. qcom_scm.download_mode=full or mini) and "
    "reproduce the crash; `qdlpy info` works with a device in EDL mode"
)


@dataclasses.dataclass(frozen=True)
class DumpTable:
    """What a memory-debug device offers."""

    hello: Hello
    is64: bool
    address: int
    raw: bytes
    regions: list[Region]


class SaharaClient:
    """One Sahara conversation over an open Transport."""

    def __init__(self, transport: Transport, *, hello_timeout: float = 1.0,
                 command_timeout: float = 1.0, data_timeout: float = 30.0,
                 idle_timeout: float = 0.25, hello_attempts: int = 3) -> None:
        self.transport = transport
        self.hello_timeout = hello_timeout
        self.command_timeout = command_timeout
        self.data_timeout = data_timeout
        self.idle_timeout = idle_timeout
        self.hello_attempts = hello_attempts
        self.machine = HostMachine(message_boundaries=transport.message_boundaries)
        self.hello: Hello | None = None
        self.reprovoked = 0  # how many times a HELLO had to be re-provoked
        self.image_tx_status: int | None = None  # last DONE_RESP status (serve_images)
        self._buf = bytearray(MAX_READ_SIZE + SLACK)
        self._inflight: tuple[int, int] | None = None  # a request sent ahead (read_chunk)
        self._view = memoryview(self._buf)
        self._empty_reads = 0  # consecutive reads that returned nothing (_count_empty)

    # ---- packets --------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if trace.isEnabledFor(logging.DEBUG):
            trace.debug("-> %s", data.hex())
        self.transport.write(data, self.command_timeout)

    def _events(self, timeout: float) -> list[Event]:
        """Read until at least one event arrives (or the timeout)."""
        self._empty_reads = 0
        while True:
            data = self.transport.read(PACKET_BUFFER, timeout)
            self._count_empty(len(data), timeout)
            if trace.isEnabledFor(logging.DEBUG):
                trace.debug("<- %s", data.hex())
            events = self.machine.receive_data(data)
            if events:
                return events

    def _count_empty(self, got: int, timeout: float) -> None:
        """Count consecutive empty reads so a transport that returns nothing cannot spin."""
        if got:
            self._empty_reads = 0
            return
        self._empty_reads += 1
        if self._empty_reads >= MAX_EMPTY_READS:
            raise TransferTimeout(f"the device sent {MAX_EMPTY_READS} empty transfers in a row "
                                  f"(timeout {timeout:g} s each) and no data")

    def _expect(self, kind: type, what: str, timeout: float | None = None) -> Event:
        try:
            events = self._events(self.command_timeout if timeout is None else timeout)
        except TransferTimeout as exc:
            raise TransferTimeout(f"device did not send {what} within "
                                  f"{self.command_timeout if timeout is None else timeout:g} s",
                                  hint="power-cycle the device if this repeats") from exc
        ev = events[0]
        if not isinstance(ev, kind):
            raise UnexpectedPacket(f"expected {what}, got {type(ev).__name__}")
        return ev

    # ---- handshake ------------------------------------------------------------------------

    def wait_hello(self, reprovoke_mode: int) -> Hello:
        """Wait for HELLO; if none comes, re-provoke it safely with SWITCH_MODE."""
        for attempt in range(self.hello_attempts + 1):
            hello = self._hello_attempt()
            if hello is not None:
                return hello
            if attempt == self.hello_attempts:
                break
            log.info("no HELLO from the device; asking it to restart its Sahara session")
            self.reprovoked += 1
            self._send(self.machine.reprovoke_hello(reprovoke_mode))
        raise NoHello(
            f"the device sent no Sahara HELLO, even after {self.hello_attempts} safe "
            "re-provocations (SWITCH_MODE)"
        )

    def _hello_attempt(self) -> Hello | None:
        """One wait for HELLO: None after silence or stale bytes (which are drained)."""
        try:
            events = self._events(self.hello_timeout)
        except TransferTimeout:
            return None
        except DeviceNak as nak:
            raise ProtocolError(
                f"the device answered the session restart with {nak.message}: it is still "
                "in the error state of an earlier session and accepts only RESET, so the "
                "regions not yet saved can no longer be read",
                hint="`qdlpy reset` or a power-cycle brings the board back (the dump it "
                     "held is lost); files already saved are complete") from nak
        except (MalformedPacket, UnexpectedPacket) as exc:
            self._drop_stale(str(exc))
            return None
        for ev in events:
            if isinstance(ev, HelloReceived):
                self.hello = ev.hello
                log.debug("HELLO: version %d (compatible %d), mode %d, max command %d",
                          ev.hello.version, ev.hello.version_supported, ev.hello.mode,
                          ev.hello.cmd_packet_length)
                return ev.hello
        self._drop_stale("device sent something other than HELLO first")
        return None

    def _drop_stale(self, why: str) -> None:
        """Bytes of an earlier session (e.g. an interrupted read) came first: drop them."""
        log.debug("discarding stale input before HELLO: %s", why)
        self.transport.drain(quiet=self.idle_timeout)

    def open_memory_debug(self) -> DumpTable:
        """Handshake in memory-debug mode and fetch the region table."""
        hello = self.wait_hello(Mode.MEMORY_DEBUG)
        if hello.mode in (Mode.IMAGE_TX_PENDING, Mode.IMAGE_TX_COMPLETE):
            raise WrongMode(EDL_EXPLANATION, hint=EDL_HINT)
        self._send(self.machine.hello_resp(Mode.MEMORY_DEBUG))
        try:
            offer = self._expect(TableOffered, "the region table offer (MEMORY_DEBUG)")
        except DeviceNak as nak:
            if nak.status == 0x1B:
                raise WrongMode(f"{nak.message}: {EDL_EXPLANATION}", hint=EDL_HINT) from nak
            raise
        assert isinstance(offer, TableOffered)
        log.debug("table at 0x%x, %d bytes, %s entries", offer.address, offer.length,
                  "64-bit" if offer.is64 else "32-bit")
        if offer.length == 0 or offer.length > MAX_TABLE_SIZE:
            raise TableError(f"device offers a region table of {offer.length} bytes "
                             f"(must be 1..{MAX_TABLE_SIZE})")
        raw = bytes(self.read_chunk(offer.address, offer.length))
        log.debug("region table (%d bytes): %s", len(raw), raw.hex())
        regions = parse_table(raw, is64=offer.is64)
        self.machine.set_table([(r.base, r.length) for r in regions])
        return DumpTable(hello, offer.is64, offer.address, raw, regions)

    # ---- memory -----------------------------------------------------------------------------

    def read_chunk(self, address: int, length: int, timeout: float | None = None,
                   context: str = "", ahead: tuple[int, int] | None = None) -> memoryview:
        """One MEMORY_READ; returns a view of the reusable buffer (valid until the next read).

        ``ahead=(address, length)`` sends the *next* request as soon as this one's data is
        complete, so the device streams it while the caller writes this view; the next
        read_chunk for exactly that range then only collects it. Raises DeviceNak if the
        device answered with END_OF_IMAGE_TX, TransferTimeout if it stalled (the machine
        is then back in the idle state; drain before retrying).
        """
        timeout = self.data_timeout if timeout is None else timeout
        if self._inflight == (address, length):
            self._inflight = None  # requested by the previous call
        else:
            if self._inflight is not None:
                self.abandon()  # a different read than announced: drop the one in flight
            self._send(self.machine.memory_read(address, length, context))
        buf, view = self._buf, self._view
        filled = 0
        limit = min(len(buf), length + SLACK)
        self._empty_reads = 0
        while True:
            for ev in self._read_memory(view[filled:limit], timeout):
                if isinstance(ev, RawData):
                    n = len(ev.data)
                    if ev.data.obj is not buf:  # released held bytes: not yet in place
                        view[filled : filled + n] = ev.data
                    filled += n
                elif isinstance(ev, RawComplete):
                    # Reads always offer more room than remains, so a ZLP ends the
                    # transfer inside libusb; a stray one later reads as b"" and is ignored.
                    if ahead is not None:
                        self._send(self.machine.memory_read(ahead[0], ahead[1], context))
                        self._inflight = ahead
                    return view[:length]

    def _read_memory(self, into: memoryview, timeout: float) -> list[Event]:
        """One read of memory data into ``into``; silence decides about held bytes.

        A timeout or a lost device leaves the machine idle again (the read is abandoned);
        a timeout while bytes that look like an END_OF_IMAGE_TX are held is the silence
        that makes them one (DeviceNak) or data.
        """
        holding = self.machine.awaiting_idle
        try:
            got = self.transport.readinto(into, self.idle_timeout if holding else timeout)
            self._count_empty(got, timeout)
            return self.machine.receive_data(into[:got])
        except TransferTimeout:
            if not holding:
                self.machine.abandon_raw()
                raise
            return self.machine.receive_idle()  # raises DeviceNak if it was an EOI
        except Disconnected:
            self.machine.abandon_raw()
            self._inflight = None
            raise

    def abandon(self) -> None:
        """After a failed read: forget it and drain what the device may still send."""
        self._inflight = None
        self.machine.abandon_raw()
        dropped = self.transport.drain(quiet=self.idle_timeout)
        if dropped:
            log.debug("drained %d stale bytes", dropped)

    # ---- command mode -----------------------------------------------------------------------

    def open_command_mode(self) -> Hello:
        """HELLO_RESP(3) and CMD_READY; uses a HELLO already received (and not answered)."""
        pending = self.machine.hello if self.machine.state is HostState.WAIT_HELLO else None
        hello = pending or self.wait_hello(Mode.COMMAND)
        self._send(self.machine.hello_resp(Mode.COMMAND))
        try:
            self._expect(CommandReady, "CMD_READY")
        except DeviceNak as nak:
            raise WrongMode(f"device rejected command mode ({nak.message})",
                            hint="this device or boot stage has no Sahara command mode") from nak
        return hello

    def execute(self, client_command: int) -> bytes:
        """Run a client command and return its answer, as long as EXECUTE_RESP announced."""
        self._send(self.machine.execute(client_command))
        resp = self._expect(ExecuteResponse, f"EXECUTE_RESP for command 0x{client_command:x}")
        assert isinstance(resp, ExecuteResponse)
        if resp.length > MAX_ANSWER:
            raise ProtocolError(f"client command 0x{client_command:x} claims a "
                                f"{resp.length}-byte answer (over {MAX_ANSWER})")
        self._send(self.machine.execute_data(client_command))
        return self._collect_answer(client_command, resp.length)

    def _collect_answer(self, client_command: int, length: int) -> bytes:
        """Read the announced answer; whatever its bytes look like, they are released at once.

        A stall is a timeout, unless what came was exactly an END_OF_IMAGE_TX where a longer
        answer was announced (DeviceNak): the machine decides that (``receive_idle``).
        """
        answer = bytearray()
        while len(answer) < length:
            try:
                events = self._events(self.command_timeout)
            except TransferTimeout as exc:
                self.machine.receive_idle()
                self.machine.abandon_raw()
                raise TransferTimeout(
                    f"client command 0x{client_command:x}: the device sent {len(answer)} of "
                    f"the {length} bytes it announced, then nothing for "
                    f"{self.command_timeout:g} s",
                    hint="power-cycle the device if this repeats") from exc
            for ev in events:
                if isinstance(ev, RawData):
                    answer += ev.data
        return bytes(answer)

    def leave_command_mode(self, mode: int = Mode.IMAGE_TX_PENDING) -> Hello | None:
        """SWITCH_MODE(mode), never RESET (docs/protocol.md#leaving-command-mode); returns the new
        HELLO.

        ``mode`` 0 suits an EDL device; a crash-dump device goes back with 2 so that its
        next HELLO offers the dump again. Also sent after a refused client command (the
        host machine is then FAILED): if the device still answers with a HELLO it is
        usable, if it NAKs (DeviceNak) it accepts only RESET. None: no HELLO in time.
        """
        if self.machine.state is HostState.COMMAND_IDLE:
            self._send(self.machine.switch_mode(mode))
        else:
            self._send(self.machine.reprovoke_hello(mode))
        try:
            ev = self._expect(HelloReceived, "HELLO after SWITCH_MODE")
        except TransferTimeout:
            return None
        assert isinstance(ev, HelloReceived)
        self.hello = ev.hello
        return ev.hello

    # ---- image transfer ---------------------------------------------------------------------

    def start_image_transfer(self, mode: int = Mode.IMAGE_TX_PENDING) -> None:
        """Answer HELLO with HELLO_RESP(0|1): the device starts asking for image bytes."""
        self._send(self.machine.hello_resp(mode))

    def serve_images(self, provide: Callable[[int, int, int], bytes | Iterable[bytes]],
                     on_chunk: Callable[[int, int, int], None] | None = None,
                     *, sole_image: bool = False) -> int:
        """Answer READ_DATA requests until DONE_RESP says complete; returns bytes sent.

        ``provide(image, offset, length)`` returns the bytes, or an iterable of pieces
        that is consumed one piece at a time, so a large request (the length is a u32)
        never has to sit in memory whole; each write is at most MAX_READ_SIZE.

        ``sole_image``: a DONE_RESP "pending" also ends the transfer (the MSM8916 PBL
        quirk after the only programmer, docs/protocol.md#image-ids-and-the-pending-quirk) unless
        the device asks for another image right away (``_asks_again``). The last DONE_RESP
        status is kept in ``image_tx_status``. One read may complete several packets on
        byte streams (DONE_RESP followed by the next READ_DATA), so every event is used.
        """
        sent = 0
        queue: collections.deque[Event] = collections.deque()
        while True:
            if not queue:
                queue.extend(self._events(self.data_timeout))
            ev = queue.popleft()
            if isinstance(ev, ImageRequest):
                data = provide(ev.image_id, ev.offset, ev.length)
                pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
                for piece in pieces:
                    for i in range(0, len(piece), MAX_READ_SIZE):
                        self.transport.write(piece[i : i + MAX_READ_SIZE], self.data_timeout)
                    sent += len(piece)
                self.machine.image_data_sent()
                if on_chunk:
                    on_chunk(ev.image_id, ev.offset, ev.length)
            elif isinstance(ev, ImageDone):
                self._send(self.machine.done())
            elif isinstance(ev, TransferComplete):
                self.image_tx_status = ev.status
                if ev.complete or (sole_image and not self._asks_again(queue)):
                    return sent
            else:
                raise UnexpectedPacket(f"unexpected {type(ev).__name__} during image transfer")

    def _asks_again(self, queue: collections.deque[Event]) -> bool:
        """After DONE_RESP "pending": does the device go on to request another image?

        A device that really wants more sends READ_DATA at once; the quirky PBL jumps to
        the programmer instead (which then stays silent or speaks Firehose, not Sahara).
        """
        if queue:
            return True
        try:
            queue.extend(self._events(self.idle_timeout))
        except (TransferTimeout, Disconnected, MalformedPacket, UnexpectedPacket):
            return False  # silence, a re-enumeration or Firehose: the programmer runs
        return bool(queue)

    # ---- ending -------------------------------------------------------------------------------

    def reset(self) -> None:
        """RESET: the device reboots (a memory-debug device loses its dump)."""
        self._send(self.machine.reset())
        try:
            self._expect(ResetDone, "RESET_RESP")
        except (TransferTimeout, Disconnected):
            log.debug("no RESET_RESP (the device may have rebooted already)")


@contextlib.contextmanager
def open_session(transport: str | Transport | None = None, *, serial: str | None = None,
                 usb_path: str | None = None, timeout: float = 60.0,
                 hello_timeout: float = 1.0, data_timeout: float = 30.0
                 ) -> Iterator[SaharaClient]:
    """Wait for the device, yield a SaharaClient on it, and always release it after."""
    from qdlpy.transport import connect

    opened = connect(transport, serial=serial, usb_path=usb_path, timeout=timeout)
    try:
        yield SaharaClient(opened, hello_timeout=hello_timeout, data_timeout=data_timeout)
    finally:
        opened.close()
