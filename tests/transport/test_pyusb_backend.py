"""The simulator's pyusb backend as pyusb itself sees it
(docs/testing.md#the-fake-pyusb-backend)."""

from __future__ import annotations

import array
import errno
from collections.abc import Callable

import pytest
import usb.core
import usb.util

from qdlpy.errors import InvalidArgument
from qdlpy.simulator.pyusb_backend import FakeBackend, split_entries


def _one(backend: FakeBackend) -> usb.core.Device:
    dev = usb.core.find(backend=backend, idVendor=0x05C6)
    assert dev is not None
    return dev


def test_pyusb_sees_a_full_descriptor_tree(fake_bus: Callable[..., FakeBackend]) -> None:
    dev = _one(fake_bus({"serial": "CAFE0001", "max_packet": 1024}))
    text = str(dev)  # pyusb's full dump walks every descriptor and string
    assert "QUSB__BULK_CID:0402_SN:CAFE0001" in text
    intf = dev.get_active_configuration()[(0, 0)]
    assert (intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol) == (
        0xFF, 0xFF, 0x10)
    ep_in = usb.util.find_descriptor(intf, bEndpointAddress=0x81)
    assert ep_in.wMaxPacketSize == 1024
    assert ep_in.extra_descriptors[1] == 0x30  # SuperSpeed endpoint companion kept
    assert (dev.bus, dev.port_numbers, dev.speed) == (1, (2,), 4)
    assert dev.product == "QUSB__BULK_CID:0402_SN:CAFE0001"


def test_timeout_is_usbtimeouterror_110(fake_bus: Callable[..., FakeBackend]) -> None:
    dev = _one(fake_bus())
    assert bytes(dev.read(0x81, 512, 50)) == b"HELLO"
    with pytest.raises(usb.core.USBTimeoutError) as info:
        dev.read(0x81, 512, 5)
    assert info.value.errno == errno.ETIMEDOUT and info.value.backend_error_code == -7


def test_read_into_array_returns_count(fake_bus: Callable[..., FakeBackend]) -> None:
    dev = _one(fake_bus())
    buf = array.array("B", bytes(1024))
    assert dev.read(0x81, buf, 50) == 5
    assert buf[:5].tobytes() == b"HELLO"


def test_unplug_gives_enodev_and_vanishes(fake_bus: Callable[..., FakeBackend]) -> None:
    backend = fake_bus()
    dev = _one(backend)
    dev.read(0x81, 512, 50)
    backend.devices[0].unplug()
    with pytest.raises(usb.core.USBError) as info:
        dev.write(0x01, b"x", 50)
    assert info.value.errno == errno.ENODEV
    assert usb.core.find(backend=backend, idVendor=0x05C6) is None
    backend.devices[0].replug()
    again = _one(backend)
    assert again.address != dev.address  # re-enumeration: a new address


def test_device_dropping_off_comes_back_by_itself(fake_bus: Callable[..., FakeBackend]) -> None:
    backend = fake_bus()
    dev = _one(backend)
    dev.write(0x01, b"DROP", 50)
    with pytest.raises(usb.core.USBError) as info:
        dev.read(0x81, 512, 50)
    assert info.value.errno == errno.ENODEV
    assert _one(backend).address != dev.address


def test_eacces_on_open(fake_bus: Callable[..., FakeBackend]) -> None:
    dev = _one(fake_bus({"deny_open": True}))
    with pytest.raises(usb.core.USBError) as info:
        dev.read(0x81, 512, 50)
    assert info.value.errno == errno.EACCES
    # pyusb's own symptom (docs/protocol.md#usb-errors)
    with pytest.raises(ValueError, match="langid"):
        _ = dev.product


def test_kernel_driver_blocks_claim_until_detached(fake_bus: Callable[..., FakeBackend]) -> None:
    backend = fake_bus({"kernel_driver_bound": True})
    dev = _one(backend)
    assert dev.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as info:
        usb.util.claim_interface(dev, 0)
    assert info.value.errno == errno.EBUSY
    dev.detach_kernel_driver(0)
    usb.util.claim_interface(dev, 0)
    assert backend.devices[0].detach_count == 1


def test_second_claimer_gets_ebusy(fake_bus: Callable[..., FakeBackend]) -> None:
    backend = fake_bus()
    first, second = _one(backend), _one(backend)
    usb.util.claim_interface(first, 0)
    with pytest.raises(usb.core.USBError) as info:
        usb.util.claim_interface(second, 0)
    assert info.value.errno == errno.EBUSY
    usb.util.dispose_resources(first)
    usb.util.claim_interface(second, 0)


def test_split_entries_keeps_commas_inside_knobs() -> None:
    assert split_entries("fulldump,legacy32?restricted=A.BIN,B.BIN,fulldump") == [
        "fulldump", "legacy32?restricted=A.BIN,B.BIN", "fulldump"]


def test_unknown_usb_knob_is_an_invalid_argument() -> None:
    from qdlpy.simulator.pyusb_backend import pipes_from_spec

    with pytest.raises(InvalidArgument, match="usb_bogus"):
        pipes_from_spec("fulldump?usb_bogus=1")


def test_spec_builds_distinct_devices_from_real_scenarios() -> None:
    from qdlpy.simulator.pyusb_backend import backend_from_spec

    backend = backend_from_spec(
        "fulldump?size=1M,fulldump?size=1M&usb_max_packet=1024&usb_pid=9008&usb_serial=XYZ")
    devs = list(usb.core.find(find_all=True, backend=backend))
    assert len(devs) == 2
    assert [d.idProduct for d in devs] == [0x900E, 0x9008]
    assert devs[1].product.endswith("_SN:XYZ")
    assert devs[0].product != devs[1].product
    assert [d.port_numbers for d in devs] == [(1, 1), (1, 2)]


def test_real_timeouts_wait_for_a_model_fed_from_another_thread(
    fake_bus: Callable[..., FakeBackend],
) -> None:
    import threading

    backend = fake_bus()
    backend.instant_timeouts = False
    dev = _one(backend)
    assert bytes(dev.read(0x81, 512, 50)) == b"HELLO"
    model = backend.devices[0].pipe.model
    feeder = threading.Timer(0.05, lambda: model.queue.append(b"LATE"))  # type: ignore[attr-defined]
    feeder.start()
    try:
        assert bytes(dev.read(0x81, 512, 10_000)) == b"LATE"
    finally:
        feeder.cancel()
