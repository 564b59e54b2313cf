"""DeviceMachine against the XBL behaviour of docs/protocol.md.

Host packets are built with struct (or build_packet after test_packets checked it) and the
device's answers are parsed back; HostMachine is not involved here.
"""

# mypy: disable-error-code="comparison-overlap"
# (mypy keeps `assert m.state is X` narrowed across the calls that change the state.)

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.device import (
    RESTRICTED_PIECE,
    DeviceMachine,
    DeviceState,
    EndImage,
    ImagePlan,
    Personality,
    ReadStep,
)
from qdlpy.protocols.packets import (
    CmdReady,
    Done,
    DoneResp,
    EndOfImageTx,
    Execute,
    ExecuteData,
    ExecuteResp,
    Hello,
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
    parse_packet,
)

SETTINGS = settings(deadline=None, max_examples=150)

Factory = Callable[..., Personality]


def hello_resp(mode: int, *, version: int = 2, supported: int = 1, status: int = 0) -> bytes:
    return struct.pack("<12I", 0x02, 0x30, version, supported, status, mode, 0, 0, 0, 0, 0, 0)


def only(out: list[bytes]) -> Packet:
    assert len(out) == 1, out
    return parse_packet(out[0])


def nak(out: list[bytes]) -> int:
    pkt = only(out)
    assert isinstance(pkt, EndOfImageTx)
    return int(pkt.status)


def started(p: Personality) -> DeviceMachine:
    d = DeviceMachine(p)
    assert only(d.start()) == Hello(version=p.version, version_supported=p.version_supported,
                                    cmd_packet_length=0x400, mode=p.mode)
    return d


def in_memory_debug(p: Personality) -> DeviceMachine:
    d = started(p)
    offer = only(d.receive(hello_resp(2)))
    assert offer == (MemoryDebug64 if p.is64 else MemoryDebug)(p.table_address, len(p.table))
    assert d.state is DeviceState.WAIT_MEMORY_READ
    return d


def read(d: DeviceMachine, address: int, length: int, is64: bool = True) -> list[bytes]:
    pkt = MemoryRead64(address, length) if is64 else MemoryRead(address, length)
    return list(d.receive(build_packet(pkt)))


def assert_wait_reset_only(d: DeviceMachine, p: Personality) -> None:
    """docs/protocol.md#wait_reset: every packet but RESET gets EOI 0x01; RESET gets RESET_RESP."""
    assert d.state is DeviceState.WAIT_RESET
    base = p.readable[0][0] if p.readable else p.table_address
    for pkt in (MemoryRead64(base, 0x100), SwitchMode(2), hello_resp(2), Done()):
        raw = pkt if isinstance(pkt, bytes) else build_packet(pkt)
        assert nak(d.receive(raw)) == 0x01
        assert d.state is DeviceState.WAIT_RESET
    assert only(d.receive(build_packet(Reset()))) == ResetResp()
    assert d.state is DeviceState.REBOOTED and d.rebooted
    assert d.receive(build_packet(MemoryRead64(base, 0x100))) == []


# ---- HELLO ---------------------------------------------------------------------------------


def test_hello_once_per_session(dump_personality: Factory) -> None:
    p = dump_personality()
    d = DeviceMachine(p)
    assert d.state is DeviceState.WAIT_HELLO_RESP
    hello = d.start()
    assert [parse_packet(x) for x in hello] == [Hello(version=2, version_supported=1, mode=2)]
    # The answer to HELLO_RESP(2) is the table offer alone: no second HELLO.
    assert isinstance(only(d.receive(hello_resp(2))), MemoryDebug64)


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00",  # Quectel's 1-byte poke (docs/protocol.md#re-provoking-a-lost-hello)
        b"<?xml version=\"1.0\" ?><data><nop /></data>",  # edl's Firehose probe
        b"AT\r\n",  # ModemManager (docs/protocol.md#linux-access-udev-drivers-and-modemmanager)
        struct.pack("<II", 0x02, 0x14) + bytes(12),  # HELLO_RESP with a wrong length
        struct.pack("<3I", 0x0C, 0x0C, 2),  # SWITCH_MODE: invalid in this state
        struct.pack("<IIQQ", 0x11, 0x18, 0, 0x10),  # MEMORY_READ_64 before HELLO_RESP
    ],
)
def test_invalid_packet_in_wait_hello_resp_resends_hello(
    dump_personality: Factory, junk: bytes
) -> None:
    d = started(dump_personality())
    assert isinstance(only(d.receive(junk)), Hello)
    assert d.state is DeviceState.WAIT_HELLO_RESP
    assert isinstance(only(d.receive(hello_resp(2))), MemoryDebug64)


def test_reset_accepted_in_wait_hello_resp(dump_personality: Factory) -> None:
    d = started(dump_personality())
    assert only(d.receive(struct.pack("<II", 0x07, 0x08))) == ResetResp()
    assert d.rebooted


@pytest.mark.parametrize(
    ("version", "supported", "status", "mode", "expect"),
    [
        (2, 1, 0x15, 2, 0x15),  # non-zero host status -> UNKNOWN_HOST_ERROR
        (4, 1, 0, 2, 0x02),  # host version above the device's
        (2, 3, 0, 2, 0x02),  # host needs more than the device has
        (2, 1, 0, 4, 0x18),  # mode >= 4
    ],
)
def test_hello_resp_validation(
    dump_personality: Factory, version: int, supported: int, status: int, mode: int, expect: int
) -> None:
    d = started(dump_personality())
    assert (
        nak(d.receive(hello_resp(mode, version=version, supported=supported, status=status)))
        == expect
    )
    assert d.state is DeviceState.WAIT_RESET


def test_v3_device_accepts_2_1(dump_personality: Factory) -> None:
    d = started(dump_personality(version=3, version_supported=1))
    assert isinstance(only(d.receive(hello_resp(2))), MemoryDebug64)


def test_memory_debug_disabled_naks_0x1b(dump_personality: Factory) -> None:
    # docs/protocol.md#modes: edl's forced mode 2 on an EDL device -> 0x1B (edl prints 0x1C's text).
    d = started(dump_personality(mode=0, memory_debug_supported=False))
    assert nak(d.receive(hello_resp(2))) == 0x1B
    assert d.last_status == 0x1B


# ---- memory debug --------------------------------------------------------------------------


def test_32_bit_device_offers_memory_debug(dump_personality: Factory) -> None:
    p = dump_personality(is64=False)
    d = in_memory_debug(p)
    assert b"".join(read(d, p.table_address, len(p.table), is64=False)) == p.table
    # A 64-bit read on a 32-bit device is an unexpected command.
    assert nak(read(d, p.table_address, len(p.table), is64=True)) == 0x01


def test_table_and_region_reads(dump_personality: Factory) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    assert read(d, p.table_address, len(p.table)) == [p.table]
    assert read(d, p.table_address, 64) == [p.table[:64]]  # a prefix of the table is fine
    base, end = p.readable[0]
    assert p.memory is not None
    assert read(d, base + 8, 0x100) == [p.memory.read(base + 8, 0x100)]
    assert read(d, end - 4, 4) == [p.memory.read(end - 4, 4)]
    assert d.reads == 4
    assert d.state is DeviceState.WAIT_MEMORY_READ


def test_restricted_region_comes_in_4k_transfers(dump_personality: Factory) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    start, end = p.restricted[0]
    assert RESTRICTED_PIECE == 4096
    out = read(d, start, 10000)
    assert [len(x) for x in out] == [4096, 4096, 10000 - 8192]
    assert p.memory is not None
    assert b"".join(out) == p.memory.read(start, 10000)
    # A read touching the restricted range from an unrestricted neighbour is chunked too.
    assert [len(x) for x in read(d, end - 4096, 4096)] == [4096]


@pytest.mark.parametrize(
    "where",
    [
        lambda p: (p.readable[0][1] - 4, 8),  # straddles the end
        lambda p: (p.readable[0][0] - 1, 4),  # just before
        lambda p: (0, 0x100),
        lambda p: (p.table_address, len(p.table) + 1),  # longer than the table
        lambda p: (p.readable[0][0], 0),  # zero length
    ],
)
def test_read_outside_regions_naks_0x19_then_only_reset(
    dump_personality: Factory, where: Callable[[Personality], tuple[int, int]]
) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    address, length = where(p)
    assert nak(read(d, address, length)) == 0x19
    assert_wait_reset_only(d, p)


@pytest.mark.parametrize(
    "pkt",
    [
        # a speculative HELLO_RESP (docs/protocol.md#re-provoking-a-lost-hello says: not in
        # WAIT_MEMORY_READ)
        hello_resp(2),
        b"\x00",  # 1-byte junk
        build_packet(Execute(1)),
        build_packet(Done()),
        build_packet(MemoryDebug64(0, 0)),
    ],
)
def test_unexpected_packet_in_wait_memory_read_naks_0x01_then_only_reset(
    dump_personality: Factory, pkt: bytes
) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    assert nak(d.receive(pkt)) == 0x01
    assert_wait_reset_only(d, p)


@pytest.mark.parametrize("mode", [0, 2, 3])
def test_switch_mode_in_wait_memory_read_restarts_with_hello(
    dump_personality: Factory, mode: int
) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    pkt = only(d.receive(struct.pack("<3I", 0x0C, 0x0C, mode)))
    assert isinstance(pkt, Hello) and pkt.mode == mode
    assert d.state is DeviceState.WAIT_HELLO_RESP
    assert not d.rebooted


def test_switch_mode_to_invalid_mode_naks_0x1c(dump_personality: Factory) -> None:
    d = in_memory_debug(dump_personality())
    assert nak(d.receive(build_packet(SwitchMode(4)))) == 0x1C


def test_dump_survives_switch_mode_round_trip(dump_personality: Factory) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    d.receive(build_packet(SwitchMode(2)))
    assert isinstance(only(d.receive(hello_resp(2))), MemoryDebug64)
    assert read(d, p.table_address, len(p.table)) == [p.table]


def test_reset_in_memory_debug_reboots(dump_personality: Factory) -> None:
    p = dump_personality()
    d = in_memory_debug(p)
    assert only(d.receive(build_packet(Reset()))) == ResetResp()
    assert d.rebooted and d.state is DeviceState.REBOOTED
    assert read(d, p.table_address, len(p.table)) == []


# ---- command mode (docs/protocol.md#command-mode) ------------------------------------------------


def in_command_mode(p: Personality) -> DeviceMachine:
    d = started(p)
    assert only(d.receive(hello_resp(3))) == CmdReady()
    assert d.state is DeviceState.WAIT_CMD_EXEC
    return d


def test_command_mode_flow(dump_personality: Factory) -> None:
    p = dump_personality()
    d = in_command_mode(p)
    for cmd, payload in p.command_responses.items():
        assert only(d.receive(build_packet(Execute(cmd)))) == ExecuteResp(cmd, len(payload))
        assert d.state is DeviceState.WAIT_CMD_EXEC_DATA
        assert d.receive(build_packet(ExecuteData(cmd))) == [payload]
        assert d.state is DeviceState.WAIT_CMD_EXEC
    pkt = only(d.receive(build_packet(SwitchMode(0))))
    assert isinstance(pkt, Hello) and pkt.mode == 0


def test_command_mode_unsupported_command_naks_0x1f(dump_personality: Factory) -> None:
    p = dump_personality()
    d = in_command_mode(p)
    assert nak(d.receive(build_packet(Execute(0x02)))) == 0x1F  # MSM_HW_ID_READ on a v3 device
    assert_wait_reset_only(d, p)


def test_execute_data_for_another_command_naks_0x20(dump_personality: Factory) -> None:
    d = in_command_mode(dump_personality())
    d.receive(build_packet(Execute(0x01)))
    assert nak(d.receive(build_packet(ExecuteData(0x08)))) == 0x20


def test_command_mode_not_supported(dump_personality: Factory) -> None:
    d = started(dump_personality(command_mode_supported=False))
    pkt = only(d.receive(hello_resp(3)))
    assert isinstance(pkt, EndOfImageTx) and pkt.status != 0


# ---- image transfer (docs/protocol.md#image-transfer) --------------------------------------------


def two_image_plan(received: list[bytes] | None = None) -> Callable[[], ImagePlan]:
    """Image 13 in two requests (32- then 64-bit READ_DATA), then image 21
    (docs/protocol.md#image-transfer)."""
    log = received if received is not None else []

    def plan() -> ImagePlan:
        log.append((yield ReadStep(13, 0, 0x34)))
        log.append((yield ReadStep(13, 0x34, 0x40, use64=True)))
        yield EndImage(13)
        log.append((yield ReadStep(21, 0, 0x10)))
        yield EndImage(21)

    return plan


IMAGES = {13: bytes(range(0x80)), 21: b"\x21" * 0x10}


def image_personality(
    factory: Factory, plan: Callable[[], ImagePlan], pending: bool = False
) -> Personality:
    return factory(mode=0, image_plan=plan, pending_after_last_image=pending)


@pytest.mark.parametrize("pending", [False, True])
def test_image_plan_two_images(dump_personality: Factory, pending: bool) -> None:
    received: list[bytes] = []
    d = started(image_personality(dump_personality, two_image_plan(received), pending))
    assert only(d.receive(hello_resp(0))) == ReadData(13, 0, 0x34)
    assert d.state is DeviceState.IMAGE_RECEIVE
    # Image bytes may arrive over several transfers.
    assert d.receive(IMAGES[13][:0x10]) == []
    assert only(d.receive(IMAGES[13][0x10:0x34])) == ReadData64(13, 0x34, 0x40)
    assert only(d.receive(IMAGES[13][0x34:0x74])) == EndOfImageTx(13, 0)
    assert d.state is DeviceState.WAIT_DONE
    out = d.receive(build_packet(Done()))
    # More images: DONE_RESP(pending) then the next request.
    assert [parse_packet(x) for x in out] == [DoneResp(0), ReadData(21, 0, 0x10)]
    assert only(d.receive(IMAGES[21])) == EndOfImageTx(21, 0)
    # Last image: complete, unless the MSM8916-class quirk says pending
    # (docs/protocol.md#image-ids-and-the-pending-quirk).
    assert only(d.receive(build_packet(Done()))) == DoneResp(0 if pending else 1)
    assert d.rebooted
    assert received == [IMAGES[13][:0x34], IMAGES[13][0x34:0x74], IMAGES[21]]


def test_image_too_many_bytes_naks_0x0b(dump_personality: Factory) -> None:
    d = started(image_personality(dump_personality, two_image_plan()))
    d.receive(hello_resp(0))
    assert nak(d.receive(IMAGES[13][:0x35])) == 0x0B


def test_image_rejected(dump_personality: Factory) -> None:
    def plan() -> ImagePlan:
        yield ReadStep(13, 0, 4)
        yield EndImage(13, 0x21)

    d = started(image_personality(dump_personality, plan))
    d.receive(hello_resp(0))
    assert only(d.receive(b"\x7fELF")) == EndOfImageTx(13, 0x21)
    assert d.state is DeviceState.WAIT_RESET


def test_image_mode_without_plan_naks(dump_personality: Factory) -> None:
    d = started(dump_personality(mode=0))
    assert nak(d.receive(hello_resp(0))) == 0x18


# ---- byte streams --------------------------------------------------------------------------


def memory_session_bytes(p: Personality) -> list[bytes]:
    base, _ = p.readable[0]
    rbase, _ = p.restricted[0]
    return [
        b"\x00",  # junk before HELLO_RESP: HELLO again
        hello_resp(2),
        build_packet(MemoryRead64(p.table_address, len(p.table))),
        build_packet(MemoryRead64(base, 0x100)),
        build_packet(MemoryRead64(rbase, 0x2100)),
        build_packet(SwitchMode(2)),
        hello_resp(2),
        build_packet(MemoryRead64(base + 0x10, 0x20)),
        build_packet(Reset()),
    ]


def image_session_bytes() -> list[bytes]:
    return [
        hello_resp(0),
        IMAGES[13][:0x34],
        IMAGES[13][0x34:0x74],
        build_packet(Done()),
        IMAGES[21],
        build_packet(Done()),
    ]


def reference_output(d: DeviceMachine, transfers: list[bytes]) -> bytes:
    return b"".join(b"".join(d.receive(t)) for t in transfers)


@SETTINGS
@given(st.data(), st.sampled_from(["memory", "image"]))
def test_receive_stream_any_split_equals_per_transfer(
    dump_personality: Factory, data: st.DataObject, flow: str
) -> None:
    if flow == "memory":
        p = dump_personality()
        transfers = memory_session_bytes(p)
        # The junk byte cannot be framed on a stream (it is < 8 bytes and is followed by a
        # valid packet), so the stream test starts at the first real packet.
        transfers = transfers[1:]
    else:
        p = image_personality(dump_personality, two_image_plan())
        transfers = image_session_bytes()
    expected = reference_output(started(p), transfers)

    stream = b"".join(transfers)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    d = started(p)
    got = b""
    prev = 0
    for cut in [*cuts, len(stream)]:
        got += b"".join(d.receive_stream(stream[prev:cut]))
        prev = cut
    assert got == expected
    assert d.rebooted


def test_receive_stream_one_byte_at_a_time(dump_personality: Factory) -> None:
    p = dump_personality()
    transfers = memory_session_bytes(p)[1:]
    expected = reference_output(started(p), transfers)
    d = started(p)
    stream = b"".join(transfers)
    got = b"".join(b"".join(d.receive_stream(stream[i : i + 1])) for i in range(len(stream)))
    assert got == expected


def test_receive_stream_junk_header_resends_hello(dump_personality: Factory) -> None:
    d = started(dump_personality())
    out = d.receive_stream(struct.pack("<II", 0xDEAD, 0x10) + bytes(8))
    assert isinstance(only(out), Hello)


# ---- hypothesis: junk never crashes the device ----------------------------------------------


def _device_in(state: str, factory: Factory) -> tuple[DeviceMachine, Personality]:
    if state == "image":
        p = image_personality(factory, two_image_plan())
        d = started(p)
        d.receive(hello_resp(0))
        return d, p
    p = factory()
    d = started(p)
    if state == "wait-hello-resp":
        return d, p
    if state == "command":
        d.receive(hello_resp(3))
        return d, p
    if state == "command-data":
        d.receive(hello_resp(3))
        d.receive(build_packet(Execute(1)))
        return d, p
    d.receive(hello_resp(2))
    if state == "wait-reset":
        d.receive(b"junk")
    return d, p


DEVICE_STATES = ["wait-hello-resp", "memory", "command", "command-data", "image", "wait-reset"]

host_chunks = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            hello_resp(2),
            hello_resp(3),
            hello_resp(0),
            hello_resp(9),
            build_packet(MemoryRead64(0x8000_0000, 0x40)),
            build_packet(MemoryRead64(0x8030_0000, 0x2000)),
            build_packet(MemoryRead(0x8000_0000, 0x40)),
            build_packet(SwitchMode(2)),
            build_packet(Execute(1)),
            build_packet(ExecuteData(1)),
            build_packet(Done()),
            struct.pack("<II", 0x11, 0x18),
            b"",
        ]
    ),
)


@SETTINGS
@given(st.sampled_from(DEVICE_STATES), st.lists(host_chunks, max_size=8), st.booleans())
def test_device_answers_anything_without_raising(
    dump_personality: Factory, state: str, chunks: list[bytes], stream: bool
) -> None:
    d, _ = _device_in(state, dump_personality)
    for chunk in chunks:
        out = d.receive_stream(chunk) if stream else d.receive(chunk)
        assert isinstance(out, list) and all(isinstance(x, bytes) for x in out)
    if d.state is DeviceState.WAIT_RESET:
        assert d.last_status is not None
