"""labgrid resources for Sahara devices (docs/lab.md#labgrid).

* ``QDLDevice``: a Qualcomm device in download mode on a local USB port, found by udev with
  the rule ``qdlpy list`` uses (qdlpy/usb_ids.py): VID 05c6 with a vendor-specific Sahara
  interface, or a known OEM VID:PID. ``path`` is the ``BUS-PORT.PORT`` name that
  ``--usb-path`` takes; ``serial`` is the ``_SN:`` token of iProduct.
* ``NetworkQDLDevice``: the same device on an exporter (what a ``QDLDevice`` export would
  publish; a stock exporter publishes ``NetworkUSBFlashableDevice`` instead, which the
  driver takes as well).
* ``QDLTCPDevice``: a Sahara byte stream relayed over TCP (``qdlpy simulate``, ser2net).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr
from labgrid.factory import target_factory
from labgrid.resource.common import NetworkResource
from labgrid.resource.remote import RemoteUSBResource
from labgrid.resource.udev import USBResource

from qdlpy.transport.usb import parse_serial
from qdlpy.usb_ids import is_sahara_interface

__all__ = ["NetworkQDLDevice", "QDLDevice", "QDLTCPDevice", "is_sahara_udev_device",
           "udev_serial"]


def _interfaces(text: str) -> list[tuple[int, int, int]]:
    """udev's ID_USB_INTERFACES (``:ffff10:080650:``) as (class, subclass, protocol)."""
    found = []
    for item in text.split(":"):
        if len(item) == 6:
            try:
                found.append((int(item[0:2], 16), int(item[2:4], 16), int(item[4:6], 16)))
            except ValueError:
                continue
    return found


def is_sahara_udev_device(properties: Mapping[str, str]) -> bool:
    """Is this udev ``usb_device`` (its properties) one ``qdlpy list`` would show?"""
    if properties.get("DEVTYPE") != "usb_device":
        return False
    try:
        vid = int(properties.get("ID_VENDOR_ID", ""), 16)
        pid = int(properties.get("ID_MODEL_ID", ""), 16)
    except ValueError:
        return False
    return any(is_sahara_interface(vid, pid, cls, sub, proto)
               for cls, sub, proto in _interfaces(properties.get("ID_USB_INTERFACES", "")))


def udev_serial(device: Any) -> str | None:
    """The ``_SN:`` token of the sysfs ``product`` string, else udev's ID_SERIAL_SHORT."""
    product = None
    attributes = getattr(device, "attributes", None)
    if attributes is not None and attributes.get("product") is not None:
        product = attributes.asstring("product")
    serial = parse_serial(product)
    return serial or device.properties.get("ID_SERIAL_SHORT") or None


@target_factory.reg_resource
@attr.s(eq=False)
class QDLDevice(USBResource):  # type: ignore[misc]
    """A local Sahara (EDL / crash dump) USB device; see the module docstring."""

    def filter_match(self, device: Any) -> bool:
        if not is_sahara_udev_device(device.properties):
            return False
        return bool(super().filter_match(device))

    @property
    def serial(self) -> str | None:
        device = self._get_usb_device()
        return udev_serial(device) if device is not None else None


@target_factory.reg_resource
@attr.s(eq=False)
class NetworkQDLDevice(RemoteUSBResource):  # type: ignore[misc]
    """A Sahara USB device on an exporter; the driver runs qdlpy there over ssh."""

    serial: str | None = attr.ib(
        default=None, validator=attr.validators.optional(attr.validators.instance_of(str)))

    def __attrs_post_init__(self) -> None:
        self.timeout = 10.0
        super().__attrs_post_init__()


@target_factory.reg_resource
@attr.s(eq=False)
class QDLTCPDevice(NetworkResource):  # type: ignore[misc]
    """A Sahara device relayed over TCP at ``host:port`` (reached through labgrid's proxy
    when the exporter is isolated)."""

    port: int = attr.ib(validator=attr.validators.instance_of(int))
