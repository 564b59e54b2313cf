"""UsbTransport over the simulator's pyusb backend: discovery, selection, claiming,
ZLPs, error mapping (docs/protocol.md#zero-length-packets,
docs/protocol.md#usb-devices-and-interfaces, docs/protocol.md#choosing-the-libusb-backend,
docs/design.md#waiting-for-a-device)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest
import usb.core

from qdlpy.errors import (
    AmbiguousDevice,
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    PermissionDenied,
    QdlpyError,
    TransferTimeout,
    TransportError,
)
from qdlpy.simulator.pyusb_backend import FakeBackend, plug_from_environment
from qdlpy.transport.usb import (
    UsbTransport,
    list_usb_devices,
    parse_serial,
    parse_vid_pids,
    usb_errors,
)

Bus = Callable[..., FakeBackend]


def opened(backend: FakeBackend, **kw: Any) -> UsbTransport:
    t = UsbTransport(backend=backend, **kw)
    t.open()
    assert t.read(4096, 0.5) == b"HELLO"
    return t


# -- discovery ---------------------------------------------------------------------------


def test_discovery_is_by_interface_not_pid(fake_bus: Bus) -> None:
    backend = fake_bus(
        {"pid": 0x900E, "interface_protocol": 0x10, "serial": "CRASH"},
        {"pid": 0x9091, "interface_protocol": 0x30, "serial": "DIAG"},  # ff/ff/30: not Sahara
        {"vid": 0x1234, "pid": 0x5678, "interface_protocol": 0xFF, "serial": "OTHER"},
        {"vid": 0x1199, "pid": 0x9071, "interface_protocol": 0x00, "serial": "SIERRA"},
        {"pid": 0xBEEF, "interface_protocol": 0x13, "serial": "NEWPID"},  # unknown PID, ok
        {"pid": 0x9008, "interface_protocol": 0xFF, "serial": "EDL"},
        {"pid": 0x9008, "interface_protocol": 0x11, "serial": "EDL11"},
    )
    found = {d.serial: d for d in list_usb_devices(backend)}
    assert set(found) == {"CRASH", "SIERRA", "NEWPID", "EDL", "EDL11"}
    crash = found["CRASH"]
    assert (crash.vid, crash.pid, crash.usb_path, crash.interface_protocol) == (
        0x05C6, 0x900E, "1-2", 0x10)
    assert crash.access == "ok" and crash.max_packet == 512
    assert crash.to_dict()["vid"] == "05c6"


def test_extra_ids_add_oem_devices(fake_bus: Bus) -> None:
    backend = fake_bus({"vid": 0x1234, "pid": 0x5678, "serial": "OEM"})
    assert list_usb_devices(backend) == []
    assert [d.serial for d in list_usb_devices(backend, extra_ids=[(0x1234, 0x5678)])] == ["OEM"]


def test_listing_does_no_protocol_traffic(fake_bus: Bus) -> None:
    backend = fake_bus()
    list_usb_devices(backend)
    model = backend.devices[0].pipe.model
    assert model.connections == 0 and model.writes == []  # type: ignore[attr-defined]
    opened(backend).close()  # the HELLO is still there for the real opener


def test_permission_problem_is_shown_not_raised(fake_bus: Bus) -> None:
    backend = fake_bus({"serial": "OK1"}, {"serial": "NOPE", "deny_open": True})
    listing = {d.usb_path: d for d in list_usb_devices(backend)}
    assert listing["1-2"].access == "ok"
    assert listing["1-3"].access == "denied" and listing["1-3"].serial is None
    assert "access denied" in listing["1-3"].describe()


@pytest.mark.parametrize(
    ("product", "serial"),
    [
        ("QUSB__BULK_CID:0402_SN:0AA94EFD", "0AA94EFD"),
        ("QUSB__BULK_SN:ABCD1234_X", "ABCD1234"),
        ("QHSUSB__BULK", None),
        (None, None),
        ("QUSB__BULK_SN:", None),
    ],
)
def test_parse_serial(product: str | None, serial: str | None) -> None:
    assert parse_serial(product) == serial


def test_parse_vid_pids() -> None:
    assert parse_vid_pids("1234:5678, 05c6:9008") == [(0x1234, 0x5678), (0x05C6, 0x9008)]
    with pytest.raises(QdlpyError):
        parse_vid_pids("1234")


# -- selection ---------------------------------------------------------------------------


def test_select_by_serial_case_insensitive(fake_bus: Bus) -> None:
    backend = fake_bus({"serial": "AAAA"}, {"serial": "BBBB"})
    t = opened(backend, serial="bbbb")
    assert t.identity().serial == "BBBB" and t.identity().usb_path == "1-3"
    t.close()


def test_select_by_usb_path(fake_bus: Bus) -> None:
    backend = fake_bus({"serial": "AAAA"}, {"serial": "BBBB", "port_numbers": (4, 1)})
    t = opened(backend, usb_path="1-4.1")
    assert t.identity().serial == "BBBB"
    t.close()


def test_no_match_says_what_is_seen(fake_bus: Bus) -> None:
    backend = fake_bus({"serial": "AAAA"}, {"serial": "BBBB"})
    with pytest.raises(DeviceNotFound) as info:
        UsbTransport(serial="CCCC", backend=backend).open()
    msg = str(info.value)
    assert msg.startswith("2 Qualcomm devices visible, none matches serial CCCC")
    assert "SN AAAA" in msg and "SN BBBB" in msg
    assert info.value.exit_code == 3


def test_nothing_visible(fake_bus: Bus) -> None:
    backend = fake_bus({"vid": 0x1234, "pid": 0x1})
    with pytest.raises(DeviceNotFound, match="no Qualcomm Sahara USB device visible"):
        UsbTransport(backend=backend).open()


def test_ambiguous_lists_candidates(fake_bus: Bus) -> None:
    backend = fake_bus({"serial": "AAAA"}, {"serial": "BBBB"})
    with pytest.raises(AmbiguousDevice) as info:
        UsbTransport(backend=backend).open()
    assert info.value.exit_code == 2
    assert "1-2 05c6:900e SN AAAA" in str(info.value)
    assert "1-3 05c6:900e SN BBBB" in str(info.value)
    # Nothing was claimed by the failed open.
    assert all(not d.claims for d in backend.devices)


def test_serial_wanted_but_only_unreadable_devices(fake_bus: Bus) -> None:
    backend = fake_bus({"serial": "AAAA", "deny_open": True})
    with pytest.raises(PermissionDenied, match="could not be read"):
        UsbTransport(serial="AAAA", backend=backend).open()


# -- claiming ----------------------------------------------------------------------------


def test_eacces_is_permission_denied_with_udev_hint(fake_bus: Bus) -> None:
    backend = fake_bus({"deny_open": True})
    with pytest.raises(PermissionDenied) as info:
        UsbTransport(backend=backend).open()
    assert info.value.exit_code == 4
    assert "udev install" in info.value.hint


def test_ebusy_is_device_busy(fake_bus: Bus) -> None:
    backend = fake_bus({"busy_on_claim": True})
    with pytest.raises(DeviceBusy) as info:
        UsbTransport(backend=backend).open()
    assert info.value.exit_code == 5


def test_second_program_gets_device_busy_until_first_closes(fake_bus: Bus) -> None:
    backend = fake_bus()
    first = opened(backend)
    with pytest.raises(DeviceBusy):
        UsbTransport(backend=backend).open()
    first.close()
    second = UsbTransport(backend=backend)
    second.open()
    second.close()


def test_kernel_driver_detached_and_never_reattached(fake_bus: Bus) -> None:
    backend = fake_bus({"kernel_driver_bound": True})
    t = opened(backend)
    sim = backend.devices[0]
    assert sim.detach_count == 1
    t.close()
    assert not sim.kernel_driver_bound  # close() released, did not re-attach
    assert not sim.claims


def test_open_does_not_set_configuration_when_configured(
    fake_bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = fake_bus()

    def boom(*_: object) -> None:
        raise AssertionError("set_configuration is a soft reset on a configured device")

    monkeypatch.setattr(backend, "set_configuration", boom)
    opened(backend).close()


def test_close_is_idempotent_and_quiet_after_unplug(fake_bus: Bus) -> None:
    backend = fake_bus()
    t = opened(backend)
    backend.devices[0].unplug()
    t.close()
    t.close()


def test_reopen_after_close(fake_bus: Bus) -> None:
    backend = fake_bus()
    t = opened(backend)
    t.close()
    t.open()
    t.write(b"ping", 0.5)
    assert t.read(64, 0.5) == b"ping"
    t.close()


# -- I/O ---------------------------------------------------------------------------------


def test_timeout_is_transfer_timeout(fake_bus: Bus) -> None:
    t = opened(fake_bus())
    with pytest.raises(TransferTimeout) as info:
        t.read(512, 0.02)
    assert isinstance(info.value, TimeoutError) and info.value.exit_code == 7
    t.close()


@pytest.mark.parametrize("mps", [512, 1024])
def test_exact_multiple_transfer_reads_clean(
    fake_bus: Bus, pattern_bytes: Callable[..., bytes], mps: int
) -> None:
    backend = fake_bus({"max_packet": mps})
    t = opened(backend)
    assert t.max_packet_size == mps
    t.write(b"GEN %d 2" % (8 * mps), 0.5)
    assert t.read(8 * mps, 0.5) == pattern_bytes(8 * mps)
    assert t.read(8 * mps, 0.5) == pattern_bytes(8 * mps, 1)  # not b"": the ZLP was eaten
    with pytest.raises(TransferTimeout):
        t.read(8 * mps, 0.02)
    assert backend.devices[0].pipe.in_zlps_seen == 0
    t.close()


@pytest.mark.parametrize("mps", [512, 1024])
def test_transfer_longer_than_buffer_comes_in_pieces(
    fake_bus: Bus, pattern_bytes: Callable[..., bytes], mps: int
) -> None:
    backend = fake_bus({"max_packet": mps})
    t = opened(backend)
    t.write(b"GEN %d 2" % (3 * mps), 0.5)
    got = bytearray()
    while len(got) < 3 * mps:
        piece = t.read(100, 0.5)
        assert 0 < len(piece) <= 100
        got += piece
    assert got == pattern_bytes(3 * mps)
    assert t.read(3 * mps, 0.5) == pattern_bytes(3 * mps, 1)  # no b"" in between
    t.close()


def test_device_without_zlps(fake_bus: Bus, pattern_bytes: Callable[..., bytes]) -> None:
    backend = fake_bus({"send_zlp": False})
    t = opened(backend)
    t.write(b"GEN 512 2", 0.5)
    # Without a ZLP the two transfers run into one host read; nothing is lost or reordered.
    assert t.read(512, 0.5) + t.read(512, 0.5) == pattern_bytes(512) + pattern_bytes(512, 1)
    t.close()


def test_readinto_hot_path(fake_bus: Bus, pattern_bytes: Callable[..., bytes]) -> None:
    t = opened(fake_bus())
    t.write(b"GEN 4096 2", 0.5)
    buf = bytearray(8192)
    view = memoryview(buf)
    n = t.readinto(view, 0.5)
    m = t.readinto(view[n:], 0.5)
    assert buf[: n + m] == pattern_bytes(4096) + pattern_bytes(4096, 1)
    t.close()


@pytest.mark.parametrize(("mps", "length", "zlps"), [
    (512, 512, 1), (512, 1024, 1), (512, 48, 0), (1024, 512, 0), (1024, 2048, 1),
])
def test_out_zlp_after_max_packet_multiples(fake_bus: Bus, mps: int, length: int,
                                            zlps: int) -> None:
    backend = fake_bus({"max_packet": mps})
    t = opened(backend)
    t.write(b"x" * length, 0.5)
    assert backend.devices[0].pipe.out_zlps == zlps
    t.close()


def test_out_zlp_can_be_turned_off(fake_bus: Bus) -> None:
    backend = fake_bus()
    t = UsbTransport(backend=backend, out_zlp=False)
    t.open()
    t.write(b"x" * 512, 0.5)
    assert backend.devices[0].pipe.out_zlps == 0
    t.close()


def test_unplug_is_disconnected(fake_bus: Bus) -> None:
    backend = fake_bus()
    t = opened(backend)
    backend.devices[0].unplug()
    with pytest.raises(Disconnected) as info:
        t.read(512, 0.2)
    assert info.value.exit_code == 7
    with pytest.raises(Disconnected):
        t.write(b"x", 0.2)
    t.close()


def test_reconnect_after_the_device_reenumerates(fake_bus: Bus) -> None:
    backend = fake_bus()
    t = opened(backend)
    t.write(b"DROP", 0.5)  # the device falls off the bus by itself (RESET-like)
    with pytest.raises(Disconnected):
        t.read(512, 0.2)
    t.close()
    t.open()  # found again, at a new address
    t.write(b"ping", 0.5)
    assert t.read(64, 0.5) == b"ping"
    t.close()


def test_transport_over_the_real_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDLPY_USB_SIM", "fulldump?size=1M&max_packet=1024")
    assert plug_from_environment()
    t = UsbTransport()
    t.open()
    hello = t.read(4096, 1.0)
    assert int.from_bytes(hello[0:4], "little") == 1  # HELLO
    assert int.from_bytes(hello[4:8], "little") == len(hello) == 0x30
    assert t.max_packet_size == 1024
    t.close()


# -- error mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (errno.EACCES, PermissionDenied),
        (errno.EPERM, PermissionDenied),
        (errno.EBUSY, DeviceBusy),
        (errno.ENODEV, Disconnected),
        (errno.ETIMEDOUT, TransferTimeout),
        (errno.EPIPE, TransportError),
        (errno.EIO, TransportError),
        (errno.EOVERFLOW, TransportError),
        (None, TransportError),
    ],
)
def test_usb_errors_mapping(err: int | None, expected: type[QdlpyError]) -> None:
    with pytest.raises(expected) as info, usb_errors("op"):
        raise usb.core.USBError("boom", -99, err)
    assert not isinstance(info.value, Disconnected) or expected is Disconnected


@pytest.mark.parametrize("err", [errno.EPIPE, errno.EIO])
def test_stall_after_unplug_is_disconnected(err: int) -> None:
    with pytest.raises(Disconnected), usb_errors("op", gone=lambda: True):
        raise usb.core.USBError("boom", -9, err)
    with pytest.raises(TransportError) as info, usb_errors("op", gone=lambda: False):
        raise usb.core.USBError("boom", -9, err)
    assert not isinstance(info.value, Disconnected)


def test_usb_errors_timeout_and_langid() -> None:
    with pytest.raises(TransferTimeout), usb_errors("op"):
        raise usb.core.USBTimeoutError("t", -7, errno.ETIMEDOUT)
    with pytest.raises(PermissionDenied), usb_errors("op"):
        raise ValueError("The device has no langid (permission issue, ...)")


_FAULTS = [errno.EACCES, errno.EBUSY, errno.ENODEV, errno.EPIPE, errno.EIO, errno.EOVERFLOW,
           errno.EINVAL, None]


@pytest.mark.parametrize("err", _FAULTS)
@pytest.mark.parametrize("method", ["bulk_read", "bulk_write", "claim_interface",
                                    "open_device", "ctrl_transfer", "get_configuration"])
def test_no_usberror_escapes(fake_bus: Bus, monkeypatch: pytest.MonkeyPatch,
                             method: str, err: int | None) -> None:
    backend = fake_bus()

    def fail(*_: object) -> None:
        raise usb.core.USBError("injected", -1, err)

    monkeypatch.setattr(backend, method, fail)
    t = UsbTransport(backend=backend)
    for op in (t.open, lambda: t.write(b"ping", 0.2), lambda: t.read(64, 0.2),
               lambda: list_usb_devices(backend)):
        try:
            op()
        except QdlpyError:
            pass
        except usb.core.USBError as exc:  # the bug this test exists for
            pytest.fail(f"raw USBError escaped from {method}: {exc!r}")
    t.close()
