"""Packet layouts against docs/protocol.md#command-table (lengths) and docs/protocol.md#packets
(byte offsets).

Every expected byte string here is built with struct.pack from the reference tables, so a
field at the wrong offset (edl's "max_cmd_len" at HELLO_RESP offset 16, OpenPST's 32-bit
fields in MEMORY_DEBUG_64) or a wrong length fails. PACKET_SIZES is never used as the
expectation: it is derived from the schemas under test.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.errors import MalformedPacket, QdlpyError
from qdlpy.protocols.packets import (
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
    ResetStateMachine,
    SwitchMode,
    build_packet,
    packet_length,
    parse_packet,
)

SETTINGS = settings(deadline=None, max_examples=200)

# docs/protocol.md#command-table lengths, typed in.
REFERENCE_LENGTHS = {
    0x01: 0x30,
    0x02: 0x30,
    0x03: 0x14,
    0x04: 0x10,
    0x05: 0x08,
    0x06: 0x0C,
    0x07: 0x08,
    0x08: 0x08,
    0x09: 0x10,
    0x0A: 0x10,
    0x0B: 0x08,
    0x0C: 0x0C,
    0x0D: 0x0C,
    0x0E: 0x10,
    0x0F: 0x0C,
    0x10: 0x18,
    0x11: 0x18,
    0x12: 0x20,
    0x13: 0x08,
}

U32 = 2**32 - 1
U64 = 2**64 - 1


def hdr(cmd: int, length: int) -> bytes:
    return struct.pack("<II", cmd, length)


# (hand-built bytes, the typed packet they must parse to) for every command of
# docs/protocol.md#packets.
CASES: list[tuple[bytes, Packet]] = [
    (
        hdr(0x01, 0x30) + struct.pack("<4I6I", 2, 1, 0x400, 2, 0, 0, 0, 0, 0, 0),
        Hello(version=2, version_supported=1, cmd_packet_length=0x400, mode=2),
    ),
    (
        hdr(0x01, 0x30) + struct.pack("<4I6I", 3, 1, 0x400, 0, 9, 8, 7, 6, 5, 4),
        Hello(
            version=3,
            version_supported=1,
            cmd_packet_length=0x400,
            mode=0,
            reserved=(9, 8, 7, 6, 5, 4),
        ),
    ),
    (
        hdr(0x02, 0x30) + struct.pack("<4I6I", 2, 1, 0, 2, 0, 0, 0, 0, 0, 0),
        HelloResp(version=2, version_supported=1, status=0, mode=2),
    ),
    (
        hdr(0x02, 0x30)
        + struct.pack("<4I6I", 2, 1, 0, 3, 1, 2, 3, 4, 5, 6),  # edl's reserved words
        HelloResp(version=2, version_supported=1, status=0, mode=3, reserved=(1, 2, 3, 4, 5, 6)),
    ),
    (hdr(0x03, 0x14) + struct.pack("<3I", 13, 0x1000, 0x2000), ReadData(13, 0x1000, 0x2000)),
    (hdr(0x04, 0x10) + struct.pack("<2I", 7, 0x19), EndOfImageTx(7, 0x19)),
    (hdr(0x05, 0x08), Done()),
    (hdr(0x06, 0x0C) + struct.pack("<I", 1), DoneResp(1)),
    (hdr(0x07, 0x08), Reset()),
    (hdr(0x08, 0x08), ResetResp()),
    (hdr(0x09, 0x10) + struct.pack("<2I", 0x146BF000, 0x7EC), MemoryDebug(0x146BF000, 0x7EC)),
    (hdr(0x0A, 0x10) + struct.pack("<2I", 0x80000000, 0x80000), MemoryRead(0x80000000, 0x80000)),
    (hdr(0x0B, 0x08), CmdReady()),
    (hdr(0x0C, 0x0C) + struct.pack("<I", 0), SwitchMode(0)),
    (hdr(0x0D, 0x0C) + struct.pack("<I", 0x0A), Execute(0x0A)),
    (hdr(0x0E, 0x10) + struct.pack("<2I", 0x02, 0x18), ExecuteResp(0x02, 0x18)),
    (hdr(0x0F, 0x0C) + struct.pack("<I", 0x03), ExecuteData(0x03)),
    (
        hdr(0x10, 0x18) + struct.pack("<2Q", 0x1_4600_0000, 0x200),
        MemoryDebug64(0x1_4600_0000, 0x200),
    ),
    (
        hdr(0x11, 0x18) + struct.pack("<2Q", 0x8_8000_0000, 0x80000),
        MemoryRead64(0x8_8000_0000, 0x80000),
    ),
    (
        hdr(0x12, 0x20) + struct.pack("<3Q", 13, 0x1_0000_0000, 0x1234),
        ReadData64(13, 0x1_0000_0000, 0x1234),
    ),
    (hdr(0x13, 0x08), ResetStateMachine()),
]


def test_cases_cover_every_command() -> None:
    assert {int(p.CMD) for _, p in CASES} == set(REFERENCE_LENGTHS)


@pytest.mark.parametrize(
    ("raw", "packet"), CASES, ids=lambda v: getattr(v, "CMD", None) and v.CMD.name
)
def test_parse_hand_built_bytes(raw: bytes, packet: Packet) -> None:
    assert len(raw) == REFERENCE_LENGTHS[int(packet.CMD)]
    assert parse_packet(raw) == packet
    assert parse_packet(memoryview(raw)) == packet


@pytest.mark.parametrize(
    ("raw", "packet"), CASES, ids=lambda v: getattr(v, "CMD", None) and v.CMD.name
)
def test_build_gives_hand_built_bytes(raw: bytes, packet: Packet) -> None:
    assert build_packet(packet) == raw
    assert build_packet(parse_packet(raw)) == raw
    assert packet_length(raw) == len(raw)


def test_hello_resp_status_is_at_offset_16() -> None:
    # docs/protocol.md#hello-and-hello_resp: offset 16 is status (edl mislabels it max_cmd_len);
    # mode is at 20.
    raw = build_packet(HelloResp(version=2, version_supported=1, status=0x15, mode=2))
    assert struct.unpack_from("<I", raw, 16)[0] == 0x15
    assert struct.unpack_from("<I", raw, 20)[0] == 2
    assert struct.unpack_from("<I", raw, 8)[0] == 2
    assert struct.unpack_from("<I", raw, 12)[0] == 1
    assert raw[24:48] == bytes(24)


def test_hello_offsets() -> None:
    raw = build_packet(Hello(version=3, version_supported=2, cmd_packet_length=0x400, mode=2))
    assert struct.unpack_from("<6I", raw, 0) == (1, 0x30, 3, 2, 0x400, 2)
    assert raw[24:] == bytes(24)


def test_memory_debug_64_fields_are_64_bit() -> None:
    # OpenPST's bug (docs/protocol.md#memory_debug-and-memory_read): 32-bit fields. The high words
    # must land at offsets 12 and 20.
    raw = build_packet(MemoryDebug64(0x1122334455667788, 0x99AABBCCDDEEFF00))
    assert struct.unpack_from("<II", raw, 0) == (0x10, 0x18)
    assert struct.unpack_from("<Q", raw, 8)[0] == 0x1122334455667788
    assert struct.unpack_from("<Q", raw, 16)[0] == 0x99AABBCCDDEEFF00


def test_memory_read_64_offsets() -> None:
    raw = build_packet(MemoryRead64(0xFFFF_FFFF_0000_1000, 0x8_0000))
    assert raw == hdr(0x11, 0x18) + struct.pack("<QQ", 0xFFFF_FFFF_0000_1000, 0x8_0000)


def test_read_data_64_offsets() -> None:
    raw = build_packet(ReadData64(image_id=0x22, data_offset=0x1_0000_0004, data_length=0x8_0000))
    assert struct.unpack_from("<II3Q", raw) == (0x12, 0x20, 0x22, 0x1_0000_0004, 0x8_0000)


def test_execute_resp_offsets() -> None:
    raw = build_packet(ExecuteResp(client_command=0x0A, response_length=0x30))
    assert raw == struct.pack("<4I", 0x0E, 0x10, 0x0A, 0x30)


V1_HELLO = hdr(0x01, 0x14) + struct.pack("<3I", 1, 1, 0x400)


def test_v1_hello_is_0x14_bytes_without_mode() -> None:
    # docs/protocol.md#what-differs-between-versions: v1 HELLO is 0x14 bytes; XBL skips the mode
    # check for it.
    pkt = parse_packet(V1_HELLO)
    assert isinstance(pkt, Hello)
    assert (pkt.version, pkt.version_supported, pkt.cmd_packet_length, pkt.mode) == (1, 1, 0x400, 0)
    assert build_packet(pkt) == V1_HELLO


def test_v1_version_in_a_full_hello_stays_full_size() -> None:
    raw = hdr(0x01, 0x30) + struct.pack("<4I6I", 1, 1, 0x400, 0, 0, 0, 0, 0, 0, 0)
    assert build_packet(parse_packet(raw)) == raw


# ---- malformed input ---------------------------------------------------------------------


@pytest.mark.parametrize("n", range(8))
def test_shorter_than_a_header(n: int) -> None:
    with pytest.raises(MalformedPacket):
        parse_packet(bytes(n))
    with pytest.raises(MalformedPacket):
        packet_length(bytes(n))


@pytest.mark.parametrize(
    ("raw", "packet"), CASES, ids=lambda v: getattr(v, "CMD", None) and v.CMD.name
)
def test_length_field_must_match_bytes_received(raw: bytes, packet: Packet) -> None:
    with pytest.raises(MalformedPacket):
        parse_packet(raw + b"\0")  # one byte more than the header says
    with pytest.raises(MalformedPacket):
        parse_packet(raw[:-1] if len(raw) > 8 else raw[:7])


@pytest.mark.parametrize(
    ("raw", "packet"), CASES, ids=lambda v: getattr(v, "CMD", None) and v.CMD.name
)
def test_length_must_be_the_commands_length(raw: bytes, packet: Packet) -> None:
    # Consistent header and size, but not the size docs/protocol.md#command-table gives the command.
    cmd = int(packet.CMD)
    for wrong in (len(raw) + 4, len(raw) - 4):
        if wrong < 8 or (cmd == 0x01 and wrong == 0x14):
            continue
        body = (raw[8:] + bytes(8))[: wrong - 8]
        with pytest.raises(MalformedPacket):
            parse_packet(hdr(cmd, wrong) + body)


def test_cmd_ready_of_openpst_size_is_rejected() -> None:
    # docs/protocol.md#header-only-packets: OpenPST declares CMD_READY as 12 bytes; the device and
    # kernel say 8.
    with pytest.raises(MalformedPacket):
        parse_packet(hdr(0x0B, 0x0C) + bytes(4))


@pytest.mark.parametrize("cmd", [0x00, 0x14, 0x15, 0x20, 0x21, 0xFFFFFFFF])
def test_unknown_commands_are_malformed(cmd: int) -> None:
    with pytest.raises(MalformedPacket):
        parse_packet(hdr(cmd, 16) + bytes(8))


def test_build_out_of_range_field_is_malformed_packet() -> None:
    with pytest.raises(MalformedPacket):
        build_packet(MemoryRead(2**32, 4))
    with pytest.raises(MalformedPacket):
        build_packet(SwitchMode(-1))


def test_build_out_of_range_v1_hello_is_malformed_packet() -> None:
    with pytest.raises(MalformedPacket):
        build_packet(Hello(version=1, version_supported=1, cmd_packet_length=2**32, reserved=()))


# ---- hypothesis: round trips for generated field values ------------------------------------

u32 = st.integers(0, U32)
u64 = st.integers(0, U64)

# cmd -> (struct format of the body, strategy for its values, typed-packet constructor)
BODIES: dict[int, tuple[str, st.SearchStrategy[tuple[int, ...]], Any]] = {
    0x01: (
        "<4I6I",
        st.tuples(*[u32] * 10),
        lambda v: Hello(v[0], v[1], v[2], v[3], reserved=tuple(v[4:])),
    ),
    0x02: (
        "<4I6I",
        st.tuples(*[u32] * 10),
        lambda v: HelloResp(v[0], v[1], v[2], v[3], reserved=tuple(v[4:])),
    ),
    0x03: ("<3I", st.tuples(u32, u32, u32), lambda v: ReadData(*v)),
    0x04: ("<2I", st.tuples(u32, u32), lambda v: EndOfImageTx(*v)),
    0x05: ("<", st.tuples(), lambda v: Done()),
    0x06: ("<I", st.tuples(u32), lambda v: DoneResp(*v)),
    0x07: ("<", st.tuples(), lambda v: Reset()),
    0x08: ("<", st.tuples(), lambda v: ResetResp()),
    0x09: ("<2I", st.tuples(u32, u32), lambda v: MemoryDebug(*v)),
    0x0A: ("<2I", st.tuples(u32, u32), lambda v: MemoryRead(*v)),
    0x0B: ("<", st.tuples(), lambda v: CmdReady()),
    0x0C: ("<I", st.tuples(u32), lambda v: SwitchMode(*v)),
    0x0D: ("<I", st.tuples(u32), lambda v: Execute(*v)),
    0x0E: ("<2I", st.tuples(u32, u32), lambda v: ExecuteResp(*v)),
    0x0F: ("<I", st.tuples(u32), lambda v: ExecuteData(*v)),
    0x10: ("<2Q", st.tuples(u64, u64), lambda v: MemoryDebug64(*v)),
    0x11: ("<2Q", st.tuples(u64, u64), lambda v: MemoryRead64(*v)),
    0x12: ("<3Q", st.tuples(u64, u64, u64), lambda v: ReadData64(*v)),
    0x13: ("<", st.tuples(), lambda v: ResetStateMachine()),
}


def test_bodies_cover_every_command() -> None:
    assert set(BODIES) == set(REFERENCE_LENGTHS)


@st.composite
def packet_cases(draw: st.DrawFn) -> tuple[int, bytes, Packet]:
    cmd = draw(st.sampled_from(sorted(BODIES)))
    fmt, values_st, make = BODIES[cmd]
    values = draw(values_st)
    raw = hdr(cmd, REFERENCE_LENGTHS[cmd]) + struct.pack(fmt, *values)
    return cmd, raw, make(values)


@SETTINGS
@given(packet_cases())
def test_round_trip_generated_fields(case: tuple[int, bytes, Packet]) -> None:
    cmd, raw, packet = case
    assert len(raw) == REFERENCE_LENGTHS[cmd]
    parsed = parse_packet(raw)
    assert parsed == packet
    assert build_packet(parsed) == raw
    assert build_packet(packet) == raw
    # The typed fields are plain ints (not construct containers) and the class says its cmd.
    assert int(parsed.CMD) == cmd
    for f in dataclasses.fields(parsed):
        value = getattr(parsed, f.name)
        assert type(value) in (int, tuple)


@SETTINGS
@given(st.integers(0, U32), st.integers(0, U32))
def test_v1_hello_round_trip(supported: int, cmd_len: int) -> None:
    raw = hdr(0x01, 0x14) + struct.pack("<3I", 1, supported, cmd_len)
    assert build_packet(parse_packet(raw)) == raw


@SETTINGS
@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_malformed(data: bytes) -> None:
    try:
        pkt = parse_packet(data)
    except MalformedPacket:
        return
    # Whatever parses is exactly one packet of its command's reference length.
    assert len(data) == REFERENCE_LENGTHS[int(pkt.CMD)] or (int(pkt.CMD) == 1 and len(data) == 0x14)
    assert build_packet(pkt)[:4] == data[:4]


@SETTINGS
@given(st.sampled_from(sorted(BODIES)), st.integers(0, 0x500), st.binary(max_size=0x60))
def test_arbitrary_body_under_a_known_command(cmd: int, length: int, body: bytes) -> None:
    data = hdr(cmd, length) + body
    try:
        pkt = parse_packet(data)
    except QdlpyError as exc:
        assert isinstance(exc, MalformedPacket)
        return
    assert build_packet(pkt) == data or (cmd == 0x01 and len(data) == 0x14)
