"""qdlpy's production usb transport over real libusb (Debian's and libusb-package's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qdlpy.errors import AmbiguousDevice, DeviceBusy, DeviceNotFound, TransferTimeout
from qdlpy.protocols.constants import Cmd
from qdlpy.transport.usb import UsbTransport, list_usb_devices

HELLO = int(Cmd.HELLO)


def first_word(data: bytes) -> int:
    return int.from_bytes(data[:4], "little")


def test_discovery_by_interface_and_serial_from_iproduct(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    bus.plug(pipe(serial="ABCD1234", pid=0x9999, protocol=0x10, ports=(2,)))
    # A Qualcomm device without a Sahara interface protocol (a modem) is not listed.
    bus.plug(pipe(serial="MODEM", pid=0x9091, protocol=0x30, ports=(3,)))
    found = list_usb_devices(backend())
    assert [(d.vid, d.pid, d.serial, d.usb_path, d.access) for d in found] == [
        (0x05C6, 0x9999, "ABCD1234", "1-2", "ok")
    ]
    assert found[0].product == "QUSB__BULK_CID:0402_SN:ABCD1234"
    assert found[0].max_packet == 512


def test_oem_id_without_qualcomm_vid_is_found(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    p = pipe(serial="SIERRA1", protocol=0x00)
    p.vid, p.pid = 0x1199, 0x9071
    bus.plug(p)
    [dev] = list_usb_devices(backend())
    assert (dev.vid, dev.pid, dev.serial) == (0x1199, 0x9071, "SIERRA1")


def test_open_reads_hello_and_usb_path_behind_a_hub(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    plugged = bus.plug(pipe(ports=(1, 4), serial="HUBDEV"))
    assert plugged.usb_path == "1-1.4"
    with UsbTransport(usb_path="1-1.4", backend=backend()) as t:
        assert t.identity().serial == "HUBDEV"
        assert t.max_packet_size == 512
        assert first_word(t.read(4096, 2.0)) == HELLO
    counts = plugged.device.counts
    assert counts["CLAIMINTERFACE"] == 1 and counts["RELEASEINTERFACE"] == 1
    assert counts["GET_CAPABILITIES"] >= 1


def test_several_devices_need_a_selection(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    bus.plug(pipe(serial="AAAA0001", ports=(2,)))
    bus.plug(pipe(serial="BBBB0002", ports=(3,)))
    be = backend()
    with pytest.raises(AmbiguousDevice) as exc:
        UsbTransport(backend=be).open()
    assert exc.value.exit_code == 2
    assert "1-2 05c6:900e SN AAAA0001" in exc.value.message
    assert "1-3 05c6:900e SN BBBB0002" in exc.value.message
    with UsbTransport(usb_path="1-3", backend=be) as t:
        assert t.identity().serial == "BBBB0002"
    with UsbTransport(serial="aaaa0001", backend=be) as t:
        assert t.identity().usb_path == "1-2"
    with pytest.raises(DeviceNotFound) as nf:
        UsbTransport(usb_path="1-9", backend=be).open()
    assert "2 Qualcomm devices visible" in nf.value.message


def test_kernel_driver_is_detached_not_reattached(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    plugged = bus.plug(pipe(), kernel_driver="qcserial")
    with UsbTransport(backend=backend()) as t:
        assert first_word(t.read(4096, 2.0)) == HELLO
    assert plugged.device.detach_count == 1
    assert plugged.device.kernel_driver is None  # close() does not give it back
    assert plugged.device.counts["GETDRIVER"] >= 1


def test_interface_held_elsewhere_is_busy(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    bus.plug(pipe(), busy=True)
    with pytest.raises(DeviceBusy) as exc:
        UsbTransport(backend=backend()).open()
    assert exc.value.exit_code == 5


def test_second_opener_gets_busy_while_the_first_holds_it(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    bus.plug(pipe())
    be = backend()
    with UsbTransport(backend=be), pytest.raises(DeviceBusy):
        UsbTransport(backend=backend()).open()


def test_read_timeout_discards_the_urb(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    plugged = bus.plug(pipe())
    with UsbTransport(backend=backend()) as t:
        assert first_word(t.read(4096, 2.0)) == HELLO
        with pytest.raises(TransferTimeout):
            t.read(4096, 0.2)  # the device has nothing more to say
    assert plugged.device.counts["DISCARDURB"] >= 1


@pytest.mark.parametrize("mps", [512, 1024])
def test_zero_length_packets(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any], helpers: Any,
        mps: int) -> None:
    # The device answers "A" with a transfer of exactly 2 max packets (so a ZLP follows)
    # and then a short one; "B" with a single max packet.
    full, tail = bytes(range(256)) * (2 * mps // 256), b"0123456789"
    model = helpers.ScriptedModel({b"A": [full, tail], b"B": [b"x" * mps]})
    plugged = bus.plug(pipe(model, max_packet=mps))
    with UsbTransport(backend=backend()) as t:
        assert t.max_packet_size == mps
        t.write(b"A", 1.0)
        assert t.read(len(full), 1.0) == full  # the ZLP ends this read...
        assert t.read(4096, 1.0) == tail  # ...and is not mistaken for the next transfer
        t.write(b"B", 1.0)
        assert t.read(mps, 1.0) == b"x" * mps
        t.write(b"y" * mps, 1.0)  # a max-packet multiple: the transport adds an OUT ZLP
        assert t.read(4096, 1.0) == b"y" * mps
    assert plugged.pipe.in_zlps_seen == 0
    assert plugged.pipe.out_zlps == 1
    assert model.received == [b"A", b"B", b"y" * mps]


def test_vanished_device_is_disconnected_then_found_again(
        bus: Any, pipe: Callable[..., Any], backend: Callable[[], Any]) -> None:
    from qdlpy.errors import Disconnected

    plugged = bus.plug(pipe(serial="GONE0001"))
    t = UsbTransport(backend=backend())
    t.open()
    assert first_word(t.read(4096, 2.0)) == HELLO
    old_node = plugged.devnode
    bus.unplug(plugged)
    with pytest.raises(Disconnected):
        t.read(4096, 1.0)
    t.close()
    again = bus.replug(plugged)
    assert again.devnode != old_node  # a new device number, like the kernel gives
    # The Sahara session already had its HELLO: nothing is queued for the new host.
    with UsbTransport(serial="GONE0001", backend=backend()) as t2, \
            pytest.raises(TransferTimeout):
        t2.read(4096, 0.2)


def test_the_libusb_this_run_exercises(helpers: Any) -> None:
    """QDLPY_LIBUSB picks Debian's or libusb-package's library for the in-process tests."""
    import os

    from qdlpy.transport import usb_backend

    info = usb_backend.backend_info()
    if os.environ.get("QDLPY_LIBUSB") == "bundled":
        assert info.kind == "bundled" and "libusb_package" in (info.library or "")
    else:
        assert info.kind in ("system", "path")
        assert "libusb_package" not in (info.library or "")
    assert (info.version or "").startswith("1.0.")
