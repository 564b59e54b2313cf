"""Client-command answers through HostMachine, on message transports and byte streams.

A command's answer has the length EXECUTE_RESP announced; the device sends it in state
WAIT_CMD_EXEC_DATA and sends an END_OF_IMAGE_TX instead only when EXECUTE_DATA names
another command (which the host machine never sends) or is junk. So an answer that starts
like an END_OF_IMAGE_TX header (an SBL version of 4 is ``04 00 00 00``) is the answer, on
every transport and however a byte stream cuts it, and it needs no silence to be released.
An END_OF_IMAGE_TX is still reported where it cannot be an answer: 16 bytes where fewer
were announced, or 16 bytes and then nothing where more were announced.

The device side is typed in here with struct; no DeviceMachine.
"""

# mypy: disable-error-code="comparison-overlap"
# (mypy keeps `assert m.state is X` narrowed across the calls that change the state.)

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.errors import DeviceNak, ProtocolError, UnexpectedPacket
from qdlpy.protocols.host import (
    CommandReady,
    Event,
    ExecuteResponse,
    HostMachine,
    HostState,
    RawComplete,
    RawData,
)

SETTINGS = settings(deadline=None, max_examples=300)
LENGTHS = [4, 8, 32, 48]
SBL_VERSION_READ = 0x07


def packet(*words: int) -> bytes:
    """A command packet: cmd, total length, then the fields (all u32 little-endian)."""
    return struct.pack(f"<{1 + len(words)}I", words[0], 4 * (len(words) + 1), *words[1:])


def eoi(image_id: int, status: int) -> bytes:
    return struct.pack("<4I", 0x04, 0x10, image_id, status)


HELLO_EDL = packet(0x01, 2, 1, 0x400, 0, 0, 0, 0, 0, 0, 0)
CMD_READY = packet(0x0B)
u32 = st.integers(0, 0xFFFF_FFFF)


@st.composite
def eoi_like_answer(draw: st.DrawFn, length: int) -> bytes:
    """``length`` bytes whose first 4..16 bytes are an END_OF_IMAGE_TX's, then anything."""
    head = eoi(draw(u32), draw(u32))
    matched = draw(st.integers(4, min(16, length)))
    rest = draw(st.binary(min_size=length - matched, max_size=length - matched))
    return head[:matched] + rest


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into the pieces one read after another could return."""
    points = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=6)))
    edges = [0, *[p for p in points if p < len(data)], len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def answering_host(length: int, *, boundaries: bool,
                   command: int = SBL_VERSION_READ) -> HostMachine:
    """A host that sent EXECUTE_DATA after EXECUTE_RESP announced ``length`` bytes."""
    host = HostMachine(message_boundaries=boundaries)
    host.receive_data(HELLO_EDL)
    host.hello_resp(3)
    assert host.receive_data(CMD_READY) == [CommandReady()]
    host.execute(command)
    assert host.receive_data(packet(0x0E, command, length)) == [ExecuteResponse(command, length)]
    host.execute_data(command)
    assert host.state is HostState.COMMAND_RAW
    return host


def raw_of(events: list[Event]) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, RawData))


@SETTINGS
@given(st.sampled_from(LENGTHS).flatmap(
    lambda n: eoi_like_answer(n).flatmap(lambda a: st.tuples(st.just(a), cuts(a)))))
def test_eoi_like_answer_comes_through_a_byte_stream_without_silence(
        case: tuple[bytes, list[bytes]]) -> None:
    answer, pieces = case
    host = answering_host(len(answer), boundaries=False)
    events: list[Event] = []
    for piece in pieces:
        assert not host.awaiting_idle  # nothing is ever held back for silence to decide
        events += host.receive_data(piece)
    assert raw_of(events) == answer
    assert events[-1] == RawComplete(len(answer))
    assert host.state is HostState.COMMAND_IDLE


@SETTINGS
@given(st.sampled_from(LENGTHS).flatmap(eoi_like_answer))
def test_eoi_like_answer_comes_through_a_message_transport(answer: bytes) -> None:
    host = answering_host(len(answer), boundaries=True)
    events = host.receive_data(answer)
    assert raw_of(events) == answer
    assert events[-1] == RawComplete(len(answer))
    assert host.state is HostState.COMMAND_IDLE


@pytest.mark.parametrize("boundaries", [True, False])
def test_sixteen_byte_answer_that_parses_as_an_eoi_is_the_answer(boundaries: bool) -> None:
    host = answering_host(16, boundaries=boundaries)
    events = host.receive_data(eoi(0, 0x19))
    assert raw_of(events) == eoi(0, 0x19) and events[-1] == RawComplete(16)


@pytest.mark.parametrize("boundaries", [True, False])
def test_next_command_after_an_eoi_like_answer(boundaries: bool) -> None:
    host = answering_host(4, boundaries=boundaries)
    assert raw_of(host.receive_data(b"\x04\0\0\0")) == b"\x04\0\0\0"
    host.execute(0x01)
    assert host.receive_data(packet(0x0E, 0x01, 4)) == [ExecuteResponse(0x01, 4)]


# ---- an END_OF_IMAGE_TX where it cannot be the answer ------------------------------------


@pytest.mark.parametrize("length", [1, 4, 8, 15])
@pytest.mark.parametrize("pieces", [[16], [1, 15], [3, 13], [12, 4]])
def test_sixteen_bytes_where_fewer_were_announced_are_a_nak_on_a_byte_stream(
        length: int, pieces: list[int]) -> None:
    if pieces[0] >= length:
        pieces = [16]  # a first read that ends the answer leaves the rest to the next packet
    host = answering_host(length, boundaries=False)
    raw = eoi(0, 0x20)
    with pytest.raises(DeviceNak) as info:
        at = 0
        for n in pieces:
            host.receive_data(raw[at : at + n])
            at += n
    assert info.value.status == 0x20
    assert host.state is HostState.FAILED


@pytest.mark.parametrize("length", [1, 4, 8, 15])
def test_sixteen_bytes_where_fewer_were_announced_are_a_nak_on_a_message_transport(
        length: int) -> None:
    host = answering_host(length, boundaries=True)
    with pytest.raises(DeviceNak) as info:
        host.receive_data(eoi(0, 0x01))
    assert info.value.status == 0x01


@pytest.mark.parametrize("length", [17, 32, 48])
def test_eoi_then_silence_where_more_was_announced_is_a_nak_on_a_byte_stream(
        length: int) -> None:
    host = answering_host(length, boundaries=False)
    events = host.receive_data(eoi(0, 0x20))
    assert raw_of(events) == eoi(0, 0x20)  # delivered at once: it may well be the answer
    with pytest.raises(DeviceNak) as info:
        host.receive_idle()  # the session asks only after the command timeout
    assert info.value.status == 0x20


@pytest.mark.parametrize("length", [20, 32, 48])
def test_partial_answer_then_silence_is_not_a_nak(length: int) -> None:
    host = answering_host(length, boundaries=False)
    host.receive_data(eoi(0, 0x20)[:12])
    assert host.receive_idle() == []  # 12 bytes and a stall: a timeout, for the session
    host.receive_data(eoi(0, 0x20)[12:] + bytes(3))
    assert host.receive_idle() == []  # 19 bytes: not an END_OF_IMAGE_TX either


@pytest.mark.parametrize("length", [17, 32, 48])
def test_eoi_as_the_whole_first_transfer_where_more_was_announced_is_a_nak(
        length: int) -> None:
    host = answering_host(length, boundaries=True)
    with pytest.raises(DeviceNak):
        host.receive_data(eoi(0, 0x20))


def test_overrun_that_is_not_an_eoi_is_a_protocol_error() -> None:
    host = answering_host(4, boundaries=False)
    with pytest.raises(ProtocolError, match="more than"):
        host.receive_data(b"\x01\x02\x03\x04\x05")


# ---- EXECUTE_DATA names the command EXECUTE_RESP accepted --------------------------------


def test_execute_data_for_another_command_is_refused() -> None:
    host = HostMachine()
    host.receive_data(HELLO_EDL)
    host.hello_resp(3)
    host.receive_data(CMD_READY)
    host.execute(0x01)
    host.receive_data(packet(0x0E, 0x01, 4))
    with pytest.raises(UnexpectedPacket, match="0x3"):
        host.execute_data(0x03)  # the device would answer END_OF_IMAGE_TX 0x20
    assert host.state is HostState.EXECUTE_READY

