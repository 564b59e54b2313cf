"""Hot-plug for ``qdlpy watch``: poll the USB bus for Sahara devices (no udev needed).

The same enumeration as ``qdlpy list`` (qdlpy.transport.usb.list_usb_devices, matching by
interface per qdlpy/usb_ids.py), done only when the sysfs fingerprint of the bus changed or
every few seconds, so an idle watch costs one directory listing per poll.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

from qdlpy.transport import usb_backend
from qdlpy.transport.usb import UsbDeviceInfo, list_usb_devices

from .events import DeviceRef
from .folders import folder_key
from .options import USB_RESCAN_S

log = logging.getLogger("qdlpy.watch")


class UsbScanner:
    """Which matching Sahara USB devices are on the bus now, keyed by their folder name."""

    def __init__(self, serials: frozenset[str], paths: frozenset[str], backend: Any) -> None:
        self.serials, self.paths = serials, paths
        self.backend = backend
        self._signature: frozenset[str] | None = None
        self._last_scan = -1e9
        self._last: dict[str, tuple[DeviceRef, UsbDeviceInfo]] = {}
        self._context: Any = None

    def _wanted(self, info: UsbDeviceInfo) -> bool:
        if not self.serials and not self.paths:
            return True
        serial = (info.serial or "").lower()
        return serial in self.serials or (info.usb_path or "") in self.paths

    def _due(self, now: float) -> bool:
        """Worth enumerating now: the bus changed, a rescan is due, or no cheap check exists."""
        backend = self.backend or usb_backend.get_backend()
        if not usb_backend.is_libusb(backend):
            return True  # a simulated bus: enumeration is exact and cheap
        signature = usb_backend.bus_signature()
        changed = signature is None or signature != self._signature
        self._signature = signature
        return changed or now - self._last_scan >= USB_RESCAN_S

    def scan(self) -> dict[str, tuple[DeviceRef, UsbDeviceInfo]]:
        """The wanted devices visible now (the previous answer when nothing changed)."""
        now = time.monotonic()
        if not self._due(now):
            return self._last
        self._last_scan = now
        # One libusb context per bus change (a stale one would miss re-enumerated boards).
        self._context = usb_backend.current_context(
            self._context or self.backend or usb_backend.get_backend())
        found = [i for i in list_usb_devices(self._context) if self._wanted(i)]
        serials = collections.Counter(i.serial for i in found if i.serial)
        devices: dict[str, tuple[DeviceRef, UsbDeviceInfo]] = {}
        for info in found:
            unique = info.serial is not None and serials[info.serial] == 1
            name = info.serial if unique else info.usb_path
            if name is None:
                log.debug("skipping a USB device without serial or path: %s", info.describe())
                continue
            key = folder_key(name)
            ref = DeviceRef(key=key, transport="usb", serial=info.serial,
                            usb_path=info.usb_path)
            devices[key] = (ref, info)
        self._last = devices
        return devices
