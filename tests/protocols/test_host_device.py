"""HostMachine and DeviceMachine wired together in memory (no transport, no simulator).

A tiny loop carries the host's packets to ``DeviceMachine.receive`` and the device's
transfers to ``HostMachine.receive_data``. On the byte-stream variant the device's output is
glued together and re-cut into arbitrary reads, and silence is reported with
``receive_idle()`` when the host asks for it, as a tcp/serial session would.
"""

# mypy: disable-error-code="comparison-overlap"
# (mypy keeps `assert m.state is X` narrowed across the calls that change the state.)

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.device import DeviceMachine, DeviceState, Personality
from qdlpy.protocols.errors import DeviceNak, ProtocolError
from qdlpy.protocols.host import (
    CommandReady,
    Event,
    ExecuteResponse,
    HelloReceived,
    HostMachine,
    HostState,
    RawComplete,
    RawData,
    ResetDone,
    TableOffered,
    plan_reads,
)
from qdlpy.protocols.packets import HelloResp, build_packet
from qdlpy.protocols.table import Region, build_table, parse_table

Factory = Callable[..., Personality]
SETTINGS = settings(deadline=None, max_examples=30)
EOI_PREFIX = struct.pack("<II", 0x04, 0x10)
EOI_19 = struct.pack("<4I", 0x04, 0x10, 0, 0x19)


class Link:
    """Host <-> device in memory. ``cuts`` re-chunks device output on a byte stream."""

    def __init__(
        self, p: Personality, *, stream: bool = False, cuts: list[int] | None = None
    ) -> None:
        self.host = HostMachine(message_boundaries=not stream)
        self.dev = DeviceMachine(p)
        self.stream = stream
        self.cuts = deque(cuts or [])
        self.inbox: deque[bytes] = deque()
        self.lost = 0

    def power_on(self, *, lose_hello: bool = False) -> None:
        out = self.dev.start()
        if lose_hello:
            self.lost += len(out)  # another program (ModemManager, a dead qdl) ate the HELLO
        else:
            self.inbox.extend(out)

    def send(self, data: bytes) -> None:
        self.inbox.extend(self.dev.receive(data))

    def pump(self) -> list[Event]:
        """Deliver everything the device sent; then silence."""
        events: list[Event] = []
        if self.stream and self.inbox:
            blob = b"".join(self.inbox)
            self.inbox.clear()
            pos = 0
            while pos < len(blob):
                n = self.cuts[0] if self.cuts else len(blob)
                self.cuts.rotate(-1)
                events += self.host.receive_data(blob[pos : pos + n])
                pos += n
            if self.host.awaiting_idle:
                events += self.host.receive_idle()
            return events
        while self.inbox:
            events += self.host.receive_data(self.inbox.popleft())
        return events

    # -- host-side helpers a session would have --

    def handshake(self, mode: int | None = None) -> list[Event]:
        events = self.pump()
        assert any(isinstance(e, HelloReceived) for e in events), events
        self.send(self.host.hello_resp(mode))
        return self.pump()

    def read(self, address: int, length: int) -> bytes:
        self.send(self.host.memory_read(address, length))
        events = self.pump()
        assert events and events[-1] == RawComplete(length), events
        return b"".join(bytes(e.data) for e in events if isinstance(e, RawData))

    def read_table(self) -> list[Region]:
        offer = self.handshake()
        assert len(offer) == 1 and isinstance(offer[0], TableOffered), offer
        raw = self.read(offer[0].address, offer[0].length)
        regions = parse_table(raw, is64=offer[0].is64)
        self.host.set_table([(r.base, r.length) for r in regions])
        return list(regions)

    def dump(self, regions: list[Region], chunk: int) -> dict[str, bytes]:
        out = {}
        for r in regions:
            out[r.filename] = b"".join(
                self.read(a, n) for a, n in plan_reads(r.base, r.length, chunk)
            )
        return out

    def reset(self) -> None:
        self.send(self.host.reset())
        assert self.pump() == [ResetDone()]
        assert self.host.state is HostState.CLOSED
        assert self.dev.rebooted


def expected_dump(p: Personality, regions: list[Region]) -> dict[str, bytes]:
    assert p.memory is not None
    return {r.filename: p.memory.read(r.base, r.length) for r in regions}


def test_pattern_never_starts_like_an_eoi(
    dump_personality: Factory, dump_regions: list[Region]
) -> None:
    # Guard for the tests below: region data that began like an EOI would be (correctly)
    # held on byte streams, and the stream variants would test something else.
    p = dump_personality()
    assert p.memory is not None
    for r in dump_regions:
        for a, n in plan_reads(r.base, r.length, 0x1000):
            assert p.memory.read(a, min(n, 8)) != EOI_PREFIX[: min(n, 8)]


@pytest.mark.parametrize("is64", [True, False])
@pytest.mark.parametrize("chunk", [0x1000, 0x1C, 0x10, 0x8_0000])
def test_full_memory_debug_session(
    dump_personality: Factory, dump_regions: list[Region], is64: bool, chunk: int
) -> None:
    p = dump_personality(is64=is64)
    link = Link(p)
    link.power_on()
    regions = link.read_table()
    assert [(r.base, r.length, r.filename) for r in regions] == [
        (r.base, r.length, r.filename) for r in dump_regions
    ]
    assert link.host.is64 is is64
    assert link.dump(regions, chunk) == expected_dump(p, regions)
    link.reset()


@pytest.mark.parametrize("cuts", [[1], [7], [16], [4096], [3, 500, 16, 1]])
def test_full_memory_debug_session_over_a_byte_stream(
    dump_personality: Factory, cuts: list[int]
) -> None:
    p = dump_personality()
    link = Link(p, stream=True, cuts=cuts)
    link.power_on()
    regions = link.read_table()
    assert link.dump(regions, 0x1000) == expected_dump(p, regions)
    link.reset()


@SETTINGS
@given(
    st.lists(st.integers(1, 5000), min_size=1, max_size=6), st.sampled_from([0x11, 0x400, 0x2000])
)
def test_byte_stream_any_read_sizes(dump_personality: Factory, cuts: list[int], chunk: int) -> None:
    p = dump_personality()
    link = Link(p, stream=True, cuts=cuts)
    link.power_on()
    regions = link.read_table()
    assert link.dump(regions, chunk) == expected_dump(p, regions)


def test_restricted_region_arrives_in_4k_pieces(dump_personality: Factory) -> None:
    p = dump_personality()
    link = Link(p)
    link.power_on()
    link.read_table()
    start, end = p.restricted[0]
    link.send(link.host.memory_read(start, end - start))
    assert [len(x) for x in link.inbox] == [4096] * ((end - start) // 4096)
    events = link.pump()
    assert events[-1] == RawComplete(end - start)


def test_bad_read_ends_the_session_but_reset_still_works(dump_personality: Factory) -> None:
    p = dump_personality()
    link = Link(p)
    link.power_on()
    regions = link.read_table()
    # The host refuses the out-of-table read itself
    # (docs/protocol.md#every-read-stays-inside-the-table) ...
    with pytest.raises(ProtocolError):
        link.host.memory_read(regions[0].end, 0x100)
    assert link.dev.state is DeviceState.WAIT_MEMORY_READ
    # ... so force one past it to see the device's side: EOI 0x19, then only RESET.
    link.host.set_table([(regions[0].base, regions[0].length + 0x100)])
    link.send(link.host.memory_read(regions[0].end - 0x10, 0x100))
    with pytest.raises(DeviceNak) as info:
        link.pump()
    assert info.value.status == 0x19
    assert link.dev.state is DeviceState.WAIT_RESET
    link.reset()


@pytest.mark.parametrize("stream", [False, True])
def test_lost_hello_recovered_from_wait_hello_resp(dump_personality: Factory, stream: bool) -> None:
    p = dump_personality()
    link = Link(p, stream=stream)
    link.power_on(lose_hello=True)
    assert link.pump() == []  # nothing arrives: the host times out
    # the one safe probe (docs/protocol.md#re-provoking-a-lost-hello)
    link.send(link.host.reprovoke_hello(2))
    regions = link.read_table()
    assert link.dump(regions, 0x800) == expected_dump(p, regions)
    assert link.lost == 1


def test_lost_hello_recovered_from_wait_memory_read(dump_personality: Factory) -> None:
    # An earlier host run answered HELLO and got the table offer, then died. A new run
    # sees nothing: the device sits in WAIT_MEMORY_READ.
    p = dump_personality()
    earlier = Link(p)
    earlier.power_on()
    earlier.read_table()
    earlier.read(p.readable[0][0], 0x100)
    dev = earlier.dev
    assert dev.state is DeviceState.WAIT_MEMORY_READ

    link = Link(p)
    link.dev = dev  # same device, new host
    assert link.pump() == []
    link.send(link.host.reprovoke_hello(2))
    regions = link.read_table()
    assert link.dump(regions, 0x1000) == expected_dump(p, regions)
    assert not dev.rebooted
    link.reset()


def test_speculative_hello_resp_would_cost_the_dump(dump_personality: Factory) -> None:
    # Why reprovoke_hello is a SWITCH_MODE (docs/protocol.md#re-provoking-a-lost-hello): a
    # HELLO_RESP in WAIT_MEMORY_READ sends the device to WAIT_RESET.
    p = dump_personality()
    earlier = Link(p)
    earlier.power_on()
    earlier.read_table()
    out = earlier.dev.receive(build_packet(HelloResp(mode=2)))
    assert earlier.dev.state is DeviceState.WAIT_RESET
    assert out and struct.unpack_from("<4I", out[0]) == (0x04, 0x10, 0, 0x01)


def test_command_mode_then_switch_mode_zero(dump_personality: Factory) -> None:
    p = dump_personality()
    link = Link(p)
    link.power_on()
    assert link.handshake(3) == [CommandReady()]
    for cmd, payload in p.command_responses.items():
        link.send(link.host.execute(cmd))
        (resp,) = link.pump()
        assert resp == ExecuteResponse(cmd, len(payload))
        link.send(link.host.execute_data(cmd))
        events = link.pump()
        assert b"".join(bytes(e.data) for e in events if isinstance(e, RawData)) == payload
        assert events[-1] == RawComplete(len(payload))
    link.send(link.host.switch_mode(0))
    (ev,) = link.pump()
    assert isinstance(ev, HelloReceived) and ev.mode == 0
    assert link.dev.state is DeviceState.WAIT_HELLO_RESP and not link.dev.rebooted


def test_command_mode_then_back_to_memory_debug(dump_personality: Factory) -> None:
    p = dump_personality()
    link = Link(p)
    link.power_on()
    link.handshake(3)
    link.send(link.host.switch_mode(2))
    regions = link.read_table()
    assert link.dump(regions[:1], 0x1000) == expected_dump(p, regions[:1])


def test_unsupported_command_is_a_nak(dump_personality: Factory) -> None:
    p = dump_personality()
    link = Link(p)
    link.power_on()
    link.handshake(3)
    link.send(link.host.execute(0x02))
    with pytest.raises(DeviceNak) as info:
        link.pump()
    assert info.value.status == 0x1F


def test_edl_device_refuses_memory_debug(dump_personality: Factory) -> None:
    p = dump_personality(mode=0, memory_debug_supported=False)
    link = Link(p)
    link.power_on()
    (hello,) = link.pump()
    assert isinstance(hello, HelloReceived) and hello.mode == 0
    link.send(link.host.hello_resp(2))  # edl's forced mode 2 (docs/protocol.md#modes)
    with pytest.raises(DeviceNak) as info:
        link.pump()
    assert info.value.status == 0x1B
    assert "memory debug" in str(info.value)


class EoiLookingMemory:
    """Memory in which every 0x1000-aligned block starts with the bytes of EOI(0x19)."""

    def read(self, address: int, length: int) -> bytes:
        out = bytearray()
        for a in range(address, address + length):
            off = a % 0x1000
            out.append(EOI_19[off] if off < 16 else (a * 13) & 0xFF)
        return bytes(out)


@pytest.mark.parametrize(
    ("stream", "cuts"), [(False, None), (True, [16]), (True, [1]), (True, [5, 11, 3000])]
)
def test_memory_that_looks_like_eoi_is_still_data(
    dump_personality: Factory, stream: bool, cuts: list[int] | None
) -> None:
    # Every read starts on a 4 KiB boundary, so every answer begins with EOI-looking bytes:
    # on messages the first transfer is longer than 16 bytes, on streams more bytes follow.
    regions = [
        Region(0, 0x9000_0000, 0x3000, 1, "md_Kpattern1", "md_Kpattern1.BIN"),
        Region(1, 0x9100_0000, 0x1011, 1, "md_Kpattern2", "md_Kpattern2.BIN"),
    ]
    p = dump_personality(
        table=build_table(regions, is64=True),
        readable=[(r.base, r.end) for r in regions],
        restricted=[],
        memory=EoiLookingMemory(),
    )
    link = Link(p, stream=stream, cuts=cuts)
    link.power_on()
    got_regions = link.read_table()
    assert link.dump(got_regions, 0x1000) == expected_dump(p, got_regions)
    assert all(v.startswith(EOI_19) for v in expected_dump(p, got_regions).values())
    link.reset()
