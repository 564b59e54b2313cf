"""A fake USB bus in a umockdev testbed: sysfs records + /dev nodes + usbdevfs handlers.

libusb enumerates from sysfs (``descriptors``, ``busnum``, ``devnum``, ``speed``,
``bConfigurationValue``; docs/testing.md#how-the-umockdev-tier-works) and opens
``/dev/bus/usb/BBB/DDD``, whose ioctls go to a :class:`usbdevfs_handler.UsbdevfsHandler`. Devices
sit under a root hub (``usb1``) and, for multi-level port paths such as ``1-1.2``, under a hub
``1-1``, so libusb's ``port_numbers`` (and thus qdlpy's ``--usb-path``) come out as on real
hardware. Device numbers are never reused, like the kernel's, so a re-enumerated device gets a new
node.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402
from usbdevfs_handler import EmulatedDevice, UsbdevfsHandler  # noqa: E402

from qdlpy.simulator.usb_pipe import UsbPipe  # noqa: E402

_PCI = "/devices/pci0000:00/0000:00:14.0"


@dataclasses.dataclass
class Plugged:
    """A device currently on the fake bus."""

    device: EmulatedDevice
    handler: UsbdevfsHandler
    usb_path: str  # "1-2", "1-1.3"
    syspath: str  # /sys/devices/...
    devnode: str  # /dev/bus/usb/001/005
    busnum: int
    devnum: int

    @property
    def pipe(self) -> UsbPipe:
        return self.device.pipe


def _hub_descriptors(superspeed: bool = False) -> bytes:
    dev = struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0200, 9, 0, 1, 64, 0x1D6B, 2, 0x0606,
                      3, 2, 1, 1)
    cfg_body = struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 1, 9, 0, 0, 0)
    cfg_body += struct.pack("<BBBBHB", 7, 5, 0x81, 3, 4, 12)
    cfg = struct.pack("<BBHBBBBB", 9, 2, 9 + len(cfg_body), 1, 1, 0, 0xE0, 0) + cfg_body
    return dev + cfg


def _record(syspath: str, busnum: int, devnum: int, vid: int, pid: int, speed: str,
            descriptors: bytes, extra: dict[str, str] | None = None,
            with_node: bool = True) -> str:
    minor = (busnum - 1) * 128 + devnum - 1
    lines = [f"P: {syspath}"]
    if with_node:
        lines.append(f"N: bus/usb/{busnum:03d}/{devnum:03d}")
    lines += [
        f"E: DEVNAME=/dev/bus/usb/{busnum:03d}/{devnum:03d}",
        "E: DEVTYPE=usb_device",
        "E: DRIVER=usb",
        f"E: PRODUCT={vid:x}/{pid:x}/0",
        f"E: BUSNUM={busnum:03d}",
        f"E: DEVNUM={devnum:03d}",
        "E: MAJOR=189",
        f"E: MINOR={minor}",
        "E: SUBSYSTEM=usb",
        f"A: busnum={busnum}",
        f"A: devnum={devnum}",
        f"A: dev=189:{minor}",
        f"A: idVendor={vid:04x}",
        f"A: idProduct={pid:04x}",
        f"A: speed={speed}",
        "A: bConfigurationValue=1",
        "A: bNumConfigurations=1",
        "A: bNumInterfaces= 1",
    ]
    for key, value in (extra or {}).items():
        lines.append(f"A: {key}={value}")
    lines.append(f"H: descriptors={descriptors.hex().upper()}")
    return "\n".join(lines) + "\n"


class FakeBus:
    """USB bus 1 of a umockdev testbed."""

    busnum = 1

    def __init__(self) -> None:
        self.testbed = UMockdev.Testbed.new()
        self._next_devnum = 2
        self._hubs: dict[str, str] = {}  # usb path -> syspath
        self.plugged: list[Plugged] = []
        root = f"{_PCI}/usb{self.busnum}"
        self._add(_record(root, self.busnum, 1, 0x1D6B, 0x0002, "480", _hub_descriptors(),
                          with_node=False))
        self._hubs[str(self.busnum)] = "/sys" + root

    def _add(self, record: str) -> None:
        if not self.testbed.add_from_string(record):
            raise RuntimeError(f"umockdev rejected the record:\n{record}")

    def _parent(self, ports: tuple[int, ...]) -> str:
        """syspath of the hub the device at ``ports`` hangs off (created on demand)."""
        key = str(self.busnum)
        parent = self._hubs[key]
        for depth in range(1, len(ports)):
            key = f"{self.busnum}-" + ".".join(map(str, ports[:depth]))
            if key not in self._hubs:
                devnum = self._allocate()
                syspath = f"{parent}/{key}"
                self._add(_record(syspath[len("/sys"):], self.busnum, devnum, 0x05E3, 0x0610,
                                  "480", _hub_descriptors(), with_node=False))
                self._hubs[key] = syspath
            parent = self._hubs[key]
        return parent

    def _allocate(self) -> int:
        devnum = self._next_devnum
        self._next_devnum += 1
        return devnum

    def plug(self, pipe: UsbPipe, *, kernel_driver: str | None = None,
             busy: bool = False) -> Plugged:
        """Put a simulated device on the bus (its own address; HELLO queued by the pipe)."""
        ports = tuple(pipe.port_numbers)
        usb_path = f"{self.busnum}-" + ".".join(map(str, ports))
        parent = self._parent(ports)
        devnum = self._allocate()
        syspath = f"{parent}/{usb_path}"
        descriptors = pipe.device_descriptor() + pipe.config_descriptor()
        speed = "5000" if pipe.max_packet == 1024 else "480"
        extra = {"manufacturer": pipe.manufacturer, "product": pipe.product}
        self._add(_record(syspath[len("/sys"):], self.busnum, devnum, pipe.vid, pipe.pid,
                          speed, descriptors, extra))
        device = EmulatedDevice(pipe, kernel_driver=kernel_driver, busy=busy)
        handler = UsbdevfsHandler(device)
        devnode = f"/dev/bus/usb/{self.busnum:03d}/{devnum:03d}"
        if not self.testbed.attach_ioctl(devnode, handler):
            raise RuntimeError(f"attach_ioctl({devnode}) failed")
        plugged = Plugged(device, handler, usb_path, syspath, devnode, self.busnum, devnum)
        self.plugged.append(plugged)
        self.testbed.uevent(syspath, "add")
        return plugged

    def unplug(self, plugged: Plugged) -> None:
        """Remove the device (uevent "remove"); its pipe is unplugged too."""
        if plugged not in self.plugged:
            return
        self.plugged.remove(plugged)
        plugged.device.removed = True
        plugged.pipe.unplug()  # also when the model dropped off by itself: the FIFO is lost
        self.testbed.uevent(plugged.syspath, "remove")
        self.testbed.detach_ioctl(plugged.devnode)
        self.testbed.remove_device(plugged.syspath)

    def replug(self, plugged: Plugged) -> Plugged:
        """The same device re-enumerates: gone, then back with a new device number."""
        self.unplug(plugged)
        plugged.pipe.plug()
        return self.plug(plugged.pipe, kernel_driver=None, busy=False)

    def clear(self) -> None:
        for p in list(self.plugged):
            self.unplug(p)

    def deny_access(self, plugged: Plugged) -> None:
        """Make the node root-only (0600) while an unprivileged client can still use the bed.

        umockdev 0.17 has no open() hook, so a permission failure must be real: the client
        runs as another user and the kernel refuses its open() of the node (EACCES). That
        user still needs the testbed: its udev monitor socket lives in the testbed root and
        the preload connects to the ioctl sockets before opening, so both are opened up.
        """
        root = self.testbed.get_root_dir()
        os.chmod(root, 0o1777)
        for base, dirs, files in os.walk(os.path.join(root, "ioctl")):
            for name in dirs + files:
                os.chmod(os.path.join(base, name), 0o777)
        os.chmod(self.node_path(plugged), 0o600)

    def node_path(self, plugged: Plugged) -> str:
        """Where the device node really lives (inside the testbed directory)."""
        return str(self.testbed.get_root_dir()) + plugged.devnode
