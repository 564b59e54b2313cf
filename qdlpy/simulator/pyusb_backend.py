"""A real pyusb backend (``usb.backend.IBackend``) over simulated USB devices.

``usb.core.find(backend=FakeBackend([...]))`` then sees ordinary pyusb ``Device`` objects:
descriptors parsed from the pipes' raw bytes, strings over control transfers, claiming,
kernel-driver detach, bulk transfers with libusb's error behaviour. qdlpy's production
USB transport (qdlpy.transport.usb) runs unchanged on top of it, in tests and in CLI
subprocesses (``QDLPY_USB_SIM=kmemdump,kmemdump``, plugged in by ``plug_from_environment``).

pyusb 1.3 expectations this follows (docs/testing.md#the-fake-pyusb-backend):

* ``get_device_descriptor`` also carries ``bus``, ``address``, ``port_number``,
  ``port_numbers`` and ``speed``;
* configuration/interface/endpoint getters take *indexes*; running past the last
  interface/altsetting raises ``IndexError``; every descriptor has ``extra_descriptors``
  and endpoints also ``bRefresh``/``bSynchAddress``;
* ``bulk_write`` gets an ``array('B')``; ``bulk_read`` fills a pre-sized array and returns
  the count;
* errors are ``USBError(strerror, libusb_code, errno)``, timeouts ``USBTimeoutError`` with
  errno 110 / code -7, as pyusb's libusb1 backend maps them (docs/protocol.md#usb-errors).

Fault flags per device (``SimUsbDevice``): ``kernel_driver_bound`` (claiming fails with
EBUSY until detached, as with qcserial on 9008,
docs/protocol.md#linux-access-udev-drivers-and-modemmanager), ``deny_open`` (EACCES: no udev rule),
``busy_on_claim`` (EBUSY: another tool holds it). ``unplug()`` / ``replug()`` and the model's own
``unplugged`` flag (RESET, disconnect fault) make every handle fail with ENODEV; a device that
dropped off comes back with a new address on the next enumeration when ``auto_replug`` is set (a
re-enumerating board).
"""

from __future__ import annotations

import array
import errno
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from qdlpy.errors import InvalidArgument
from qdlpy.transport import usb_backend

from .usb_pipe import DT_ENDPOINT, DT_INTERFACE, Babble, UsbPipe

__all__ = ["ENV_USB_SIM", "FakeBackend", "SimUsbDevice", "backend_from_spec", "pipes_from_spec",
           "plug_from_environment", "split_entries"]

#: Simulated USB devices for the ``qdlpy`` command: ``scenario[?knobs][,scenario...]``.
ENV_USB_SIM = "QDLPY_USB_SIM"

# libusb error codes (libusb.h enum libusb_error) and the errno pyusb maps each to.
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_ACCESS = -3
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_OVERFLOW = -8
LIBUSB_ERROR_PIPE = -9

# How often a blocked bulk read re-polls the model (the model may answer later, e.g. a
# delayed-HELLO fault). Short enough not to matter next to any Sahara timeout.
_POLL_S = 0.001


def _usb_error(text: str, code: int, err: int) -> usb.core.USBError:
    return usb.core.USBError(text, code, err)


def _no_device() -> usb.core.USBError:
    return _usb_error(
        "No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


class _Desc:
    """A parsed descriptor: plain attributes, like the ctypes structs of libusb1.py."""

    def __init__(self, **fields: Any) -> None:
        self.extra_descriptors: list[int] = []
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:  # typing: fields are set dynamically
        raise AttributeError(name)


def _parse_config(raw: bytes) -> tuple[_Desc, list[tuple[_Desc, list[_Desc]]]]:
    """Split a configuration blob into (config, [(interface, [endpoints])])."""
    cfg = _Desc(
        bLength=raw[0],
        bDescriptorType=raw[1],
        wTotalLength=int.from_bytes(raw[2:4], "little"),
        bNumInterfaces=raw[4],
        bConfigurationValue=raw[5],
        iConfiguration=raw[6],
        bmAttributes=raw[7],
        bMaxPower=raw[8],
    )
    interfaces: list[tuple[_Desc, list[_Desc]]] = []
    last: _Desc = cfg
    pos = raw[0]
    while pos + 2 <= len(raw):
        length, kind = raw[pos], raw[pos + 1]
        d = raw[pos : pos + length]
        if length < 2:
            break
        if kind == DT_INTERFACE:
            last = _Desc(
                bLength=d[0],
                bDescriptorType=d[1],
                bInterfaceNumber=d[2],
                bAlternateSetting=d[3],
                bNumEndpoints=d[4],
                bInterfaceClass=d[5],
                bInterfaceSubClass=d[6],
                bInterfaceProtocol=d[7],
                iInterface=d[8],
            )
            interfaces.append((last, []))
        elif kind == DT_ENDPOINT and interfaces:
            last = _Desc(
                bLength=d[0],
                bDescriptorType=d[1],
                bEndpointAddress=d[2],
                bmAttributes=d[3],
                wMaxPacketSize=int.from_bytes(d[4:6], "little"),
                bInterval=d[6],
                bRefresh=0,
                bSynchAddress=0,
            )
            interfaces[-1][1].append(last)
        else:
            # Class/companion descriptors belong to the item before them.
            last.extra_descriptors.extend(d)
        pos += length
    return cfg, interfaces


@dataclass
class SimUsbDevice:
    """One simulated device on the fake bus, with its fault flags."""

    pipe: UsbPipe
    kernel_driver_bound: bool = False
    deny_open: bool = False
    busy_on_claim: bool = False
    auto_replug: bool = True
    detach_count: int = 0  # how often the kernel driver was detached (tests check it is once)
    claims: set[int] = field(default_factory=set)  # ids of handles holding interface 0

    def unplug(self) -> None:
        self.pipe.unplug()
        self.claims.clear()

    def replug(self) -> None:
        self.claims.clear()
        self.pipe.plug()


@dataclass(frozen=True)
class _DevId:
    """What enumerate_devices yields: one device at one enumeration (generation)."""

    sim: SimUsbDevice
    generation: int


class _Handle:
    def __init__(self, devid: _DevId) -> None:
        self.devid = devid
        self.claimed: set[int] = set()
        self.closed = False


class FakeBackend(usb.backend.IBackend):  # type: ignore[misc]
    """pyusb backend over ``SimUsbDevice`` objects (or bare ``UsbPipe`` objects)."""

    def __init__(
        self, devices: Sequence[SimUsbDevice | UsbPipe], *, instant_timeouts: bool = True
    ) -> None:
        super().__init__()
        #: The DeviceModel only ever answers host writes, so data that is not there now
        #: never arrives later: by default a read with nothing pending times out at once
        #: (same USBTimeoutError, no wall-clock wait). False waits the real timeout,
        #: polling, for models driven from another thread.
        self.instant_timeouts = instant_timeouts
        self.devices: list[SimUsbDevice] = [
            d if isinstance(d, SimUsbDevice) else SimUsbDevice(d) for d in devices
        ]
        self._lock = threading.RLock()
        self.enumerations = 0  # bus scans so far (a test waits for a watcher's next scans)

    # -- enumeration and descriptors --------------------------------------------------

    def enumerate_devices(self) -> Iterator[_DevId]:
        with self._lock:
            self.enumerations += 1
            found = []
            for sim in self.devices:
                if sim.pipe.rebooted:
                    continue  # left download mode: no longer a Sahara device
                if sim.pipe.unplugged and sim.auto_replug and sim.pipe.model.unplugged:
                    # The board dropped off the bus by itself (disconnect fault): it
                    # re-enumerates, with a new address, as real hardware does.
                    sim.replug()
                if not sim.pipe.unplugged:
                    found.append(_DevId(sim, sim.pipe.generation))
        return iter(found)

    def get_parent(self, dev: _DevId) -> None:
        return None

    def get_device_descriptor(self, dev: _DevId) -> _Desc:
        p = dev.sim.pipe
        raw = p.device_descriptor()
        return _Desc(
            bLength=raw[0],
            bDescriptorType=raw[1],
            bcdUSB=int.from_bytes(raw[2:4], "little"),
            bDeviceClass=raw[4],
            bDeviceSubClass=raw[5],
            bDeviceProtocol=raw[6],
            bMaxPacketSize0=raw[7],
            idVendor=int.from_bytes(raw[8:10], "little"),
            idProduct=int.from_bytes(raw[10:12], "little"),
            bcdDevice=int.from_bytes(raw[12:14], "little"),
            iManufacturer=raw[14],
            iProduct=raw[15],
            iSerialNumber=raw[16],
            bNumConfigurations=raw[17],
            bus=p.bus,
            address=p.address,
            port_number=p.port_numbers[-1] if p.port_numbers else None,
            port_numbers=p.port_numbers,
            speed=p.speed,
        )

    def _config(self, dev: _DevId, config: int) -> tuple[_Desc, list[tuple[_Desc, list[_Desc]]]]:
        if config != 0:
            raise IndexError(f"configuration index {config} out of range")
        return _parse_config(dev.sim.pipe.config_descriptor())

    def get_configuration_descriptor(self, dev: _DevId, config: int) -> _Desc:
        return self._config(dev, config)[0]

    def get_interface_descriptor(self, dev: _DevId, intf: int, alt: int, config: int) -> _Desc:
        interfaces = self._config(dev, config)[1]
        matching = [i for i in interfaces if i[0].bInterfaceNumber == intf]
        if alt >= len(matching):
            raise IndexError(f"interface {intf} alternate setting {alt} out of range")
        return matching[alt][0]

    def get_endpoint_descriptor(
        self, dev: _DevId, ep: int, intf: int, alt: int, config: int
    ) -> _Desc:
        interfaces = self._config(dev, config)[1]
        matching = [i for i in interfaces if i[0].bInterfaceNumber == intf]
        return matching[alt][1][ep]

    # -- handles ----------------------------------------------------------------------

    def _live(self, handle: _Handle) -> SimUsbDevice:
        sim = handle.devid.sim
        if handle.closed or sim.pipe.unplugged or sim.pipe.generation != handle.devid.generation:
            raise _no_device()
        return sim

    def open_device(self, dev: _DevId) -> _Handle:
        with self._lock:
            sim = dev.sim
            if sim.pipe.unplugged or sim.pipe.generation != dev.generation:
                raise _no_device()
            if sim.deny_open:
                raise _usb_error("Access denied (insufficient permissions)",
                                 LIBUSB_ERROR_ACCESS, errno.EACCES)
            return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        with self._lock:
            dev_handle.devid.sim.claims.discard(id(dev_handle))
            dev_handle.closed = True

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._live(dev_handle)

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._live(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._live(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self._lock:
            sim = self._live(dev_handle)
            others = sim.claims - {id(dev_handle)}
            if sim.busy_on_claim or sim.kernel_driver_bound or others:
                raise _usb_error("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
            sim.claims.add(id(dev_handle))
            dev_handle.claimed.add(intf)
            sim.pipe.attach()

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self._lock:
            sim = self._live(dev_handle)
            sim.claims.discard(id(dev_handle))
            dev_handle.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return self._live(dev_handle).kernel_driver_bound

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        with self._lock:
            sim = self._live(dev_handle)
            if not sim.kernel_driver_bound:
                # libusb: LIBUSB_ERROR_NOT_FOUND when no driver is bound.
                raise _usb_error("Entity not found", -5, errno.ENOENT)
            sim.kernel_driver_bound = False
            sim.detach_count += 1

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        with self._lock:
            self._live(dev_handle).kernel_driver_bound = True

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._live(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        # qdlpy must never reset (base.py lifecycle); a test asserting that can check this.
        raise AssertionError("qdlpy must not reset the USB device")

    # -- transfers --------------------------------------------------------------------

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        sim = self._live(dev_handle)
        # Only GET_DESCRIPTOR(STRING) is needed: pyusb reads descriptors via the backend.
        if bmRequestType == 0x80 and bRequest == 0x06 and (wValue >> 8) == 0x03:
            raw = sim.pipe.string_descriptor(wValue & 0xFF, wIndex)
            if not raw:
                raise _usb_error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
            n = min(len(raw), len(data))
            data[:n] = array.array("B", raw[:n])
            return n
        raise _usb_error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)

    def _check_claimed(self, dev_handle: _Handle, intf: int) -> SimUsbDevice:
        sim = self._live(dev_handle)
        if intf not in dev_handle.claimed:
            # libusb would still submit on Linux, but pyusb always claims first; a
            # transfer on an unclaimed interface is a qdlpy bug worth surfacing.
            raise _usb_error("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        return sim

    def _check_endpoint(self, sim: SimUsbDevice, ep: int, want: int) -> None:
        if ep != want:
            raise _usb_error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)

    def bulk_write(
        self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        sim = self._check_claimed(dev_handle, intf)
        self._check_endpoint(sim, ep, sim.pipe.ep_out)
        payload = data.tobytes()
        try:
            sim.pipe.bulk_out(payload)
        except Exception as exc:  # the model raising is a device-side failure
            if sim.pipe.unplugged:
                raise _no_device() from exc
            raise _usb_error(f"Input/Output Error ({exc})", LIBUSB_ERROR_IO, errno.EIO) from exc
        return len(payload)

    def bulk_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        sim = self._check_claimed(dev_handle, intf)
        self._check_endpoint(sim, ep, sim.pipe.ep_in)
        size = len(buff) * buff.itemsize
        # libusb: timeout 0 means "wait forever".
        deadline = None if timeout == 0 else time.monotonic() + timeout / 1000.0
        while True:
            with self._lock:
                self._live(dev_handle)
                try:
                    got = sim.pipe.bulk_in(size)
                except Babble as exc:
                    raise _usb_error("Overflow", LIBUSB_ERROR_OVERFLOW, errno.EOVERFLOW) from exc
            if got is not None:
                n = len(got)
                if n:
                    memoryview(buff).cast("B")[:n] = got
                return n
            if self.instant_timeouts or (
                deadline is not None and time.monotonic() >= deadline
            ):
                raise usb.core.USBTimeoutError(
                    "Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT
                )
            time.sleep(_POLL_S)

    def intr_write(self, *args: Any) -> int:
        raise _usb_error("Not supported", -12, errno.ENOSYS)

    def intr_read(self, *args: Any) -> int:
        raise _usb_error("Not supported", -12, errno.ENOSYS)


# -- construction from QDLPY_USB_SIM ------------------------------------------------------

# Knobs of a QDLPY_USB_SIM entry that configure the USB side; the rest go to the model.
_USB_KNOBS = ("usb_max_packet", "usb_vid", "usb_pid", "usb_serial", "usb_protocol",
              "usb_kernel_driver", "usb_deny_open", "usb_busy", "usb_no_zlp", "usb_product")


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def split_entries(spec: str) -> list[str]:
    """Split ``QDLPY_USB_SIM`` on commas that start a new scenario.

    A knob value may itself contain commas (``restricted=A.BIN,B.BIN``), so a piece
    that does not begin with a known scenario name continues the previous entry.
    """
    from qdlpy.simulator.scenarios import SCENARIOS

    entries: list[str] = []
    for piece in spec.split(","):
        name = piece.strip().partition("?")[0].partition(":")[0]
        if entries and name not in SCENARIOS:
            entries[-1] += "," + piece
        elif piece.strip():
            entries.append(piece.strip())
    return entries


def pipes_from_spec(spec: str) -> list[SimUsbDevice]:
    """``"kmemdump,kmemdump?usb_serial=B"`` -> one simulated USB device per entry.

    Each entry is ``SCENARIO[:ARG][?knob=value&...]``. Knobs starting with ``usb_`` shape
    the USB side (ids, serial, protocol, fault flags; see ``_USB_KNOBS``); all others go
    to ``qdlpy.simulator.scenarios.build_model`` (the model's ``max_packet`` fault knob
    also sets the endpoints' wMaxPacketSize). Devices sit on hub ports 1-1.1, 1-1.2, ...;
    with several entries each gets a distinct serial unless ``usb_serial`` is given.
    """
    # Imported here: the scenario registry pulls in the whole simulator.
    from qdlpy.simulator.scenarios import build_model

    entries = split_entries(spec)
    if not entries:
        raise InvalidArgument(f"QDLPY_USB_SIM={spec!r} names no scenario")
    devices: list[SimUsbDevice] = []
    for i, entry in enumerate(entries, start=1):
        base, _, query = entry.partition("?")
        usb_knobs: dict[str, str] = {}
        model_knobs: list[str] = []
        for part in query.split("&") if query else []:
            key = part.partition("=")[0]
            if key in _USB_KNOBS:
                usb_knobs[key] = part.partition("=")[2]
            elif key.startswith("usb_"):
                raise InvalidArgument(
                    f"unknown USB simulator knob {key!r} (known: {', '.join(_USB_KNOBS)})"
                )
            else:
                model_knobs.append(part)
        model = build_model(base + ("?" + "&".join(model_knobs) if model_knobs else ""))
        ident = model.identity
        serial = usb_knobs.get("usb_serial") or (
            ident.serial if len(entries) == 1 else f"{ident.serial[:6]}{i:02X}"
        )
        pipe = UsbPipe(
            model,
            max_packet=int(usb_knobs.get("usb_max_packet", model.faults.max_packet)),
            vid=int(usb_knobs.get("usb_vid", f"{ident.vid:04x}"), 16),
            pid=int(usb_knobs.get("usb_pid", f"{ident.pid:04x}"), 16),
            serial=serial,
            product=usb_knobs.get("usb_product"),
            interface_protocol=int(
                usb_knobs.get("usb_protocol", f"{ident.interface_protocol:02x}"), 16
            ),
            bus=1,
            port_numbers=(1, i),
            send_zlp=not _truthy(usb_knobs.get("usb_no_zlp", "0")),
        )
        devices.append(
            SimUsbDevice(
                pipe,
                kernel_driver_bound=_truthy(usb_knobs.get("usb_kernel_driver", "0")),
                deny_open=_truthy(usb_knobs.get("usb_deny_open", "0")),
                busy_on_claim=_truthy(usb_knobs.get("usb_busy", "0")),
            )
        )
    return devices


def backend_from_spec(spec: str) -> FakeBackend:
    """A backend with one simulated USB device per entry of ``spec`` (QDLPY_USB_SIM syntax)."""
    return FakeBackend(pipes_from_spec(spec))


def plug_from_environment() -> bool:
    """Plug the devices ``QDLPY_USB_SIM`` names into the production USB transport.

    The ``qdlpy`` command calls this at start-up, so CLI subprocesses run the real usb
    transport over simulated devices; in-process users call it themselves. The backend is
    built on first use. Returns False (and plugs nothing) when the variable is unset.
    """
    spec = os.environ.get(ENV_USB_SIM, "").strip()
    if not spec:
        return False
    usb_backend.plug_backend(lambda: backend_from_spec(spec), kind="sim",
                             reason=f"{ENV_USB_SIM}={spec}: simulated devices")
    return True
