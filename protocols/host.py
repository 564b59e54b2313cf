"""The host side of Sahara as a state machine over bytes (h11 style, no I/O).

Feed what the transport delivered to ``receive_data()`` (one call per transfer/read) and get
typed events back; call an action method (``hello_resp()``, ``memory_read()``, ...) and send
the bytes it returns. Device errors (END_OF_IMAGE_TX with a non-zero status) raise
``DeviceNak``; packets that are not allowed in the current state raise
``UnexpectedPacket``. The machine never sends anything on its own.

Flows (docs/protocol.md):

* memory debug: HELLO -> hello_resp(2) -> MEMORY_DEBUG(64) -> memory_read(table) -> raw
  table -> set_table() -> memory_read(...) -> raw data ... -> reset() -> RESET_RESP
* command: HELLO -> hello_resp(3) -> CMD_READY -> execute(c) -> EXECUTE_RESP ->
  execute_data(c) -> raw payload ... -> switch_mode(0) -> HELLO
* image transfer: HELLO -> hello_resp(0) -> READ_DATA(64) -> image_data_sent() ... ->
  END_OF_IMAGE_TX(0) -> done() -> DONE_RESP

Raw phases (memory data, command answers) are delivered as ``RawData`` events that wrap
the caller's buffer without copying. A device refuses a MEMORY_READ by sending the 16-byte
END_OF_IMAGE_TX in place of the data (docs/protocol.md#why-a-16-byte-request-is-never-sent). It is
recognised on transports with message boundaries when it is the whole first transfer, on byte
streams when it is followed by silence (``receive_idle()``); the host never requests exactly 16
bytes (``plan_reads``). A command answer is never held back for silence: its length is announced by
EXECUTE_RESP and the device sends it for the EXECUTE_DATA the machine allows, so bytes that merely
look like an END_OF_IMAGE_TX (an SBL version of 4) are the answer (``_receive_answer``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator
from typing import ClassVar

from .constants import (
    EOI_SIZE,
    HEADER_SIZE,
    HOST_VERSION,
    HOST_VERSION_SUPPORTED,
    MAX_COMMAND_PACKET,
    MAX_READ_SIZE,
    Cmd,
    Mode,
)
from .errors import DeviceNak, MalformedPacket, ProtocolError, UnexpectedPacket
from .packets import (
    CmdReady,
    Done,
    DoneResp,
    EndOfImageTx,
    Execute,
    ExecuteData,
    ExecuteResp,
    Hello,
    HelloResp,
    MemoryDebug,
    MemoryDebug64,
    MemoryRead,
    MemoryRead64,
    Packet,
    ReadData,
    ReadData64,
    Reset,
    ResetResp,
    SwitchMode,
    build_packet,
    command_name,
    packet_length,
    parse_packet,
)

__all__ = [
    "HostState",
    "HostMachine",
    "HelloReceived",
    "TableOffered",
    "CommandReady",
    "ExecuteResponse",
    "ImageRequest",
    "ImageDone",
    "TransferComplete",
    "ResetDone",
    "RawData",
    "RawComplete",
    "Event",
    "plan_reads",
]

_EOI_PREFIX = (int(Cmd.END_OF_IMAGE_TX)).to_bytes(4, "little") + EOI_SIZE.to_bytes(4, "little")


class HostState(enum.Enum):
    WAIT_HELLO = "wait-hello"
    WAIT_TABLE_OFFER = "wait-memory-debug"  # after HELLO_RESP(2)
    MEMORY_IDLE = "memory-idle"  # may send MEMORY_READ / RESET / SWITCH_MODE
    MEMORY_RAW = "memory-raw"  # receiving raw memory bytes
    WAIT_CMD_READY = "wait-cmd-ready"
    COMMAND_IDLE = "command-idle"
    WAIT_EXECUTE_RESP = "wait-execute-resp"
    EXECUTE_READY = "execute-ready"  # EXECUTE_RESP seen; send EXECUTE_DATA
    COMMAND_RAW = "command-raw"
    IMAGE_WAIT = "image-wait"  # waiting for READ_DATA / END_OF_IMAGE_TX
    IMAGE_SEND = "image-send"  # host owes the device data_length image bytes
    WAIT_DONE_RESP = "wait-done-resp"
    WAIT_RESET_RESP = "wait-reset-resp"
    FAILED = "failed"  # the device NAKed: it only accepts RESET now (docs/protocol.md#wait_reset)
    CLOSED = "closed"  # RESET_RESP seen, or image transfer complete


# ---- events -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HelloReceived:
    hello: Hello

    @property
    def mode(self) -> int:
        return self.hello.mode


@dataclasses.dataclass(frozen=True)
class TableOffered:
    """MEMORY_DEBUG(64): where the region table is and how long it is."""

    address: int
    length: int
    is64: bool


@dataclasses.dataclass(frozen=True)
class CommandReady:
    pass


@dataclasses.dataclass(frozen=True)
class ExecuteResponse:
    client_command: int
    length: int


@dataclasses.dataclass(frozen=True)
class ImageRequest:
    image_id: int
    offset: int
    length: int
    is64: bool


@dataclasses.dataclass(frozen=True)
class ImageDone:
    """END_OF_IMAGE_TX with status 0: the image was accepted; answer with done()."""

    image_id: int


@dataclasses.dataclass(frozen=True)
class TransferComplete:
    """DONE_RESP: ``complete`` False means the device wants another image."""

    complete: bool
    status: int


@dataclasses.dataclass(frozen=True)
class ResetDone:
    pass


@dataclasses.dataclass(frozen=True)
class RawData:
    """A piece of a raw phase; ``data`` is a view of the caller's buffer (no copy)."""

    data: memoryview


@dataclasses.dataclass(frozen=True)
class RawComplete:
    """The raw phase received every requested byte."""

    length: int


Event = (
    HelloReceived | TableOffered | CommandReady | ExecuteResponse | ImageRequest | ImageDone
    | TransferComplete | ResetDone | RawData | RawComplete
)


def plan_reads(base: int, length: int, chunk: int) -> Iterator[tuple[int, int]]:
    """Split [base, base+length) into MEMORY_READ requests of at most ``chunk`` bytes.

    No request is exactly 16 bytes (an END_OF_IMAGE_TX would be indistinguishable from
    the data, docs/protocol.md#why-a-16-byte-request-is-never-sent): such a piece is sent as 8 + 8.
    """
    if chunk < 1 or chunk > MAX_READ_SIZE:
        raise ValueError(f"chunk size must be 1..{MAX_READ_SIZE}, got {chunk}")
    offset = 0
    while offset < length:
        n = min(chunk, length - offset)
        if n == EOI_SIZE:
            yield base + offset, 8
            yield base + offset + 8, 8
        else:
            yield base + offset, n
        offset += n


class HostMachine:
    """Host-side Sahara state machine. See the module docstring."""

    def __init__(self, *, message_boundaries: bool = True) -> None:
        self.message_boundaries = message_boundaries
        self.state = HostState.WAIT_HELLO
        self.hello: Hello | None = None
        self.mode: int | None = None
        self.is64 = True
        self.table_address = 0
        self.table_length = 0
        self._allowed: list[tuple[int, int]] = []  # readable [start, end) once the table is known
        self._packet = bytearray()  # a command packet still arriving
        self._raw_left = 0
        self._raw_total = 0
        self._raw_first = True  # nothing of this raw phase received yet
        self._held = bytearray()  # memory bytes that may be an END_OF_IMAGE_TX sent instead
        self._answer_head = bytearray()  # the first 16 bytes of a command answer
        self._raw_context = ""
        self._pending_exec: int | None = None  # the client command EXECUTE named
        self._answer_length = 0  # what EXECUTE_RESP announced for it

    # ---- receiving ---------------------------------------------------------------------

    @property
    def in_raw_phase(self) -> bool:
        return self.state in (HostState.MEMORY_RAW, HostState.COMMAND_RAW)

    @property
    def awaiting_idle(self) -> bool:
        """True when held bytes look like an END_OF_IMAGE_TX and only silence can tell."""
        return self.in_raw_phase and bool(self._held)

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Feed bytes from one read; return the events they complete."""
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        if not len(view):
            return []  # a ZLP or an empty read carries nothing
        if self.state is HostState.MEMORY_RAW:
            return self._receive_memory(view)
        if self.state is HostState.COMMAND_RAW:
            return self._receive_answer(view)
        if self.state is HostState.CLOSED:
            raise UnexpectedPacket(
                f"{len(view)} bytes arrived after the session ended", hint=None
            )
        self._packet += view
        events: list[Event] = []
        while len(self._packet) >= HEADER_SIZE:
            length = packet_length(self._packet)
            if length < HEADER_SIZE or length > MAX_COMMAND_PACKET:
                junk = bytes(self._packet[:16]).hex()
                self._packet.clear()
                raise MalformedPacket(
                    f"impossible packet length {length} (first bytes {junk}) in state "
                    f"{self.state.value}"
                )
            if len(self._packet) < length:
                break
            raw = bytes(self._packet[:length])
            del self._packet[:length]
            events.extend(self._dispatch(parse_packet(raw)))
        return events

    def receive_idle(self) -> list[Event]:
        """The byte stream stayed quiet: decide what the bytes of the raw phase were.

        Memory data: 16 held bytes are the END_OF_IMAGE_TX they look like (raises
        DeviceNak); fewer are data after all (a short read whose memory happens to start
        like an EOI header). A command answer is never held; the session calls this when
        one stalls, and exactly 16 bytes that parse as an END_OF_IMAGE_TX where more were
        announced were that packet (raises DeviceNak); anything else is left to the
        caller's timeout.
        """
        if self.state is HostState.COMMAND_RAW:
            received = self._raw_total - self._raw_left
            if received == EOI_SIZE and _starts_like_eoi(self._answer_head):
                self._raise_eoi(bytes(self._answer_head))
            return []
        if not (self.state is HostState.MEMORY_RAW and self._held):
            return []
        held = bytes(self._held)
        if len(held) == EOI_SIZE:
            self._raise_eoi(held)
        self._held.clear()
        if len(held) > self._raw_left:
            raise ProtocolError(f"device sent {len(held)} bytes where {self._raw_left} were "
                                f"expected ({self._raw_context})")
        return self._take_raw(memoryview(held))

    def _receive_memory(self, view: memoryview) -> list[Event]:
        if self._raw_first or self._held:
            view = self._check_eoi_in_memory(view)
            if not len(view):
                return []
        return self._take_raw(view)

    def _receive_answer(self, view: memoryview) -> list[Event]:
        """A client command's answer: exactly the announced length, never held back.

        The device sends the answer to the EXECUTE_DATA it expects, and an END_OF_IMAGE_TX
        in its place only for an EXECUTE_DATA naming another command (``execute_data``
        refuses to send one) or junk. So every byte is passed on as it comes, whatever it
        looks like; an END_OF_IMAGE_TX is recognised only where it cannot be the answer:
        a first transfer that is one (as for memory data), 16 bytes on a byte stream where
        fewer were announced, or (``receive_idle``) 16 bytes and a stall where more were.
        """
        first, self._raw_first = self._raw_first, False
        if self.message_boundaries:
            if first and self._transfer_is_eoi(view):
                self._raise_eoi(bytes(view[:EOI_SIZE]))
            return self._take_raw(view)
        room = EOI_SIZE - len(self._answer_head)
        if room > 0:
            self._answer_head += view[:room]
        overrun = len(view) > self._raw_left
        if overrun and len(self._answer_head) == EOI_SIZE \
                and _starts_like_eoi(self._answer_head):
            self._raise_eoi(bytes(self._answer_head))
        return self._take_raw(view)

    def _take_raw(self, view: memoryview) -> list[Event]:
        """Deliver raw bytes known to be data; the phase ends with its last byte."""
        n = len(view)
        if n > self._raw_left:
            extra = bytes(view[self._raw_left : self._raw_left + 16]).hex()
            raise ProtocolError(
                f"device sent {n - self._raw_left} bytes more than the {self._raw_total} "
                f"requested ({self._raw_context}; extra bytes start {extra})"
            )
        self._raw_left -= n
        events: list[Event] = [RawData(view)]
        if self._raw_left == 0:
            events.append(self._finish_raw())
        return events

    def _transfer_is_eoi(self, view: memoryview) -> bool:
        """Is the first transfer of a raw phase an END_OF_IMAGE_TX sent instead of data?

        Only where it cannot be the data (the rule the kernel, qcom-dl and OpenPST use):
        exactly 16 bytes where more were asked for, or 16 or more where fewer were.
        """
        total = len(view)
        if not _starts_like_eoi(view[:EOI_SIZE]):
            return False
        return (total == EOI_SIZE < self._raw_total) or (total >= EOI_SIZE > self._raw_total)

    def _check_eoi_in_memory(self, view: memoryview) -> memoryview:
        """Hold back a prefix that may be a 16-byte END_OF_IMAGE_TX sent instead of data.

        With transfer boundaries (USB, MHI) only a first transfer that is an EOI where it
        cannot be the data counts (``_transfer_is_eoi``). On byte streams a matching prefix
        is held until more data proves it was memory, 16 bytes overrun a short request, or
        silence (receive_idle) decides.
        """
        first_transfer = self._raw_first and not self._held
        self._raw_first = False
        if self.message_boundaries:
            if first_transfer and self._transfer_is_eoi(view):
                self._raise_eoi(bytes(view[:EOI_SIZE]))
            return view
        head = bytes(self._held) + bytes(view[:EOI_SIZE])
        if not _starts_like_eoi(head):
            return self._release_held(view)
        total = len(self._held) + len(view)
        if total < EOI_SIZE or (total == EOI_SIZE and self._raw_total > EOI_SIZE):
            self._held += view
            return memoryview(b"")  # wait for more data, or for silence
        if self._raw_total < EOI_SIZE:
            self._raise_eoi(head[:EOI_SIZE])  # 16 bytes where fewer were asked: an EOI
        return self._release_held(view)

    def _release_held(self, view: memoryview) -> memoryview:
        if not self._held:
            return view
        whole = bytes(self._held) + bytes(view)
        self._held.clear()
        return memoryview(whole)

    def _raise_eoi(self, raw: bytes) -> None:
        pkt = parse_packet(raw)
        assert isinstance(pkt, EndOfImageTx)
        self._held.clear()
        self.state = HostState.FAILED
        if pkt.status == 0:
            raise UnexpectedPacket(
                f"device ended the transfer with END_OF_IMAGE_TX(status 0) instead of data "
                f"({self._raw_context})"
            )
        raise DeviceNak(pkt.status, self._raw_context, hint=_nak_hint(pkt.status))

    def _finish_raw(self) -> RawComplete:
        total = self._raw_total
        self.state = (
            HostState.MEMORY_IDLE if self.state is HostState.MEMORY_RAW else HostState.COMMAND_IDLE
        )
        self._raw_total = self._raw_left = 0
        return RawComplete(total)

    # ---- packets by state ----------------------------------------------------------------

    def _dispatch(self, pkt: Packet) -> list[Event]:
        """Packets any live state may see first, then the ones the current state expects."""
        if isinstance(pkt, EndOfImageTx) and pkt.status != 0:
            state = self.state
            self.state = HostState.FAILED
            raise DeviceNak(
                pkt.status,
                f"in state {state.value}, image {pkt.image_id}",
                hint=_nak_hint(pkt.status),
            )
        if isinstance(pkt, Hello):
            # A HELLO in another live state means the device restarted its session (after
            # our SWITCH_MODE, or its own restart); only a finished session refuses it.
            if self.state in (HostState.CLOSED, HostState.FAILED):
                raise self._unexpected(pkt)
            return [self._on_hello(pkt)]
        if isinstance(pkt, ResetResp) and self.state is HostState.WAIT_RESET_RESP:
            self.state = HostState.CLOSED
            return [ResetDone()]
        handler = self._STATE_HANDLERS.get(self.state)
        event = handler(self, pkt) if handler is not None else None
        if event is None:
            raise self._unexpected(pkt)
        return [event]

    def _in_wait_table_offer(self, pkt: Packet) -> Event | None:
        if isinstance(pkt, (MemoryDebug, MemoryDebug64)):
            self.is64 = isinstance(pkt, MemoryDebug64)
            self.table_address, self.table_length = pkt.table_address, pkt.table_length
            self.state = HostState.MEMORY_IDLE
            return TableOffered(pkt.table_address, pkt.table_length, self.is64)
        return self._in_image_wait(pkt)  # a device that only does image transfer asks

    def _in_wait_cmd_ready(self, pkt: Packet) -> Event | None:
        if not isinstance(pkt, CmdReady):
            return None
        self.state = HostState.COMMAND_IDLE
        return CommandReady()

    def _in_wait_execute_resp(self, pkt: Packet) -> Event | None:
        if not isinstance(pkt, ExecuteResp):
            return None
        if pkt.client_command != self._pending_exec:
            raise UnexpectedPacket(
                f"EXECUTE_RESP for client command 0x{pkt.client_command:x}, "
                f"expected 0x{self._pending_exec or 0:x}"
            )
        self.state = HostState.EXECUTE_READY
        self._answer_length = pkt.response_length
        return ExecuteResponse(pkt.client_command, pkt.response_length)

    def _in_image_wait(self, pkt: Packet) -> Event | None:
        if isinstance(pkt, (ReadData, ReadData64)):
            if pkt.data_length == 0:
                raise UnexpectedPacket(f"device asked for 0 bytes of image {pkt.image_id}")
            self.state = HostState.IMAGE_SEND
            return ImageRequest(pkt.image_id, pkt.data_offset, pkt.data_length,
                                isinstance(pkt, ReadData64))
        if isinstance(pkt, EndOfImageTx) and self.state is HostState.IMAGE_WAIT:
            return ImageDone(pkt.image_id)
        return None

    def _in_wait_done_resp(self, pkt: Packet) -> Event | None:
        if not isinstance(pkt, DoneResp):
            return None
        complete = pkt.image_tx_status == 1
        self.state = HostState.CLOSED if complete else HostState.IMAGE_WAIT
        return TransferComplete(complete, pkt.image_tx_status)

    _STATE_HANDLERS: ClassVar[dict[HostState, Callable[[HostMachine, Packet], Event | None]]] = {
        HostState.WAIT_TABLE_OFFER: _in_wait_table_offer,
        HostState.WAIT_CMD_READY: _in_wait_cmd_ready,
        HostState.WAIT_EXECUTE_RESP: _in_wait_execute_resp,
        HostState.IMAGE_WAIT: _in_image_wait,
        HostState.WAIT_DONE_RESP: _in_wait_done_resp,
    }

    def _unexpected(self, pkt: Packet) -> UnexpectedPacket:
        return UnexpectedPacket(
            f"device sent {command_name(pkt.CMD)} while the host was in state {self.state.value}"
        )

    def _on_hello(self, pkt: Hello) -> HelloReceived:
        if pkt.version < 1 or pkt.version > 3 or pkt.version_supported > pkt.version:
            raise ProtocolError(
                f"device HELLO announces Sahara version {pkt.version} (oldest compatible "
                f"{pkt.version_supported}); qdlpy speaks versions 1 to 3",
                hint="this does not look like a Qualcomm Sahara device",
            )
        if pkt.mode > Mode.COMMAND:
            raise ProtocolError(f"device HELLO offers unknown mode {pkt.mode}")
        self.hello = pkt
        self.mode = pkt.mode
        self.state = HostState.WAIT_HELLO
        self._packet.clear()
        return HelloReceived(pkt)

    # ---- actions -------------------------------------------------------------------------

    def _require(self, *states: HostState, action: str) -> None:
        if self.state not in states:
            raise UnexpectedPacket(
                f"cannot {action} in state {self.state.value}",
                hint="this is a bug in qdlpy: please report it with qdlpy.log attached",
            )

    def hello_resp(self, mode: int | None = None) -> bytes:
        """Answer HELLO; the default echoes the device's mode (docs/protocol.md#modes)."""
        self._require(HostState.WAIT_HELLO, action="answer HELLO")
        if self.hello is None:
            raise UnexpectedPacket("cannot answer HELLO before one arrived")
        chosen = self.hello.mode if mode is None else int(mode)
        self.mode = chosen
        self.state = {
            Mode.IMAGE_TX_PENDING: HostState.IMAGE_WAIT,
            Mode.IMAGE_TX_COMPLETE: HostState.IMAGE_WAIT,
            Mode.MEMORY_DEBUG: HostState.WAIT_TABLE_OFFER,
            Mode.COMMAND: HostState.WAIT_CMD_READY,
        }[Mode(chosen)]
        # Version 2 / compatible 1 (docs/protocol.md#version-negotiation); a v1 device only accepts
        # version 1.
        version = min(HOST_VERSION, self.hello.version)
        return build_packet(
            HelloResp(version=version, version_supported=HOST_VERSION_SUPPORTED,
                      status=0, mode=chosen)
        )

    def set_table(self, ranges: list[tuple[int, int]]) -> None:
        """Restrict memory reads to these (base, length) table entries
        (docs/protocol.md#every-read-stays-inside-the-table)."""
        self._allowed = [(base, base + length) for base, length in ranges if length > 0]

    def memory_read(self, address: int, length: int, context: str = "") -> bytes:
        """Request raw memory; the answer arrives as RawData events then RawComplete."""
        self._require(HostState.MEMORY_IDLE, action="send MEMORY_READ")
        if length <= 0 or length > MAX_READ_SIZE or length == EOI_SIZE:
            raise ProtocolError(
                f"refusing a MEMORY_READ of {length} bytes (1..{MAX_READ_SIZE}, never exactly "
                f"{EOI_SIZE}: plan_reads splits such requests)",
                hint="this is a bug in qdlpy: please report it with qdlpy.log attached",
            )
        is_table = address == self.table_address and length <= self.table_length
        inside = any(start <= address and address + length <= end
                     for start, end in self._allowed)
        if not is_table and not inside:
            raise ProtocolError(
                f"refusing to read 0x{address:x}+0x{length:x}: outside every table entry "
                "(the device would end the session)",
                hint="this is a bug in qdlpy: please report it with qdlpy.log attached",
            )
        if not self.is64 and address + length > 1 << 32:
            raise ProtocolError(f"0x{address:x}+0x{length:x} does not fit a 32-bit MEMORY_READ")
        where = f"reading 0x{address:x}+0x{length:x}"
        self._start_raw(HostState.MEMORY_RAW, length, f"{context}, {where}" if context else where)
        pkt = MemoryRead64(address, length) if self.is64 else MemoryRead(address, length)
        return build_packet(pkt)

    def _start_raw(self, state: HostState, length: int, context: str) -> None:
        self.state = state
        self._raw_left = self._raw_total = length
        self._raw_first = True
        self._held.clear()
        self._answer_head.clear()
        self._raw_context = context

    def abandon_raw(self) -> None:
        """Forget an unfinished raw phase (after a timeout; the caller drains the pipe)."""
        if self.state is HostState.MEMORY_RAW:
            self.state = HostState.MEMORY_IDLE
        elif self.state is HostState.COMMAND_RAW:
            self.state = HostState.COMMAND_IDLE
        self._raw_left = self._raw_total = 0
        self._held.clear()
        self._answer_head.clear()

    @property
    def raw_remaining(self) -> int:
        return self._raw_left

    def reset(self) -> bytes:
        """RESET: ends the session; in memory-debug mode the SoC reboots and the dump is gone."""
        self.state = HostState.WAIT_RESET_RESP
        self._packet.clear()
        return build_packet(Reset())

    def switch_mode(self, mode: int) -> bytes:
        """SWITCH_MODE: the device restarts its session with a HELLO of ``mode``."""
        self._require(HostState.MEMORY_IDLE, HostState.COMMAND_IDLE, action="send SWITCH_MODE")
        return self.reprovoke_hello(mode)

    def reprovoke_hello(self, mode: int) -> bytes:
        """SWITCH_MODE sent when the device's state is unknown (lost HELLO,
        docs/protocol.md#re-provoking-a-lost-hello).

        Safe in every state a waiting device can be in: WAIT_HELLO_RESP treats it as an
        invalid packet and resends HELLO; WAIT_MEMORY_READ / WAIT_CMD_EXEC restart the
        session with a HELLO of ``mode``. Never a RESET (that reboots away the dump).
        """
        self.state = HostState.WAIT_HELLO
        self.hello = None
        self._packet.clear()
        return build_packet(SwitchMode(int(mode)))

    def execute(self, client_command: int) -> bytes:
        self._require(HostState.COMMAND_IDLE, action="send EXECUTE")
        self._pending_exec = int(client_command)
        self.state = HostState.WAIT_EXECUTE_RESP
        return build_packet(Execute(int(client_command)))

    def execute_data(self, client_command: int) -> bytes:
        """Ask for the answer EXECUTE_RESP announced; it arrives as RawData, RawComplete.

        Only for the command EXECUTE named: the device would answer EXECUTE_DATA for
        another one with END_OF_IMAGE_TX 0x20 and then accept only RESET.
        """
        self._require(HostState.EXECUTE_READY, action="send EXECUTE_DATA")
        if int(client_command) != self._pending_exec:
            raise UnexpectedPacket(
                f"EXECUTE_DATA for client command 0x{int(client_command):x}, but the device "
                f"is waiting for 0x{self._pending_exec or 0:x}",
                hint="this is a bug in qdlpy: please report it with qdlpy.log attached",
            )
        if self._answer_length == 0:
            self.state = HostState.COMMAND_IDLE
        else:
            self._start_raw(HostState.COMMAND_RAW, self._answer_length,
                            f"client command 0x{client_command:x} answer")
        return build_packet(ExecuteData(int(client_command)))

    def image_data_sent(self) -> None:
        """The host wrote the bytes the last READ_DATA asked for."""
        self._require(HostState.IMAGE_SEND, action="finish an image chunk")
        self.state = HostState.IMAGE_WAIT

    def done(self) -> bytes:
        self._require(HostState.IMAGE_WAIT, action="send DONE")
        self.state = HostState.WAIT_DONE_RESP
        return build_packet(Done())


def _starts_like_eoi(head: bytes | bytearray | memoryview) -> bool:
    """Do these bytes begin an END_OF_IMAGE_TX header (cmd 0x04, length 16), as far as
    they go? An empty ``head`` says nothing, so it does not."""
    n = min(len(_EOI_PREFIX), len(head))
    return n > 0 and bytes(head[:n]) == _EOI_PREFIX[:n]


def _nak_hint(status: int) -> str:
    if status == 0x1B:
        return (
            "this device offers no memory dump: it is in EDL (PBL) mode, or download mode "
            "was not enabled on the target before it crashed (qcom_scm.download_mode)"
        )
    if status == 0x19:
        return (
            "the device refused a read and now accepts only RESET, which reboots it; every "
            "region read before this is saved"
        )
    if status in (0x21, 0x25):
        return "the device rejected the image's signature: use the programmer signed for it"
    return ("the device now accepts only RESET (`qdlpy reset`) or a power-cycle; either "
            "loses a crash dump it still holds")
