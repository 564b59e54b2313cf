"""The device side of Sahara as a state machine (for the simulator), sans-I/O.

Modelled on the XBL/PBL behaviour in docs/protocol.md#the-device-state-machine:

* HELLO is sent once per Sahara session (``start()``), not on every host connection.
* WAIT_HELLO_RESP: a valid HELLO_RESP starts the chosen mode; *any other* packet (or junk)
  makes the device resend HELLO -- hosts use this to recover a lost HELLO.
* WAIT_MEMORY_READ: MEMORY_READ(64) inside a permitted range streams raw memory
  (restricted ranges in 4 KiB transfers, docs/protocol.md#request-sizing); outside: END_OF_IMAGE_TX
  0x19 and WAIT_RESET. SWITCH_MODE restarts with a HELLO of the new mode. Anything else:
  END_OF_IMAGE_TX 0x01 and WAIT_RESET (the dump survives only until a RESET).
* WAIT_CMD_EXEC / WAIT_CMD_EXEC_DATA: client commands; unsupported -> EOI 0x1F.
* Image transfer: READ_DATA(64) requests driven by the personality's image plan, raw
  image bytes from the host, END_OF_IMAGE_TX, DONE / DONE_RESP.
* WAIT_RESET: only RESET is accepted. RESET anywhere: RESET_RESP, then the device
  reboots (``rebooted``): a memory-debug device's dump is gone.

``receive()`` takes one host transfer and returns the device's transfers (a list of
bytes objects, one per USB transfer).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Generator
from typing import Protocol

from .constants import (
    HEADER_SIZE,
    MAX_COMMAND_PACKET,
    MAX_READ_SIZE,
    Cmd,
    Mode,
    Status,
)
from .errors import MalformedPacket
from .packets import (
    PACKET_SIZES,
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
    packet_length,
    parse_packet,
)

# XBL's bounce buffer for restricted regions (docs/protocol.md#request-sizing)
RESTRICTED_PIECE = 4096


class MemorySource(Protocol):
    """Device memory as the simulator sees it (sans-I/O: a pure function of the address)."""

    def read(self, address: int, length: int) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class ReadStep:
    """Image plan step: ask the host for ``length`` bytes of ``image_id`` at ``offset``."""

    image_id: int
    offset: int
    length: int
    use64: bool = False


@dataclasses.dataclass(frozen=True)
class EndImage:
    """Image plan step: the image is loaded (status 0) or rejected (a NAK status)."""

    image_id: int
    status: int = 0


ImageStep = ReadStep | EndImage
#: A generator of steps; each ReadStep is answered with the bytes the host sent.
ImagePlan = Generator[ImageStep, bytes, None]


@dataclasses.dataclass
class Personality:
    """Everything that makes one simulated device different from another."""

    mode: int = Mode.MEMORY_DEBUG  # HELLO mode at power-on (2 = crash dump, 0 = EDL)
    version: int = 2
    version_supported: int = 1
    is64: bool = True
    table: bytes = b""
    table_address: int = 0
    readable: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # [start, end)
    restricted: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    memory: MemorySource | None = None
    memory_debug_supported: bool = True
    command_mode_supported: bool = True
    command_responses: dict[int, bytes] = dataclasses.field(default_factory=dict)
    image_plan: Callable[[], ImagePlan] | None = None
    #: MSM8916-class PBL: DONE_RESP says "pending" after the only programmer
    #: (docs/protocol.md#image-ids-and-the-pending-quirk).
    pending_after_last_image: bool = False


class DeviceState(enum.Enum):
    WAIT_HELLO_RESP = "wait-hello-resp"
    WAIT_MEMORY_READ = "wait-memory-read"
    WAIT_CMD_EXEC = "wait-cmd-exec"
    WAIT_CMD_EXEC_DATA = "wait-cmd-exec-data"
    IMAGE_RECEIVE = "image-receive"
    WAIT_DONE = "wait-done"
    WAIT_RESET = "wait-reset"
    REBOOTED = "rebooted"


class DeviceMachine:
    """Device-side Sahara (see module docstring)."""

    def __init__(self, personality: Personality) -> None:
        self.p = personality
        self.state = DeviceState.WAIT_HELLO_RESP
        self.mode = int(personality.mode)
        self.rebooted = False
        self.last_status: int | None = None  # status of the last NAK sent (for tests/logs)
        self.reads = 0  # memory reads served
        self._pending_exec: int | None = None
        self._plan: ImagePlan | None = None
        self._step: ReadStep | None = None
        self._image_buf = bytearray()
        self._rx = bytearray()  # partial command packet on byte streams

    # ---- session ------------------------------------------------------------------------

    def hello(self) -> bytes:
        return build_packet(
            Hello(version=self.p.version, version_supported=self.p.version_supported,
                  cmd_packet_length=MAX_COMMAND_PACKET, mode=self.mode)
        )

    def start(self) -> list[bytes]:
        """Power-on (or a new Sahara session): the one HELLO of the session."""
        self.state = DeviceState.WAIT_HELLO_RESP
        return [self.hello()]

    def nak(self, status: int, image_id: int = 0) -> list[bytes]:
        """END_OF_IMAGE_TX with ``status``; afterwards the device accepts only RESET."""
        self.last_status = status
        self.state = DeviceState.WAIT_RESET
        return [build_packet(EndOfImageTx(image_id, status))]

    # ---- input --------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[bytes]:
        """One host->device transfer in; the device's answer transfers out."""
        if self.state is DeviceState.REBOOTED or not data:
            return []
        if self.state is DeviceState.IMAGE_RECEIVE:
            return self._image_bytes(data)
        try:
            pkt = parse_packet(data)
        except MalformedPacket:
            pkt = None
        return self._on_packet(pkt)

    def receive_stream(self, data: bytes) -> list[bytes]:
        """Byte-stream input (tcp): frame packets by their length field, then receive().

        Raw image bytes are passed through as they come; a header that cannot start a
        command packet is treated as one junk transfer.
        """
        self._rx += data
        out: list[bytes] = []
        while self._rx:
            if self.state is DeviceState.IMAGE_RECEIVE:
                assert self._step is not None
                need = self._step.length - len(self._image_buf)
                chunk = bytes(self._rx[:need])
                del self._rx[:need]
                out += self.receive(chunk)
                continue
            if len(self._rx) < HEADER_SIZE:
                break
            length = packet_length(self._rx)
            cmd = int.from_bytes(self._rx[:4], "little")
            if length < HEADER_SIZE or length > MAX_COMMAND_PACKET or cmd not in PACKET_SIZES:
                junk = bytes(self._rx)
                self._rx.clear()
                out += self.receive(junk)
                break
            if len(self._rx) < length:
                break
            pkt_bytes = bytes(self._rx[:length])
            del self._rx[:length]
            out += self.receive(pkt_bytes)
            if self.state is DeviceState.REBOOTED:
                self._rx.clear()
        return out

    def _on_packet(self, pkt: Packet | None) -> list[bytes]:
        st = self.state
        if isinstance(pkt, Reset):
            self.state = DeviceState.REBOOTED
            self.rebooted = True
            return [build_packet(ResetResp())]
        if st is DeviceState.WAIT_RESET:
            return self.nak(Status.NAK_INVALID_CMD)
        if st is DeviceState.WAIT_HELLO_RESP:
            if not isinstance(pkt, HelloResp):
                # invalid packet here: resend HELLO (docs/protocol.md#the-device-state-machine)
                return [self.hello()]
            return self._on_hello_resp(pkt)
        if isinstance(pkt, SwitchMode) and st in (DeviceState.WAIT_MEMORY_READ,
                                                   DeviceState.WAIT_CMD_EXEC):
            return self._on_switch_mode(pkt)
        if st is DeviceState.WAIT_MEMORY_READ and isinstance(pkt, (MemoryRead, MemoryRead64)):
            if isinstance(pkt, MemoryRead64) != self.p.is64:
                return self.nak(Status.NAK_INVALID_CMD)
            return self.memory_read(pkt.address, pkt.length)
        if st is DeviceState.WAIT_CMD_EXEC and isinstance(pkt, Execute):
            return self._on_execute(pkt)
        if st is DeviceState.WAIT_CMD_EXEC_DATA and isinstance(pkt, ExecuteData):
            return self._on_execute_data(pkt)
        if st is DeviceState.WAIT_DONE and isinstance(pkt, Done):
            return self._on_done()
        return self.nak(Status.NAK_INVALID_CMD)

    def _on_switch_mode(self, pkt: SwitchMode) -> list[bytes]:
        if pkt.mode > Mode.COMMAND:
            return self.nak(Status.NAK_INVALID_MODE_SWITCH)
        self.mode = pkt.mode
        return self.start()

    def _on_execute(self, pkt: Execute) -> list[bytes]:
        resp = self.p.command_responses.get(pkt.client_command)
        if resp is None:
            return self.nak(Status.NAK_EXEC_CMD_UNSUPPORTED)
        self._pending_exec = pkt.client_command
        self.state = DeviceState.WAIT_CMD_EXEC_DATA
        return [build_packet(ExecuteResp(pkt.client_command, len(resp)))]

    def _on_execute_data(self, pkt: ExecuteData) -> list[bytes]:
        if pkt.client_command != self._pending_exec:
            return self.nak(Status.NAK_EXEC_DATA_INVALID_CLIENT_CMD)
        self.state = DeviceState.WAIT_CMD_EXEC
        resp = self.p.command_responses[pkt.client_command]
        return [resp] if resp else []

    def _on_hello_resp(self, pkt: HelloResp) -> list[bytes]:
        if pkt.status != 0:
            return self.nak(Status.NAK_UNKNOWN_HOST_ERROR)
        if not (self.p.version >= pkt.version_supported
                and self.p.version_supported <= pkt.version <= self.p.version):
            return self.nak(Status.NAK_PROTOCOL_MISMATCH)
        if pkt.mode > Mode.COMMAND:
            return self.nak(Status.NAK_INVALID_HOST_MODE)
        self.mode = pkt.mode
        if pkt.mode == Mode.MEMORY_DEBUG:
            if not self.p.memory_debug_supported:
                return self.nak(Status.NAK_MEMORY_DEBUG_NOT_SUPPORTED)
            self.state = DeviceState.WAIT_MEMORY_READ
            offer: Packet = (
                MemoryDebug64(self.p.table_address, len(self.p.table)) if self.p.is64
                else MemoryDebug(self.p.table_address, len(self.p.table))
            )
            return [build_packet(offer)]
        if pkt.mode == Mode.COMMAND:
            if not self.p.command_mode_supported:
                return self.nak(Status.NAK_INVALID_HOST_MODE)
            self.state = DeviceState.WAIT_CMD_EXEC
            return [build_packet(CmdReady())]
        # image transfer
        if self.p.image_plan is None:
            return self.nak(Status.NAK_INVALID_HOST_MODE)
        self._plan = self.p.image_plan()
        return self._next_image_step(None)

    def memory_read(self, address: int, length: int) -> list[bytes]:
        """The answer to MEMORY_READ(64): the bytes, or END_OF_IMAGE_TX 0x19 outside the
        readable ranges. A subclass may answer differently (the simulator's fault knobs)."""
        end = address + length
        if length == 0 or length > MAX_READ_SIZE * 16:
            return self.nak(Status.NAK_INVALID_MEMORY_READ)
        table_ok = address == self.p.table_address and length <= len(self.p.table)
        if table_ok:
            data = self.p.table[:length]
        elif any(s <= address and end <= e for s, e in self.p.readable):
            assert self.p.memory is not None
            data = self.p.memory.read(address, length)
        else:
            return self.nak(Status.NAK_INVALID_MEMORY_READ)
        self.reads += 1
        if any(s < end and address < e for s, e in self.p.restricted):
            return [data[i : i + RESTRICTED_PIECE] for i in range(0, len(data), RESTRICTED_PIECE)]
        return [data]

    # ---- image transfer -----------------------------------------------------------------

    def _next_image_step(self, answer: bytes | None) -> list[bytes]:
        assert self._plan is not None
        try:
            step = next(self._plan) if answer is None else self._plan.send(answer)
        except StopIteration:
            self.state = DeviceState.WAIT_RESET
            return []
        if isinstance(step, EndImage):
            self._step = None
            if step.status != 0:
                return self.nak(step.status, step.image_id)
            self.state = DeviceState.WAIT_DONE
            return [build_packet(EndOfImageTx(step.image_id, 0))]
        return [self._request(step)]

    def _request(self, step: ReadStep) -> bytes:
        """Ask the host for the bytes of one image step (READ_DATA or READ_DATA_64)."""
        self._step = step
        self._image_buf.clear()
        self.state = DeviceState.IMAGE_RECEIVE
        req: Packet = (
            ReadData64(step.image_id, step.offset, step.length) if step.use64
            else ReadData(step.image_id, step.offset, step.length)
        )
        return build_packet(req)

    def _image_bytes(self, data: bytes) -> list[bytes]:
        assert self._step is not None
        self._image_buf += data
        if len(self._image_buf) < self._step.length:
            return []
        if len(self._image_buf) > self._step.length:
            return self.nak(Status.NAK_INVALID_RX_LENGTH, self._step.image_id)
        got = bytes(self._image_buf)
        self._image_buf.clear()
        return self._next_image_step(got)

    def _on_done(self) -> list[bytes]:
        assert self._plan is not None
        try:
            step = next(self._plan)
        except StopIteration:
            self.state = DeviceState.REBOOTED  # jumps to the loaded image
            self.rebooted = True
            status = 0 if self.p.pending_after_last_image else 1
            return [build_packet(DoneResp(status))]
        out = [build_packet(DoneResp(0))]
        # More images: continue the plan with the step already taken.
        if isinstance(step, EndImage):
            return out + self.nak(step.status or Status.NAK_INVALID_CMD, step.image_id)
        return [*out, self._request(step)]


__all__ = [
    "DeviceMachine",
    "DeviceState",
    "EndImage",
    "ImagePlan",
    "ImageStep",
    "MemorySource",
    "Personality",
    "ReadStep",
    "RESTRICTED_PIECE",
    "Cmd",
]
