"""QDLDevice's udev matching: the devices ``qdlpy list`` shows, and only those.

Expectations are written out per case (vendor, product, interface triples as udev lists
them in ID_USB_INTERFACES); a second test builds the same devices on the simulated USB bus
and checks that ``qdlpy list``'s enumeration agrees with the udev rule device by device.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import pytest
from labgrid_support import FakeUdevDevice, need_labgrid, usb_device

need_labgrid()

from labgrid import Target  # noqa: E402

from qdlpy.labgrid import QDLDevice  # noqa: E402
from qdlpy.labgrid.resources import is_sahara_udev_device  # noqa: E402
from qdlpy.simulator.pyusb_backend import FakeBackend, pipes_from_spec  # noqa: E402
from qdlpy.transport.usb import list_usb_devices  # noqa: E402

CASES = [
    # (vid, pid, ID_USB_INTERFACES, matches)
    ("05c6", "9008", ":ffff10:", True),  # EDL / newer-SoC crash dump
    ("05c6", "900e", ":ffffff:", True),  # classic crash dump (QHSUSB_DLOAD)
    ("05c6", "9006", ":080650:ffff11:", True),  # memory debug beside mass storage
    ("05c6", "90db", ":ffff13:", True),
    ("05c6", "9091", ":ff0000:020600:", False),  # a Qualcomm modem: vendor class, no Sahara
    ("05c6", "9008", ":ffff42:", False),  # vendor interface, unknown protocol
    ("1199", "9071", ":ff0000:", True),  # Sierra memory debug: known OEM id, vendor class
    ("0fce", "9dde", ":ff4201:", True),  # Sony EDL
    ("18d1", "4ee7", ":ffff10:", False),  # not Qualcomm, not a known OEM id
    ("05c6", "9008", "", False),
    ("05c6", "9008", ":zzzzzz:ff:", False),  # garbage from udev is not a match
    ("05c6", "zzzz", ":ffff10:", False),
]


def _qdl_device(target: Any, **attrs: Any) -> QDLDevice:
    """labgrid's attrs classes take their fields as keywords; mypy sees only our subclass."""
    made: QDLDevice = cast(Any, QDLDevice)(target, **attrs)
    return made


@pytest.mark.parametrize("vid, pid, interfaces, matches", CASES)
def test_matching_follows_qdlpy_lists_rule(vid: str, pid: str, interfaces: str,
                                           matches: bool) -> None:
    device = usb_device("1-4.2", vid, pid, interfaces)
    assert is_sahara_udev_device(device.properties) is matches
    resource = _qdl_device(Target("board"), name=None)
    assert resource.try_match(device) is matches
    assert resource.avail is matches
    if matches:
        assert resource.path == "1-4.2"  # what --usb-path takes
        assert (resource.busnum, resource.vendor_id) == (1, int(vid, 16))


def test_an_interface_of_a_matching_device_is_not_a_second_match() -> None:
    parent = usb_device("1-2", "05c6", "9008", ":ffff10:")
    interface = FakeUdevDevice("1-2:1.0", {"DEVTYPE": "usb_interface",
                                           "ID_VENDOR_ID": "05c6", "ID_MODEL_ID": "9008",
                                           "ID_USB_INTERFACES": ":ffff10:"}, parent=parent)
    resource = _qdl_device(Target("board"), name=None)
    assert not resource.try_match(interface)
    assert resource.try_match(parent)


def test_serial_comes_from_iproduct_else_udev() -> None:
    resource = _qdl_device(Target("board"), name=None)
    resource.try_match(usb_device("3-1", "05c6", "9008", ":ffff10:",
                                  product="QUSB__BULK_CID:0402_SN:0AA94EFD",
                                  serial_short="ignored"))
    assert resource.serial == "0AA94EFD"
    other = _qdl_device(Target("other"), name=None)
    other.try_match(usb_device("3-2", "05c6", "900e", ":ffffff:",
                               product="QHSUSB__DLOAD", serial_short="1234ABCD"))
    assert other.serial == "1234ABCD"


def test_match_narrows_to_one_port_and_removal_makes_it_unavailable() -> None:
    resource = _qdl_device(Target("board"), name=None,
                         match={"ID_PATH": "pci-0000:00:14.0-usb-0:1.3"})
    assert not resource.try_match(usb_device("1-1.2", "05c6", "9008", ":ffff10:"))
    device = usb_device("1-1.3", "05c6", "9008", ":ffff10:")
    assert resource.try_match(device) and resource.avail
    assert resource.try_match(device.with_action("remove"))
    assert not resource.avail and resource.path is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resource.try_match(device.with_action("add"))  # a new crash, same port
    assert resource.avail


@pytest.mark.parametrize("usb_knobs", [
    "usb_pid=9008&usb_protocol=10", "usb_pid=900e&usb_protocol=ff",
    "usb_pid=9008&usb_protocol=42", "usb_vid=1199&usb_pid=9071&usb_protocol=00",
    "usb_vid=18d1&usb_pid=4ee7&usb_protocol=10",
])
def test_same_answer_as_qdlpy_list_for_the_same_descriptors(usb_knobs: str) -> None:
    [sim] = pipes_from_spec(f"kmemdump?{usb_knobs}")
    listed = bool(list_usb_devices(FakeBackend([sim])))
    pipe = sim.pipe
    device = usb_device("1-1.1", f"{pipe.vid:04x}", f"{pipe.pid:04x}",
                        f":ffff{pipe.interface_protocol:02x}:")
    assert is_sahara_udev_device(device.properties) is listed
