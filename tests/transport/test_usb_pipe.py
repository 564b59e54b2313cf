"""UsbPipe: packet/ZLP semantics of a bulk IN pipe (docs/protocol.md#zero-length-packets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qdlpy.errors import Disconnected
from qdlpy.simulator.usb_pipe import Babble, UsbPipe


@pytest.fixture
def attached(make_pipe: Callable[..., UsbPipe]) -> Callable[..., UsbPipe]:
    def make(**kw: Any) -> UsbPipe:
        pipe = make_pipe(**kw)
        pipe.attach()
        assert pipe.bulk_in(4096) == b"HELLO"
        return pipe

    return make


def test_hello_only_after_a_host_attaches(make_pipe: Callable[..., UsbPipe]) -> None:
    pipe = make_pipe()
    stub: Any = pipe.model  # the conftest's stub model counts connections
    assert stub.connections == 0  # enumeration alone tells the model nothing
    pipe.attach()
    assert pipe.bulk_in(64) == b"HELLO"
    assert pipe.bulk_in(64) is None  # NAK: nothing more


@pytest.mark.parametrize("mps", [512, 1024])
def test_exact_multiple_with_larger_buffer_has_no_stray_zlp(
    attached: Callable[..., UsbPipe], pattern_bytes: Callable[..., bytes], mps: int
) -> None:
    pipe = attached(max_packet=mps)
    pipe.bulk_out(b"GEN %d" % (4 * mps))
    assert pipe.bulk_in(4 * mps + mps) == pattern_bytes(4 * mps)
    assert pipe.bulk_in(4 * mps + mps) is None  # the ZLP ended the read above
    assert pipe.in_zlps_seen == 0


@pytest.mark.parametrize("mps", [512, 1024])
def test_exact_buffer_leaves_the_zlp_for_the_next_read(
    attached: Callable[..., UsbPipe], pattern_bytes: Callable[..., bytes], mps: int
) -> None:
    pipe = attached(max_packet=mps)
    pipe.bulk_out(b"GEN %d 2" % (2 * mps))
    assert pipe.bulk_in(2 * mps) == pattern_bytes(2 * mps)
    assert pipe.bulk_in(2 * mps) == b""  # the ZLP, as a naive host sees it
    assert pipe.bulk_in(2 * mps) == pattern_bytes(2 * mps, 1)
    assert pipe.in_zlps_seen == 1


def test_short_transfer_needs_no_zlp(
    attached: Callable[..., UsbPipe], pattern_bytes: Callable[..., bytes]
) -> None:
    pipe = attached()
    pipe.bulk_out(b"GEN 700 2")
    assert pipe.bulk_in(700) == pattern_bytes(700)  # buffer ends at the short packet
    assert pipe.bulk_in(1024) == pattern_bytes(700, 1)


def test_long_transfer_arrives_in_pieces(
    attached: Callable[..., UsbPipe], pattern_bytes: Callable[..., bytes]
) -> None:
    pipe = attached()
    pipe.bulk_out(b"GEN 3000")
    got = [pipe.bulk_in(1024) for _ in range(3)]
    assert [len(g or b"") for g in got] == [1024, 1024, 952]
    assert b"".join(g or b"" for g in got) == pattern_bytes(3000)


def test_transfers_never_merge_when_zlps_are_sent(attached: Callable[..., UsbPipe]) -> None:
    pipe = attached()
    pipe.bulk_out(b"GEN 512 3")
    assert [len(pipe.bulk_in(8192) or b"") for _ in range(3)] == [512, 512, 512]


def test_without_zlps_transfers_run_on(
    attached: Callable[..., UsbPipe], pattern_bytes: Callable[..., bytes]
) -> None:
    pipe = attached(send_zlp=False)
    pipe.bulk_out(b"GEN 512 3")
    got = pipe.bulk_in(8192)
    assert got == pattern_bytes(512) + pattern_bytes(512, 1) + pattern_bytes(512, 2)


def test_odd_sized_buffer_overflows(attached: Callable[..., UsbPipe]) -> None:
    pipe = attached()
    pipe.bulk_out(b"GEN 1024")
    with pytest.raises(Babble):
        pipe.bulk_in(600)  # second packet does not fit: usbfs says EOVERFLOW


def test_out_zlps_are_counted_not_forwarded(attached: Callable[..., UsbPipe]) -> None:
    pipe = attached()
    pipe.bulk_out(b"")
    assert pipe.out_zlps == 1
    assert pipe.model.writes == []  # type: ignore[attr-defined]


def test_unplug_loses_the_fifo_and_fails(attached: Callable[..., UsbPipe]) -> None:
    pipe = attached()
    pipe.bulk_out(b"GEN 10")
    pipe.unplug()
    with pytest.raises(Disconnected):
        pipe.bulk_in(64)
    with pytest.raises(Disconnected):
        pipe.bulk_out(b"x")
    gen = pipe.generation
    pipe.plug()
    pipe.attach()
    assert pipe.generation == gen + 1
    assert pipe.bulk_in(64) is None  # queued data was lost with the cable


def test_model_dropping_off_is_unplugged_until_replugged(
    attached: Callable[..., UsbPipe],
) -> None:
    pipe = attached()
    pipe.bulk_out(b"DROP")
    assert pipe.unplugged
    pipe.plug()  # re-enumeration
    assert not pipe.unplugged
    pipe.attach()
    assert not pipe.model.unplugged


@pytest.mark.parametrize("mps", [512, 1024])
def test_descriptors(make_pipe: Callable[..., UsbPipe], mps: int) -> None:
    pipe = make_pipe(max_packet=mps, pid=0x9008, interface_protocol=0x11, serial="AB12")
    dev = pipe.device_descriptor()
    assert len(dev) == 18 and dev[1] == 1
    assert int.from_bytes(dev[8:10], "little") == 0x05C6
    assert int.from_bytes(dev[10:12], "little") == 0x9008
    cfg = pipe.config_descriptor()
    assert int.from_bytes(cfg[2:4], "little") == len(cfg)
    intf = cfg[9:18]
    assert (intf[1], intf[4], intf[5], intf[6], intf[7]) == (4, 2, 0xFF, 0xFF, 0x11)
    eps = [cfg[i : i + 7] for i in range(len(cfg)) if cfg[i : i + 2] == bytes([7, 5])]
    assert sorted(e[2] for e in eps) == [0x01, 0x81]
    assert {int.from_bytes(e[4:6], "little") for e in eps} == {mps}


def test_string_descriptors(make_pipe: Callable[..., UsbPipe]) -> None:
    pipe = make_pipe(serial="0AA94EFD")
    assert pipe.string_descriptor(0) == bytes([4, 3, 0x09, 0x04])
    raw = pipe.string_descriptor(2)
    assert raw[0] == len(raw) and raw[1] == 3
    assert raw[2:].decode("utf-16-le") == "QUSB__BULK_CID:0402_SN:0AA94EFD"
    assert pipe.string_descriptor(3) == b""  # no iSerialNumber by default
