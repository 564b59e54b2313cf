"""HostMachine on hand-fed device bytes (docs/protocol.md).

The device side is typed in here as packets (or built with struct), so these tests do not
depend on DeviceMachine; tests/protocols/test_host_device.py wires the two together.
"""

# mypy: disable-error-code="comparison-overlap"
# (mypy keeps `assert m.state is X` narrowed across the calls that change the state.)

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.errors import (
    DeviceNak,
    MalformedPacket,
    ProtocolError,
    QdlpyError,
    UnexpectedPacket,
)
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
    plan_reads,
)
from qdlpy.protocols.packets import (
    CmdReady,
    DoneResp,
    EndOfImageTx,
    ExecuteResp,
    Hello,
    MemoryDebug,
    MemoryDebug64,
    MemoryRead,
    ReadData,
    ReadData64,
    ResetResp,
    SwitchMode,
    build_packet,
    parse_packet,
)

SETTINGS = settings(deadline=None, max_examples=200)

TABLE = (0x1460_0000, 0x200)
REGION = (0x8000_0000, 0x10_0000)
EOI_19 = struct.pack("<4I", 0x04, 0x10, 0, 0x19)


def hello(version: int = 2, mode: int = 2, supported: int = 1) -> bytes:
    return struct.pack("<12I", 0x01, 0x30, version, supported, 0x400, mode, 0, 0, 0, 0, 0, 0)


def raw_of(events: list[Event]) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, RawData))


def memory_host(*, is64: bool = True, boundaries: bool = True) -> HostMachine:
    """A host in MEMORY_IDLE with the table offered and REGION allowed."""
    h = HostMachine(message_boundaries=boundaries)
    assert isinstance(h.receive_data(hello(mode=2))[0], HelloReceived)
    h.hello_resp()
    offer = MemoryDebug64(*TABLE) if is64 else MemoryDebug(*TABLE)
    (ev,) = h.receive_data(build_packet(offer))
    assert ev == TableOffered(TABLE[0], TABLE[1], is64)
    h.set_table([REGION])
    assert h.state is HostState.MEMORY_IDLE
    return h


def reading_host(length: int, *, boundaries: bool = True, address: int = REGION[0]) -> HostMachine:
    h = memory_host(boundaries=boundaries)
    h.memory_read(address, length)
    assert h.state is HostState.MEMORY_RAW
    return h


# ---- HELLO and HELLO_RESP ----------------------------------------------------------------


def test_hello_layout_helper_is_the_reference_layout() -> None:
    assert parse_packet(hello(3, 2, 1)) == Hello(version=3, version_supported=1, mode=2)


@pytest.mark.parametrize(
    "raw",
    [
        # v1, 0x14 bytes (docs/protocol.md#what-differs-between-versions)
        struct.pack("<5I", 0x01, 0x14, 1, 1, 0x400),
        hello(version=1, mode=0),
        hello(version=2, mode=2),
        hello(version=3, mode=0),
        hello(version=3, mode=2),
        hello(version=2, mode=3),
    ],
)
def test_hello_versions_1_to_3_accepted(raw: bytes) -> None:
    h = HostMachine()
    (ev,) = h.receive_data(raw)
    assert isinstance(ev, HelloReceived)
    assert ev.hello == parse_packet(raw)
    assert h.state is HostState.WAIT_HELLO


@pytest.mark.parametrize(
    ("version", "supported", "mode"),
    [(0, 0, 2), (4, 1, 2), (0xFFFFFFFF, 1, 2), (2, 3, 2), (2, 1, 4), (2, 1, 0xFFFFFFFF)],
)
def test_nonsense_hello_rejected(version: int, supported: int, mode: int) -> None:
    h = HostMachine()
    with pytest.raises(ProtocolError):
        h.receive_data(hello(version=version, supported=supported, mode=mode))
    assert h.hello is None


@pytest.mark.parametrize("mode", [0, 2, 3])
def test_hello_resp_echoes_mode(mode: int) -> None:
    h = HostMachine()
    h.receive_data(hello(version=3, mode=mode))
    raw = h.hello_resp()
    # docs/protocol.md#modes: version 2, version_supported 1, status 0 at offset 16, mode echoed,
    # reserved zero.
    assert raw == struct.pack("<4I4I", 0x02, 0x30, 2, 1, 0, mode, 0, 0) + bytes(16)
    assert h.mode == mode


def test_hello_resp_can_ask_for_command_mode() -> None:
    h = HostMachine()
    h.receive_data(hello(mode=2))
    raw = h.hello_resp(3)
    assert struct.unpack_from("<I", raw, 20)[0] == 3
    assert h.state is HostState.WAIT_CMD_READY


def test_hello_resp_before_hello_is_refused() -> None:
    with pytest.raises(QdlpyError):
        HostMachine().hello_resp()


def test_hello_split_across_reads() -> None:
    h = HostMachine(message_boundaries=False)
    raw = hello(mode=2)
    events: list[Event] = []
    for i in range(len(raw)):
        events += h.receive_data(raw[i : i + 1])
    assert [type(e) for e in events] == [HelloReceived]


@pytest.mark.parametrize("length", [0, 7, 0x401, 0xFFFFFFFF])
def test_impossible_packet_length_is_malformed(length: int) -> None:
    h = HostMachine()
    with pytest.raises(MalformedPacket):
        h.receive_data(struct.pack("<II", 0x01, length) + bytes(8))


def test_unexpected_packet_in_wait_hello() -> None:
    h = HostMachine()
    with pytest.raises(UnexpectedPacket):
        h.receive_data(build_packet(MemoryDebug64(*TABLE)))


# ---- memory debug ------------------------------------------------------------------------


def test_memory_debug_64_uses_memory_read_64() -> None:
    h = memory_host(is64=True)
    raw = h.memory_read(TABLE[0], TABLE[1])
    assert raw == struct.pack("<IIQQ", 0x11, 0x18, TABLE[0], TABLE[1])


def test_memory_debug_32_uses_memory_read_32() -> None:
    h = memory_host(is64=False)
    assert h.is64 is False
    raw = h.memory_read(REGION[0] + 0x100, 0x1000)
    assert raw == struct.pack("<4I", 0x0A, 0x10, REGION[0] + 0x100, 0x1000)


def test_table_read_then_region_read() -> None:
    h = memory_host()
    h.memory_read(*TABLE)
    table = bytes(range(256)) * 2
    events = h.receive_data(table)
    assert raw_of(events) == table
    assert events[-1] == RawComplete(TABLE[1])
    assert h.state is HostState.MEMORY_IDLE
    h.memory_read(REGION[0], 0x1000)
    events = h.receive_data(b"\xaa" * 0x1000)
    assert events[-1] == RawComplete(0x1000)


def test_memory_read_outside_the_table_is_refused_before_sending() -> None:
    h = memory_host()
    base, length = REGION
    for address, n in [
        (base - 1, 2),  # straddles the start
        (base + length - 4, 8),  # straddles the end
        (base + length, 4),  # just after
        (0, 4),
        (TABLE[0], TABLE[1] + 1),  # longer than the offered table
        (TABLE[0] + 4, 8),  # not at the table's address
    ]:
        with pytest.raises(ProtocolError):
            h.memory_read(address, n)
        assert h.state is HostState.MEMORY_IDLE  # nothing was sent, nothing is expected
    h.memory_read(base + length - 8, 8)  # the last bytes are fine


def test_memory_read_without_set_table_only_reads_the_table() -> None:
    h = HostMachine()
    h.receive_data(hello())
    h.hello_resp()
    h.receive_data(build_packet(MemoryDebug64(*TABLE)))
    with pytest.raises(ProtocolError):
        h.memory_read(REGION[0], 0x100)
    h.memory_read(TABLE[0], TABLE[1])


@pytest.mark.parametrize("length", [0, -1, 16, 1024 * 1024 + 1])
def test_memory_read_rejects_bad_lengths(length: int) -> None:
    h = memory_host()
    with pytest.raises((ValueError, QdlpyError)):
        h.memory_read(REGION[0], length)
    assert h.state is HostState.MEMORY_IDLE


def test_memory_read_only_when_idle() -> None:
    h = reading_host(0x100)
    with pytest.raises(QdlpyError):
        h.memory_read(REGION[0], 0x100)


def test_32_bit_read_may_end_exactly_at_4_gib() -> None:
    h = HostMachine()
    h.receive_data(hello())
    h.hello_resp()
    h.receive_data(build_packet(MemoryDebug(*TABLE)))
    h.set_table([(0x8000_0000, 0x8000_0000)])
    raw = h.memory_read(0xFFFF_F000, 0x1000)
    assert parse_packet(raw) == MemoryRead(0xFFFF_F000, 0x1000)


def test_32_bit_read_past_4_gib_is_refused() -> None:
    h = HostMachine()
    h.receive_data(hello())
    h.hello_resp()
    h.receive_data(build_packet(MemoryDebug(*TABLE)))
    h.set_table([(0xFFFF_0000, 0x2_0000)])  # a (bogus) entry running past 4 GiB
    with pytest.raises(ProtocolError):
        h.memory_read(0xFFFF_F000, 0x2000)


# ---- raw data in pieces -------------------------------------------------------------------


@pytest.mark.parametrize("boundaries", [True, False])
@pytest.mark.parametrize("piece", [1, 3, 15, 16, 17, 512, 4096])
def test_raw_data_in_many_pieces(boundaries: bool, piece: int) -> None:
    length = 3 * 4096 + 5
    data = bytes((i * 7 + 3) & 0xFF for i in range(length))
    h = reading_host(length, boundaries=boundaries)
    events: list[Event] = []
    for i in range(0, length, piece):
        events += h.receive_data(data[i : i + piece])
        if i == 4096:
            events += h.receive_data(b"")  # a ZLP / empty read in the middle
    assert raw_of(events) == data
    assert events.count(RawComplete(length)) == 1 and events[-1] == RawComplete(length)
    assert h.state is HostState.MEMORY_IDLE
    assert h.raw_remaining == 0


def test_zlp_before_the_first_data_is_ignored() -> None:
    # The ZLP left over from the table read (docs/protocol.md#zero-length-packets) arrives first.
    h = reading_host(0x1000)
    assert h.receive_data(b"") == []
    events = h.receive_data(b"\x55" * 0x1000)
    assert events[-1] == RawComplete(0x1000)


def test_raw_events_are_views_not_copies() -> None:
    h = reading_host(64)
    buf = bytearray(b"\x11" * 64)
    (data_ev, done) = h.receive_data(buf)
    assert isinstance(data_ev, RawData) and done == RawComplete(64)
    buf[0] = 0x99
    assert data_ev.data[0] == 0x99


@pytest.mark.parametrize("boundaries", [True, False])
def test_more_bytes_than_requested_is_a_protocol_error(boundaries: bool) -> None:
    h = reading_host(100, boundaries=boundaries)
    with pytest.raises(ProtocolError):
        h.receive_data(b"\x01" * 101)
    h = reading_host(100, boundaries=boundaries)
    h.receive_data(b"\x01" * 60)
    with pytest.raises(ProtocolError):
        h.receive_data(b"\x01" * 41)


# ---- END_OF_IMAGE_TX in place of data (docs/protocol.md#recognising-end_of_image_tx-inside-data)
# --------------------------------------


@pytest.mark.parametrize("length", [17, 0x1000, 0x8_0000])
def test_eoi_instead_of_data_on_message_transport(length: int) -> None:
    h = reading_host(length, boundaries=True)
    with pytest.raises(DeviceNak) as info:
        h.receive_data(EOI_19)
    assert info.value.status == 0x19
    assert "0x19" in str(info.value)
    assert "invalid memory read" in str(info.value)
    assert f"0x{REGION[0]:x}" in str(info.value)  # the read it refused
    assert h.state is HostState.FAILED
    # The device now accepts only RESET (docs/protocol.md#the-device-state-machine): the host offers
    # that and nothing else.
    with pytest.raises(QdlpyError):
        h.memory_read(REGION[0], 0x100)
    raw = h.reset()
    assert raw == struct.pack("<II", 0x07, 0x08)
    assert h.receive_data(build_packet(ResetResp())) == [ResetDone()]
    assert h.state is HostState.CLOSED


def test_eoi_after_zlp_on_message_transport() -> None:
    h = reading_host(0x1000)
    h.receive_data(b"")
    with pytest.raises(DeviceNak):
        h.receive_data(EOI_19)


def test_eoi_looking_data_later_in_a_response_is_data() -> None:
    h = reading_host(0x1000)
    events = h.receive_data(b"\x00" * 0x800)
    events += h.receive_data(EOI_19)  # not the first transfer: just memory that looks like EOI
    events += h.receive_data(b"\x00" * (0x800 - 16))
    assert events[-1] == RawComplete(0x1000)
    assert raw_of(events)[0x800:0x810] == EOI_19


def test_eoi_looking_prefix_in_a_longer_first_transfer_is_data() -> None:
    h = reading_host(0x100)
    data = EOI_19 + bytes(0x100 - 16)
    events = h.receive_data(data)
    assert raw_of(events) == data and events[-1] == RawComplete(0x100)


def test_short_first_transfer_with_eoi_prefix_is_data_on_message_transport() -> None:
    h = reading_host(0x100)
    events = h.receive_data(EOI_19[:8])
    assert raw_of(events) == EOI_19[:8]
    events = h.receive_data(bytes(0x100 - 8))
    assert events[-1] == RawComplete(0x100)


def test_eoi_with_status_zero_instead_of_data() -> None:
    h = reading_host(0x100)
    with pytest.raises(UnexpectedPacket):
        h.receive_data(struct.pack("<4I", 0x04, 0x10, 0, 0))


def test_eoi_on_byte_stream_waits_for_silence() -> None:
    h = reading_host(0x1000, boundaries=False)
    assert h.receive_data(EOI_19) == []
    assert h.awaiting_idle
    with pytest.raises(DeviceNak) as info:
        h.receive_idle()
    assert info.value.status == 0x19
    assert h.state is HostState.FAILED


def test_eoi_split_on_byte_stream() -> None:
    h = reading_host(0x1000, boundaries=False)
    assert h.receive_data(EOI_19[:5]) == []
    assert h.receive_data(EOI_19[5:11]) == []
    assert h.receive_data(EOI_19[11:]) == []
    with pytest.raises(DeviceNak):
        h.receive_idle()


@pytest.mark.parametrize("split", [16, 5, 1])
def test_eoi_looking_data_on_byte_stream_is_released_when_more_comes(split: int) -> None:
    data = EOI_19 + bytes(range(48))
    h = reading_host(len(data), boundaries=False)
    events: list[Event] = []
    events += h.receive_data(data[:split])
    events += h.receive_data(data[split:16])
    assert raw_of(events) == b""
    events += h.receive_data(data[16:17])
    events += h.receive_data(data[17:])
    assert raw_of(events) == data
    assert events[-1] == RawComplete(len(data))
    assert not h.awaiting_idle
    assert h.receive_idle() == []


def test_receive_idle_with_nothing_held_does_nothing() -> None:
    h = reading_host(0x100, boundaries=False)
    h.receive_data(b"\x01" * 0x20)
    assert not h.awaiting_idle
    assert h.receive_idle() == []
    assert h.state is HostState.MEMORY_RAW


@pytest.mark.parametrize("boundaries", [True, False])
@pytest.mark.parametrize("length", [1, 4, 8, 15])
def test_short_request_answered_by_eoi(boundaries: bool, length: int) -> None:
    # Fewer than 16 bytes asked for, 16 arrived: that cannot be the data.
    h = reading_host(length, boundaries=boundaries)
    with pytest.raises(DeviceNak) as info:
        h.receive_data(EOI_19)
        h.receive_idle()
    assert info.value.status == 0x19


@pytest.mark.parametrize("boundaries", [True, False])
def test_short_request_answered_by_eoi_in_two_halves(boundaries: bool) -> None:
    h = reading_host(8, boundaries=boundaries)
    if boundaries:
        # One transfer of 8 bytes that merely looks like an EOI header is the data.
        events = h.receive_data(EOI_19[:8])
        assert events[-1] == RawComplete(8)
        return
    assert h.receive_data(EOI_19[:8]) == []
    with pytest.raises(DeviceNak):
        h.receive_data(EOI_19[8:])


def test_short_request_answered_by_eoi_split_12_4_on_byte_stream() -> None:
    h = reading_host(8, boundaries=False)
    with pytest.raises(DeviceNak):
        h.receive_data(EOI_19[:12])
        h.receive_data(EOI_19[12:])


def test_short_read_that_looks_like_eoi_header_completes_after_silence() -> None:
    h = reading_host(8, boundaries=False)
    data = EOI_19[:8]
    events = h.receive_data(data)
    if not any(isinstance(e, RawComplete) for e in events):
        assert h.awaiting_idle  # the session must know that only silence can decide
        events += h.receive_idle()
    assert raw_of(events) == data
    assert events[-1] == RawComplete(8)


def test_abandon_raw_returns_to_idle() -> None:
    h = reading_host(0x1000)
    h.receive_data(b"\x00" * 100)
    h.abandon_raw()
    assert h.state is HostState.MEMORY_IDLE
    assert h.raw_remaining == 0
    h.memory_read(REGION[0], 0x100)


# ---- plan_reads ----------------------------------------------------------------------------


def test_plan_reads_examples() -> None:
    assert list(plan_reads(0x1000, 0x30, 0x10)) == [
        (0x1000, 8), (0x1008, 8), (0x1010, 8), (0x1018, 8), (0x1020, 8), (0x1028, 8)
    ]
    assert list(plan_reads(0, 0x20, 0x1C)) == [(0, 0x1C), (0x1C, 4)]
    assert list(plan_reads(0, 0x2C, 0x1C)) == [(0, 0x1C), (0x1C, 8), (0x24, 8)]
    assert list(plan_reads(0, 0, 0x1000)) == []


@pytest.mark.parametrize("chunk", [0, -1, 1024 * 1024 + 1])
def test_plan_reads_rejects_bad_chunk(chunk: int) -> None:
    with pytest.raises(ValueError):
        list(plan_reads(0, 100, chunk))


@SETTINGS
@given(
    st.integers(0, 2**64 - 2**33),
    st.integers(0, 3 * 1024 * 1024),
    st.one_of(
        st.integers(1, 64), st.integers(1, 1024 * 1024), st.sampled_from([16, 17, 4096, 0xFFF0])
    ),
)
def test_plan_reads_covers_exactly_without_16_byte_requests(
    base: int, length: int, chunk: int
) -> None:
    if length // chunk > 20000:
        length = chunk * 20000 + length % chunk  # keep the example fast
    pieces = list(plan_reads(base, length, chunk))
    position = base
    for address, n in pieces:
        assert address == position
        assert 0 < n <= chunk and n != 16
        position += n
    assert position == base + length


# ---- command mode (docs/protocol.md#command-mode) ------------------------------------------------


def command_host() -> HostMachine:
    h = HostMachine()
    h.receive_data(hello(mode=2))
    h.hello_resp(3)
    assert h.receive_data(build_packet(CmdReady())) == [CommandReady()]
    assert h.state is HostState.COMMAND_IDLE
    return h


def test_command_mode_flow() -> None:
    h = command_host()
    assert h.execute(0x01) == struct.pack("<3I", 0x0D, 0x0C, 0x01)
    assert h.receive_data(build_packet(ExecuteResp(0x01, 4))) == [ExecuteResponse(0x01, 4)]
    assert h.execute_data(0x01) == struct.pack("<3I", 0x0F, 0x0C, 0x01)
    events = h.receive_data(struct.pack("<I", 0xC0FFEE42))
    assert raw_of(events) == struct.pack("<I", 0xC0FFEE42) and events[-1] == RawComplete(4)
    assert h.state is HostState.COMMAND_IDLE
    # Leave with SWITCH_MODE(0) (docs/protocol.md#leaving-command-mode): the device restarts with
    # HELLO(mode 0).
    assert h.switch_mode(0) == struct.pack("<3I", 0x0C, 0x0C, 0)
    (ev,) = h.receive_data(hello(mode=0))
    assert isinstance(ev, HelloReceived) and ev.mode == 0


def test_command_unsupported_is_a_nak() -> None:
    h = command_host()
    h.execute(0x02)
    with pytest.raises(DeviceNak) as info:
        h.receive_data(struct.pack("<4I", 0x04, 0x10, 0, 0x1F))
    assert info.value.status == 0x1F
    assert h.state is HostState.FAILED


def test_execute_resp_for_another_command_is_unexpected() -> None:
    h = command_host()
    h.execute(0x01)
    with pytest.raises(UnexpectedPacket):
        h.receive_data(build_packet(ExecuteResp(0x03, 4)))


def test_execute_data_with_zero_length_returns_to_idle() -> None:
    h = command_host()
    h.execute(0x00)
    h.receive_data(build_packet(ExecuteResp(0x00, 0)))
    h.execute_data(0x00)
    assert h.state is HostState.COMMAND_IDLE


def test_command_mode_refused_by_device() -> None:
    h = HostMachine()
    h.receive_data(hello(mode=0))
    h.hello_resp(3)
    with pytest.raises(DeviceNak):
        h.receive_data(struct.pack("<4I", 0x04, 0x10, 0, 0x18))


# ---- image transfer (docs/protocol.md#image-transfer) --------------------------------------------


def image_host() -> HostMachine:
    h = HostMachine()
    h.receive_data(hello(mode=0))
    h.hello_resp()
    assert h.state is HostState.IMAGE_WAIT
    return h


def test_image_transfer_flow_single_image() -> None:
    h = image_host()
    assert h.receive_data(build_packet(ReadData(13, 0, 0x34))) == [ImageRequest(13, 0, 0x34, False)]
    assert h.state is HostState.IMAGE_SEND
    h.image_data_sent()
    assert h.receive_data(build_packet(ReadData64(13, 0x1000, 0x2000))) == [
        ImageRequest(13, 0x1000, 0x2000, True)
    ]
    h.image_data_sent()
    assert h.receive_data(build_packet(EndOfImageTx(13, 0))) == [ImageDone(13)]
    assert h.done() == struct.pack("<II", 0x05, 0x08)
    assert h.receive_data(build_packet(DoneResp(1))) == [TransferComplete(True, 1)]
    assert h.state is HostState.CLOSED


def test_image_transfer_pending_then_next_image() -> None:
    h = image_host()
    h.receive_data(build_packet(ReadData(13, 0, 0x100)))
    h.image_data_sent()
    h.receive_data(build_packet(EndOfImageTx(13, 0)))
    h.done()
    # DONE_RESP(0) = pending: the device wants another image (or it is the MSM8916 quirk,
    # which the caller decides on; the machine reports complete=False and keeps listening).
    assert h.receive_data(build_packet(DoneResp(0))) == [TransferComplete(False, 0)]
    assert h.state is HostState.IMAGE_WAIT
    assert h.receive_data(build_packet(ReadData(21, 0, 0x40))) == [ImageRequest(21, 0, 0x40, False)]


def test_image_done_resp_and_next_request_coalesced_on_stream() -> None:
    h = HostMachine(message_boundaries=False)
    h.receive_data(hello(mode=0))
    h.hello_resp()
    h.receive_data(build_packet(ReadData(13, 0, 0x100)))
    h.image_data_sent()
    h.receive_data(build_packet(EndOfImageTx(13, 0)))
    h.done()
    events = h.receive_data(build_packet(DoneResp(0)) + build_packet(ReadData(21, 0, 0x40)))
    assert events == [TransferComplete(False, 0), ImageRequest(21, 0, 0x40, False)]


def test_image_rejected_is_a_nak() -> None:
    h = image_host()
    h.receive_data(build_packet(ReadData(13, 0, 0x100)))
    h.image_data_sent()
    with pytest.raises(DeviceNak) as info:
        h.receive_data(build_packet(EndOfImageTx(13, 0x21)))
    assert info.value.status == 0x21


def test_zero_length_image_request_is_unexpected() -> None:
    h = image_host()
    with pytest.raises(UnexpectedPacket):
        h.receive_data(build_packet(ReadData(13, 0, 0)))


# ---- reset, reprovoke ----------------------------------------------------------------------


def test_reset_flow() -> None:
    h = memory_host()
    assert h.reset() == struct.pack("<II", 0x07, 0x08)
    assert h.state is HostState.WAIT_RESET_RESP
    assert h.receive_data(struct.pack("<II", 0x08, 0x08)) == [ResetDone()]
    assert h.state is HostState.CLOSED
    assert h.receive_data(b"") == []
    with pytest.raises(UnexpectedPacket):
        h.receive_data(struct.pack("<II", 0x08, 0x08))


def test_reset_resp_without_reset_is_unexpected() -> None:
    h = memory_host()
    with pytest.raises(UnexpectedPacket):
        h.receive_data(build_packet(ResetResp()))


@pytest.mark.parametrize("state_setup", ["fresh", "hello", "memory", "raw", "command", "failed"])
@pytest.mark.parametrize("mode", [0, 2, 3])
def test_reprovoke_hello_is_a_switch_mode_never_reset(state_setup: str, mode: int) -> None:
    makers: dict[str, Callable[[], HostMachine]] = {
        "fresh": HostMachine,
        "hello": lambda: _with_hello(),
        "memory": memory_host,
        "raw": lambda: reading_host(0x100),
        "command": command_host,
        "failed": lambda: _failed_host(),
    }
    h = makers[state_setup]()
    raw = h.reprovoke_hello(mode)
    assert parse_packet(raw) == SwitchMode(mode)
    assert raw[:4] != struct.pack("<I", 0x07)
    assert h.state is HostState.WAIT_HELLO and h.hello is None
    (ev,) = h.receive_data(hello(mode=mode))
    assert isinstance(ev, HelloReceived) and ev.mode == mode


def _with_hello() -> HostMachine:
    h = HostMachine()
    h.receive_data(hello())
    return h


def _failed_host() -> HostMachine:
    h = reading_host(0x100)
    with pytest.raises(DeviceNak):
        h.receive_data(EOI_19)
    return h


def test_switch_mode_only_from_idle_states() -> None:
    with pytest.raises(QdlpyError):
        HostMachine().switch_mode(0)
    assert parse_packet(memory_host().switch_mode(0)) == SwitchMode(0)


def test_hello_after_switch_mode_from_memory_debug() -> None:
    h = memory_host()
    h.switch_mode(0)
    (ev,) = h.receive_data(hello(mode=0))
    assert isinstance(ev, HelloReceived) and ev.mode == 0
    h.hello_resp()
    assert h.state is HostState.IMAGE_WAIT


def test_nak_anywhere_raises() -> None:
    # docs/protocol.md#end_of_image_tx-is-the-universal-nak: EOI with status != 0 is an error in
    # every state.
    for make in (HostMachine, _with_hello, memory_host, command_host, image_host):
        h = make()
        with pytest.raises(DeviceNak):
            h.receive_data(struct.pack("<4I", 0x04, 0x10, 0, 0x1B))


# ---- hypothesis: arbitrary device bytes ----------------------------------------------------


def _host_in(state: str, boundaries: bool) -> HostMachine:
    if state == "wait-hello":
        return HostMachine(message_boundaries=boundaries)
    h = HostMachine(message_boundaries=boundaries)
    h.receive_data(hello(mode=2))
    if state == "hello":
        return h
    if state == "wait-table":
        h.hello_resp(2)
        return h
    if state == "wait-cmd":
        h.hello_resp(3)
        return h
    if state in ("answer-short", "answer-long"):
        h.hello_resp(3)
        h.receive_data(build_packet(CmdReady()))
        h.execute(0x07)
        length = 4 if state == "answer-short" else 0x30
        h.receive_data(build_packet(ExecuteResp(0x07, length)))
        h.execute_data(0x07)
        return h
    if state == "image":
        h.hello_resp(0)
        return h
    h.hello_resp(2)
    h.receive_data(build_packet(MemoryDebug64(*TABLE)))
    h.set_table([REGION])
    if state == "memory-idle":
        return h
    if state == "raw-short":
        h.memory_read(REGION[0], 8)
        return h
    if state == "raw-long":
        h.memory_read(REGION[0], 0x40)
        return h
    if state == "wait-reset":
        h.reset()
        return h
    raise AssertionError(state)


HOST_STATES = [
    "wait-hello",
    "hello",
    "wait-table",
    "wait-cmd",
    "image",
    "memory-idle",
    "raw-short",
    "raw-long",
    "answer-short",
    "answer-long",
    "wait-reset",
]

# Chunks biased towards things that almost parse: real packets, EOIs, headers with odd lengths.
device_chunks = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            EOI_19,
            EOI_19[:8],
            hello(),
            hello(version=9),
            build_packet(MemoryDebug64(*TABLE)),
            build_packet(CmdReady()),
            build_packet(ResetResp()),
            build_packet(DoneResp(1)),
            build_packet(ReadData(13, 0, 4)),
            struct.pack("<II", 0x01, 0x30),
            struct.pack("<II", 0x04, 0x10),
            b"",
        ]
    ),
)


@SETTINGS
@given(
    st.sampled_from(HOST_STATES),
    st.booleans(),
    st.lists(st.tuples(device_chunks, st.booleans()), max_size=8),
)
def test_receive_data_returns_events_or_qdlpy_error(
    state: str, boundaries: bool, chunks: list[tuple[bytes, bool]]
) -> None:
    h = _host_in(state, boundaries)
    for data, idle in chunks:
        try:
            events = h.receive_data(data)
            assert isinstance(events, list)
            if idle:
                h.receive_idle()
        except QdlpyError:
            pass  # any QdlpyError is a legal answer to junk; other exceptions are bugs
