"""Sahara command packets: construct schemas and the typed values built from them.

Layouts are docs/protocol.md#packets byte for byte. Command ids stay plain ints inside the
schemas (docs/protocol.md#how-packets-are-parsed-and-built: an Enum discriminator breaks construct's
build) and become ``Cmd`` only in the typed layer. Construct is used for command packets only; raw
data phases (memory, image, command payloads) never pass through it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeAlias

from construct import Array, ConstructError, Int32ul, Int64ul, Struct

from .constants import MAX_COMMAND_PACKET, Cmd
from .errors import MalformedPacket

HEADER = Struct("cmd" / Int32ul, "length" / Int32ul)


@dataclasses.dataclass(frozen=True)
class Hello:
    """HELLO (0x01, device -> host, 0x30 bytes; v1 devices may send 0x14)."""

    CMD: ClassVar[Cmd] = Cmd.HELLO
    version: int = 2
    version_supported: int = 1
    cmd_packet_length: int = MAX_COMMAND_PACKET
    mode: int = 0
    reserved: tuple[int, ...] = (0,) * 6


@dataclasses.dataclass(frozen=True)
class HelloResp:
    """HELLO_RESP (0x02, host -> device, 0x30). Offset 16 is *status* (edl calls it max_cmd_len)."""

    CMD: ClassVar[Cmd] = Cmd.HELLO_RESP
    version: int = 2
    version_supported: int = 1
    status: int = 0
    mode: int = 0
    reserved: tuple[int, ...] = (0,) * 6


@dataclasses.dataclass(frozen=True)
class ReadData:
    CMD: ClassVar[Cmd] = Cmd.READ_DATA
    image_id: int
    data_offset: int
    data_length: int


@dataclasses.dataclass(frozen=True)
class ReadData64:
    CMD: ClassVar[Cmd] = Cmd.READ_DATA_64
    image_id: int
    data_offset: int
    data_length: int


@dataclasses.dataclass(frozen=True)
class EndOfImageTx:
    """END_OF_IMAGE_TX (0x04, 16 bytes): image done (status 0) or the universal NAK."""

    CMD: ClassVar[Cmd] = Cmd.END_OF_IMAGE_TX
    image_id: int
    status: int


@dataclasses.dataclass(frozen=True)
class Done:
    CMD: ClassVar[Cmd] = Cmd.DONE


@dataclasses.dataclass(frozen=True)
class DoneResp:
    CMD: ClassVar[Cmd] = Cmd.DONE_RESP
    image_tx_status: int


@dataclasses.dataclass(frozen=True)
class Reset:
    CMD: ClassVar[Cmd] = Cmd.RESET


@dataclasses.dataclass(frozen=True)
class ResetResp:
    CMD: ClassVar[Cmd] = Cmd.RESET_RESP


@dataclasses.dataclass(frozen=True)
class MemoryDebug:
    CMD: ClassVar[Cmd] = Cmd.MEMORY_DEBUG
    table_address: int
    table_length: int


@dataclasses.dataclass(frozen=True)
class MemoryRead:
    CMD: ClassVar[Cmd] = Cmd.MEMORY_READ
    address: int
    length: int


@dataclasses.dataclass(frozen=True)
class MemoryDebug64:
    CMD: ClassVar[Cmd] = Cmd.MEMORY_DEBUG_64
    table_address: int
    table_length: int


@dataclasses.dataclass(frozen=True)
class MemoryRead64:
    CMD: ClassVar[Cmd] = Cmd.MEMORY_READ_64
    address: int
    length: int


@dataclasses.dataclass(frozen=True)
class CmdReady:
    CMD: ClassVar[Cmd] = Cmd.CMD_READY


@dataclasses.dataclass(frozen=True)
class SwitchMode:
    CMD: ClassVar[Cmd] = Cmd.SWITCH_MODE
    mode: int


@dataclasses.dataclass(frozen=True)
class Execute:
    CMD: ClassVar[Cmd] = Cmd.EXECUTE
    client_command: int


@dataclasses.dataclass(frozen=True)
class ExecuteResp:
    CMD: ClassVar[Cmd] = Cmd.EXECUTE_RESP
    client_command: int
    response_length: int


@dataclasses.dataclass(frozen=True)
class ExecuteData:
    CMD: ClassVar[Cmd] = Cmd.EXECUTE_DATA
    client_command: int


@dataclasses.dataclass(frozen=True)
class ResetStateMachine:
    """RESET_STATE_MACHINE (0x13): header only (edl's layout); no device handler is known."""

    CMD: ClassVar[Cmd] = Cmd.RESET_STATE_MACHINE


Packet: TypeAlias = (
    Hello | HelloResp | ReadData | ReadData64 | EndOfImageTx | Done | DoneResp | Reset | ResetResp
    | MemoryDebug | MemoryRead | MemoryDebug64 | MemoryRead64 | CmdReady | SwitchMode | Execute
    | ExecuteResp | ExecuteData | ResetStateMachine
)

_HELLO_BODY = Struct(
    "version" / Int32ul,
    "version_supported" / Int32ul,
    "cmd_packet_length" / Int32ul,
    "mode" / Int32ul,
    "reserved" / Array(6, Int32ul),
)
_HELLO_RESP_BODY = Struct(
    "version" / Int32ul,
    "version_supported" / Int32ul,
    "status" / Int32ul,
    "mode" / Int32ul,
    "reserved" / Array(6, Int32ul),
)
# v1 HELLO: 0x14 bytes, no mode field (docs/protocol.md#what-differs-between-versions).
_HELLO_V1_BODY = Struct(
    "version" / Int32ul, "version_supported" / Int32ul, "cmd_packet_length" / Int32ul
)
_EMPTY = Struct()

# cmd -> (typed class, body schema). Total packet length = 8 + body size.
SCHEMAS: dict[int, tuple[type[Any], Struct]] = {
    Cmd.HELLO: (Hello, _HELLO_BODY),
    Cmd.HELLO_RESP: (HelloResp, _HELLO_RESP_BODY),
    Cmd.READ_DATA: (
        ReadData,
        Struct("image_id" / Int32ul, "data_offset" / Int32ul, "data_length" / Int32ul),
    ),
    Cmd.END_OF_IMAGE_TX: (EndOfImageTx, Struct("image_id" / Int32ul, "status" / Int32ul)),
    Cmd.DONE: (Done, _EMPTY),
    Cmd.DONE_RESP: (DoneResp, Struct("image_tx_status" / Int32ul)),
    Cmd.RESET: (Reset, _EMPTY),
    Cmd.RESET_RESP: (ResetResp, _EMPTY),
    Cmd.MEMORY_DEBUG: (MemoryDebug, Struct("table_address" / Int32ul, "table_length" / Int32ul)),
    Cmd.MEMORY_READ: (MemoryRead, Struct("address" / Int32ul, "length" / Int32ul)),
    Cmd.CMD_READY: (CmdReady, _EMPTY),
    Cmd.SWITCH_MODE: (SwitchMode, Struct("mode" / Int32ul)),
    Cmd.EXECUTE: (Execute, Struct("client_command" / Int32ul)),
    Cmd.EXECUTE_RESP: (
        ExecuteResp,
        Struct("client_command" / Int32ul, "response_length" / Int32ul),
    ),
    Cmd.EXECUTE_DATA: (ExecuteData, Struct("client_command" / Int32ul)),
    Cmd.MEMORY_DEBUG_64: (
        MemoryDebug64,
        Struct("table_address" / Int64ul, "table_length" / Int64ul),
    ),
    Cmd.MEMORY_READ_64: (MemoryRead64, Struct("address" / Int64ul, "length" / Int64ul)),
    Cmd.READ_DATA_64: (
        ReadData64,
        Struct("image_id" / Int64ul, "data_offset" / Int64ul, "data_length" / Int64ul),
    ),
    Cmd.RESET_STATE_MACHINE: (ResetStateMachine, _EMPTY),
}

#: Exact total length of every command (docs/protocol.md#command-table).
PACKET_SIZES: dict[int, int] = {cmd: 8 + body.sizeof() for cmd, (_, body) in SCHEMAS.items()}
HELLO_V1_SIZE = 8 + _HELLO_V1_BODY.sizeof()


def packet_length(header: bytes | bytearray | memoryview) -> int:
    """Total length announced by a packet header (needs at least 8 bytes)."""
    if len(header) < 8:
        raise MalformedPacket(f"a Sahara header is 8 bytes, got {len(header)}")
    return int.from_bytes(header[4:8], "little")


def parse_packet(data: bytes | memoryview) -> Packet:
    """Parse exactly one command packet; raise MalformedPacket on anything else."""
    data = bytes(data)
    if len(data) < 8:
        raise MalformedPacket(f"packet of {len(data)} bytes is shorter than the 8-byte header")
    header = HEADER.parse(data)
    cmd, length = header.cmd, header.length
    if cmd not in SCHEMAS:
        raise MalformedPacket(f"unknown Sahara command 0x{cmd:x} (length {length})")
    name = Cmd(cmd).name
    if length != len(data):
        raise MalformedPacket(
            f"{name} says it is {length} bytes but {len(data)} bytes arrived"
        )
    cls, body = SCHEMAS[cmd]
    if cmd == Cmd.HELLO and length == HELLO_V1_SIZE:
        fields = _HELLO_V1_BODY.parse(data[8:])
        return Hello(
            version=fields.version,
            version_supported=fields.version_supported,
            cmd_packet_length=fields.cmd_packet_length,
            mode=0,
            reserved=(),
        )
    if length != PACKET_SIZES[cmd]:
        raise MalformedPacket(f"{name} must be {PACKET_SIZES[cmd]} bytes, got {length}")
    try:
        parsed = body.parse(data[8:])
    except ConstructError as exc:  # defensive: sizes were checked above
        raise MalformedPacket(f"{name} cannot be decoded: {exc}") from exc
    values = {f.name: parsed[f.name] for f in dataclasses.fields(cls)}
    if "reserved" in values:
        values["reserved"] = tuple(values["reserved"])
    obj: Packet = cls(**values)
    return obj


def build_packet(packet: Packet) -> bytes:
    """Serialise a typed packet (the inverse of parse_packet)."""
    cmd = int(packet.CMD)
    _, body = SCHEMAS[cmd]
    values = dataclasses.asdict(packet)
    v1 = isinstance(packet, Hello) and not packet.reserved and packet.mode == 0 \
        and packet.version == 1
    if "reserved" in values:
        values["reserved"] = list(values["reserved"]) or [0] * 6
    try:
        raw = _HELLO_V1_BODY.build(values) if v1 else body.build(values)
    except ConstructError as exc:
        raise MalformedPacket(f"cannot build {packet.CMD.name}: {exc}") from exc
    header: bytes = HEADER.build({"cmd": cmd, "length": 8 + len(raw)})
    return header + bytes(raw)


def command_name(cmd: int) -> str:
    try:
        return Cmd(cmd).name
    except ValueError:
        return f"0x{cmd:x}"
