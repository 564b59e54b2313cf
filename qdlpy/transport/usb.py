"""USB transport over pyusb: discovery by interface, claiming, bulk I/O with real ZLP rules.

Discovery (docs/protocol.md#usb-devices-and-interfaces): the PID is not a reliable classifier, so a
device matches when its VID is Qualcomm's 05c6 and it has an interface with class 0xFF, subclass
0xFF and protocol in {0xFF, 0x10, 0x11, 0x13} (qdl's rule), or when its VID:PID is one of
the OEM EDL/memory-debug ids of docs/protocol.md#usb-devices-and-interfaces (or given with
``extra_ids``) and it has a vendor interface with a bulk IN/OUT pair. The serial is the ``_SN:``
token of iProduct (docs/protocol.md#usb-devices-and-interfaces); the USB path is
``BUS-PORT[.PORT...]`` like Linux sysfs names it.

Opening (docs/protocol.md#usb-endpoints-and-opening,
docs/protocol.md#linux-access-udev-drivers-and-modemmanager): configure only if unconfigured (a
``set_configuration`` on a configured device is a soft reset), detach a bound kernel driver
(qcserial binds 9008), claim the interface, take both bulk endpoints and their real wMaxPacketSize
from the descriptors. ``close()`` releases the interface and the handle; it never re-attaches the
kernel driver and never resets the device.

Reads follow docs/protocol.md#zero-length-packets: the host buffer is always a multiple of the IN
max packet size and strictly larger than the bytes asked for, so a device transfer whose length is a
multiple of the max packet size is ended by its ZLP inside the same read instead of leaving the ZLP
for the next read. Only if a read fills the whole buffer can a ZLP still be pending; it is
consumed with a short timeout. Writes whose length is a multiple of the OUT max packet
size are followed by an OUT ZLP (``out_zlp``), so the device's receive ends there.

Every pyusb call runs inside ``usb_errors()``: no ``USBError`` (an ``OSError`` that click
would take for a closed stdout when errno is EPIPE, docs/protocol.md#usb-errors) ever escapes.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import errno
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import usb.core
import usb.util

from qdlpy.errors import (
    AmbiguousDevice,
    BackendUnavailable,
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    InvalidArgument,
    NoUsbBus,
    PermissionDenied,
    QdlpyError,
    TransferTimeout,
    TransportError,
)
from qdlpy.usb_ids import OEM_IDS, QUALCOMM_VID, is_sahara_interface

from . import usb_backend
from .base import DeviceIdentity, Transport

__all__ = [
    "QUALCOMM_VID",
    "OEM_IDS",
    "UsbDeviceInfo",
    "UsbTransport",
    "list_usb_devices",
    "usb_errors",
    "parse_serial",
    "parse_vid_pids",
    "sysfs_signature",
]

log = logging.getLogger(__name__)


#: docs/protocol.md#zero-length-packets: consume a ZLP left behind by a full buffer with a short
#: timeout (devices without ZLPs exist; a long timeout would stall every chunk).
ZLP_TIMEOUT_S = 0.1
_SYSFS_USB = usb_backend.SYSFS_USB
#: Without it (containers, some sandboxes) libusb can never see a device.
SYSFS_USB_BUS = os.path.dirname(_SYSFS_USB)


# -- error mapping ------------------------------------------------------------------------


@contextlib.contextmanager
def usb_errors(what: str, gone: Callable[[], bool] | None = None) -> Iterator[None]:
    """Turn every pyusb/libusb failure inside the block into a qdlpy error.

    ``what`` says what was being done ("open 1-2 (05c6:900e)"); ``gone`` tells whether the
    device has left the bus, so an EPIPE/EIO caused by an unplug becomes ``Disconnected``
    and one on a present device (an endpoint stall) a plain ``TransportError``.
    """
    try:
        yield
    except QdlpyError:
        raise
    except usb.core.USBTimeoutError as exc:
        # An unplug is not always reported as ENODEV: a transfer pending when the
        # device left can just time out. Ask whether it is still there.
        if gone is not None and _safe(gone):
            raise Disconnected(
                f"{what}: the device went away (unplugged, reset or re-enumerating)"
            ) from exc
        raise TransferTimeout(f"{what}: timed out") from exc
    except usb.core.NoBackendError as exc:
        raise BackendUnavailable(f"{what}: no libusb backend ({exc})") from exc
    except OSError as exc:  # usb.core.USBError is an OSError
        raise _from_errno(exc, what, gone) from exc
    except ValueError as exc:
        # pyusb's Device.langids swallows EACCES and get_string then raises
        # ValueError("The device has no langid (permission issue, ...)")
        # (docs/protocol.md#usb-errors).
        if "langid" in str(exc):
            raise PermissionDenied(f"{what}: cannot read the device's strings") from exc
        raise TransportError(f"{what}: {exc}") from exc
    except NotImplementedError as exc:
        raise TransportError(f"{what}: not supported by this USB backend") from exc


def _from_errno(exc: OSError, what: str, gone: Callable[[], bool] | None) -> QdlpyError:
    code = exc.errno
    text = exc.strerror or str(exc)
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{what}: permission denied")
    if code == errno.EBUSY:
        return DeviceBusy(f"{what}: device or interface busy")
    if code == errno.ETIMEDOUT:
        return TransferTimeout(f"{what}: timed out")
    if code in (errno.ENODEV, errno.ESHUTDOWN):
        return Disconnected(f"{what}: the device went away (unplugged, reset or re-enumerating)")
    if code in (errno.EPIPE, errno.EIO, errno.EPROTO, errno.EOVERFLOW):
        if gone is not None and _safe(gone):
            return Disconnected(
                f"{what}: the device went away (unplugged, reset or re-enumerating)"
            )
        if code == errno.EPIPE:
            return TransportError(f"{what}: endpoint stalled (EPIPE)")
        if code == errno.EOVERFLOW:
            return TransportError(f"{what}: the device sent more than the host buffer holds")
    return TransportError(f"{what}: {text}")


def _safe(probe: Callable[[], bool]) -> bool:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - a failing probe must not hide the original error
        return False


def _ms(timeout: float) -> int:
    """Seconds -> libusb milliseconds; never 0, which libusb reads as 'wait forever'."""
    return max(1, math.ceil(timeout * 1000))


# -- identification -----------------------------------------------------------------------


def parse_serial(product: str | None) -> str | None:
    """The ``_SN:`` token of iProduct, e.g. ``QUSB__BULK_CID:0402_SN:ABCD1234`` -> ABCD1234."""
    if not product:
        return None
    _, sep, rest = product.partition("_SN:")
    if not sep:
        return None
    token = rest.split("_", 1)[0].split()[0] if rest.split() else ""
    return token or None


def parse_vid_pids(text: str) -> list[tuple[int, int]]:
    """``"1234:5678,abcd:0001"`` -> [(0x1234, 0x5678), (0xabcd, 0x0001)] (``--device``)."""
    ids = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        vid, sep, pid = item.partition(":")
        try:
            if not sep:
                raise ValueError(item)
            ids.append((int(vid, 16), int(pid, 16)))
        except ValueError:
            raise InvalidArgument(f"not a VID:PID in hex: {item!r} (e.g. 05c6:9008)") from None
    return ids


def _usb_path(dev: Any) -> str | None:
    ports = getattr(dev, "port_numbers", None)
    if dev.bus is None or not ports:
        return None
    return f"{dev.bus}-{'.'.join(str(p) for p in ports)}"


@dataclasses.dataclass(frozen=True)
class UsbDeviceInfo:
    """One Sahara-capable USB device as ``qdlpy list`` shows it (found with no Sahara I/O)."""

    vid: int
    pid: int
    serial: str | None
    usb_path: str | None
    product: str | None
    interface_protocol: int
    interface_number: int
    access: str  # "ok" or "denied" (no udev rule: EACCES / pyusb's "no langid")
    bus: int | None = None
    address: int | None = None
    max_packet: int | None = None

    def to_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["vid"] = f"{self.vid:04x}"
        d["pid"] = f"{self.pid:04x}"
        return d

    def describe(self) -> str:
        """One line for messages: ``1-1.2 05c6:900e SN 0AA94EFD``."""
        sn = f"SN {self.serial}" if self.serial else "no serial"
        if self.access != "ok":
            sn = "serial unknown (access denied)"
        where = self.usb_path or f"bus {self.bus} addr {self.address}"
        return f"{where} {self.vid:04x}:{self.pid:04x} {sn}"

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(
            transport="usb",
            serial=self.serial,
            usb_path=self.usb_path,
            vid=self.vid,
            pid=self.pid,
            product=self.product,
            interface_protocol=self.interface_protocol,
            description=f"{self.vid:04x}:{self.pid:04x} on {self.usb_path}",
        )


@dataclasses.dataclass
class _Candidate:
    info: UsbDeviceInfo
    dev: Any  # usb.core.Device
    intf: Any  # usb.core.Interface


def _is_bulk(ep: Any) -> bool:
    return bool(usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK)


def _is_in(ep: Any) -> bool:
    return bool(usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN)


def _sahara_interface(dev: Any, known_ids: frozenset[tuple[int, int]]) -> Any | None:
    """The matching vendor interface of ``dev`` (descriptors only, no I/O), or None."""
    if dev.idVendor != QUALCOMM_VID and (dev.idVendor, dev.idProduct) not in known_ids:
        return None
    for cfg in dev:
        for intf in cfg:
            if not is_sahara_interface(dev.idVendor, dev.idProduct, intf.bInterfaceClass,
                                       intf.bInterfaceSubClass, intf.bInterfaceProtocol,
                                       known_ids):
                continue
            eps = [e for e in intf if _is_bulk(e)]
            if any(_is_in(e) for e in eps) and any(not _is_in(e) for e in eps):
                return intf
    return None


def _read_strings(dev: Any, what: str) -> tuple[str, str | None, str | None]:
    """(access, product, serial) from the string descriptors; EACCES -> "denied"."""
    try:
        with usb_errors(what):
            langids = usb.util.get_langids(dev)
            if not langids:
                return "ok", None, None
            product = usb.util.get_string(dev, dev.iProduct, langids[0]) if dev.iProduct else None
            serial = parse_serial(product)
            if serial is None and dev.iSerialNumber:
                serial = usb.util.get_string(dev, dev.iSerialNumber, langids[0]) or None
            return "ok", product, serial
    except PermissionDenied:
        return "denied", None, None
    except (TransferTimeout, TransportError) as exc:
        if isinstance(exc, Disconnected):
            raise
        log.debug("%s: strings unreadable: %s", what, exc)
        return "ok", None, None
    finally:
        with contextlib.suppress(Exception):
            usb.util.dispose_resources(dev)  # do not keep a handle open on listed devices


def _scan(backend: Any, extra_ids: Iterable[tuple[int, int]] = ()) -> list[_Candidate]:
    known = OEM_IDS | frozenset(extra_ids)
    with usb_errors("enumerate USB devices"):
        ids = list(backend.enumerate_devices())
    found: list[_Candidate] = []
    for devid in ids:
        try:
            with usb_errors("read USB descriptors"):
                dev = usb.core.Device(devid, backend)
                intf = _sahara_interface(dev, known)
            if intf is None:
                continue
            path = _usb_path(dev)
            what = f"read strings of {path or ''} {dev.idVendor:04x}:{dev.idProduct:04x}"
            access, product, serial = _read_strings(dev, what)
            in_mps = [e.wMaxPacketSize & 0x7FF for e in intf if _is_bulk(e) and _is_in(e)]
            info = UsbDeviceInfo(
                vid=dev.idVendor,
                pid=dev.idProduct,
                serial=serial,
                usb_path=path,
                product=product,
                interface_protocol=intf.bInterfaceProtocol,
                interface_number=intf.bInterfaceNumber,
                access=access,
                bus=dev.bus,
                address=dev.address,
                max_packet=in_mps[0] if in_mps else None,
            )
            found.append(_Candidate(info, dev, intf))
        except QdlpyError as exc:
            # A device that vanished or misbehaves mid-scan is just not listed.
            log.debug("skipping a USB device during the scan: %s", exc)
    found.sort(key=lambda c: (c.info.usb_path or "", c.info.address or 0))
    return found


def list_usb_devices(
    backend: Any = None, extra_ids: Iterable[tuple[int, int]] = ()
) -> list[UsbDeviceInfo]:
    """Every Sahara-capable USB device visible now, without any Sahara traffic."""
    backend = usb_backend.current_context(backend or usb_backend.get_backend())
    return [c.info for c in _scan(backend, extra_ids)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _select(
    found: list[_Candidate], serial: str | None, usb_path: str | None
) -> _Candidate:
    """Apply --serial/--usb-path; explain what is seen when nothing or several match."""

    def wanted() -> str:
        parts = [f"serial {serial}" if serial else "", f"USB path {usb_path}" if usb_path else ""]
        return " and ".join(p for p in parts if p)

    by_path = [c for c in found if usb_path is None or c.info.usb_path == usb_path]
    matches = [
        c for c in by_path
        if serial is None or (c.info.serial or "").lower() == serial.lower()
    ]
    if len(matches) == 1:
        return matches[0]
    listing = "".join(f"\n  {c.info.describe()}" for c in found)
    if len(matches) > 1:
        ambiguous = AmbiguousDevice(
            f"{len(matches)} Qualcomm Sahara USB devices match; pick one with --serial or "
            f"--usb-path:" + "".join(f"\n  {c.info.describe()}" for c in matches)
        )
        ambiguous.details["candidates"] = [c.info.to_dict() for c in matches]
        raise ambiguous
    if not found:
        raise DeviceNotFound("no Qualcomm Sahara USB device visible", nothing_visible=True)
    seen = _plural(len(found), "Qualcomm device")
    denied = [c for c in by_path if c.info.access != "ok"]
    if serial and denied:
        raise PermissionDenied(
            f"{seen} visible, none matches {wanted()}; {len(denied)} could not be read "
            f"(access denied):{listing}"
        )
    raise DeviceNotFound(f"{seen} visible, none matches {wanted()}:{listing}")


#: The bus fingerprint lives with the backend code (it decides when a libusb context
#: is stale); re-exported under this name.
sysfs_signature = usb_backend.bus_signature


def _sysfs_present(info: UsbDeviceInfo, root: str = _SYSFS_USB) -> bool | None:
    """Is the device at ``info.usb_path`` still the one with ``info.address``? None: no sysfs."""
    if not info.usb_path or info.address is None or not os.path.isdir(root):
        return None
    try:
        with open(os.path.join(root, info.usb_path, "devnum"), encoding="ascii") as f:
            return int(f.read().strip()) == info.address
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return None


# -- the transport ------------------------------------------------------------------------


class UsbTransport(Transport):
    """A Sahara device on USB, found by interface, selected by serial or USB path."""

    scheme = "usb"
    message_boundaries = True  # one read = one bulk transfer
    default_chunk_size = 512 * 1024  # docs/protocol.md#request-sizing

    def __init__(
        self,
        serial: str | None = None,
        usb_path: str | None = None,
        backend: Any = None,
        *,
        extra_ids: Iterable[tuple[int, int]] = (),
        out_zlp: bool = True,
        zlp_timeout: float = ZLP_TIMEOUT_S,
    ) -> None:
        self.serial = serial
        self.usb_path = usb_path
        self.backend = backend  # None: usb_backend.get_backend() at open()
        self.extra_ids = frozenset(extra_ids)
        self.out_zlp = out_zlp
        self.zlp_timeout = zlp_timeout
        self._dev: Any = None
        self._info: UsbDeviceInfo | None = None
        self._ifnum = 0
        self._ep_in = 0
        self._ep_out = 0
        self._mps_in = 0
        self._mps_out = 0
        self._rx = array.array("B")
        self._pending = bytearray()  # bytes of a transfer longer than the caller's buffer
        self._zlp_maybe = False  # the last host read ended exactly at a packet boundary
        self._last_sig: frozenset[str] | None = None

    @classmethod
    def from_uri(
        cls, rest: str, knobs: dict[str, str], *, serial: str | None = None,
        usb_path: str | None = None,
    ) -> UsbTransport:
        """``usb[?serial=SN&path=1-2&device=VID:PID,...&out_zlp=0]`` plus CLI selectors."""
        extra = set(knobs) - {"serial", "path", "device", "out_zlp"}
        if rest or extra:
            raise InvalidArgument(
                f"usb: unexpected {rest!r}" if rest else
                f"usb: unknown option(s) {', '.join(sorted(extra))}",
                hint="usb takes ?serial=SN&path=BUS-PORT&device=VID:PID&out_zlp=0",
            )
        for name, given, knob in (("serial", serial, "serial"), ("usb path", usb_path, "path")):
            if given is not None and knob in knobs and knobs[knob] != given:
                raise InvalidArgument(f"two different {name}s given: {given} and {knobs[knob]}")
        return cls(
            serial=serial or knobs.get("serial"),
            usb_path=usb_path or knobs.get("path"),
            extra_ids=parse_vid_pids(knobs.get("device", "")),
            out_zlp=knobs.get("out_zlp", "1").lower() not in ("0", "false", "no", "off"),
        )

    # -- discovery --------------------------------------------------------------------

    def _backend(self) -> Any:
        if self.backend is None:
            self.backend = usb_backend.get_backend()
        return self.backend

    def candidates(self) -> list[UsbDeviceInfo]:
        """The matching devices visible now (no Sahara traffic)."""
        return [c.info for c in _scan(self._backend(), self.extra_ids)]

    def bus_changed(self) -> bool:
        """For ``connect()``: did the bus change since the last call (worth a rescan)?

        Compares the sysfs fingerprint (no libusb call). Without sysfs, or on a backend
        that is not libusb (the simulator, where scanning is exact and cheap), it always
        says yes. ``open()`` itself swaps in a fresh libusb context whenever the bus
        changed after the current one was made, so a re-enumerated board is found even
        when the context missed the hot-plug event (docs/protocol.md#choosing-the-libusb-backend).
        """
        if not usb_backend.is_libusb(self._backend()):
            return True
        sig = usb_backend.bus_signature()
        if sig is None:
            return True
        changed = sig != self._last_sig
        self._last_sig = sig
        return changed

    # -- lifecycle --------------------------------------------------------------------

    def open(self) -> None:
        if self._dev is not None:
            return
        self.backend = usb_backend.current_context(self._backend())
        if usb_backend.is_libusb(self.backend) and not os.path.isdir(SYSFS_USB_BUS):
            raise NoUsbBus(f"this machine has no USB bus ({SYSFS_USB_BUS} is missing): no USB "
                           "device can appear here")
        cand = _select(_scan(self._backend(), self.extra_ids), self.serial, self.usb_path)
        self._claim(cand)

    def _claim(self, cand: _Candidate) -> None:
        try:
            self._claim_or_raise(cand)
        except BaseException:
            # Do not leave a half-open handle (or a claim) behind a failed open().
            with contextlib.suppress(Exception):
                usb.util.dispose_resources(cand.dev)
            raise

    def _claim_or_raise(self, cand: _Candidate) -> None:
        dev, intf, info = cand.dev, cand.intf, cand.info
        what = f"open {info.describe()}"
        ifnum = intf.bInterfaceNumber
        with usb_errors(what, self._gone_probe(info)):
            try:
                dev.get_active_configuration()
            except usb.core.USBError as exc:
                if exc.errno is not None:
                    raise
                # pyusb's "Configuration not set": only then configure (a
                # set_configuration on a configured device is a soft reset,
                # docs/protocol.md#usb-endpoints-and-opening).
                dev.set_configuration()
            if self._kernel_driver_active(dev, ifnum):
                log.info("%s: detaching the kernel driver from interface %d", what, ifnum)
                try:
                    dev.detach_kernel_driver(ifnum)
                except usb.core.USBError as exc:
                    if exc.errno != errno.ENOENT:  # already gone: fine
                        raise
            try:
                usb.util.claim_interface(dev, ifnum)
            except usb.core.USBError as exc:
                if exc.errno == errno.EBUSY:
                    raise DeviceBusy(
                        f"{what}: the interface is claimed by another program or driver"
                    ) from exc
                raise
        eps_in = [e for e in intf if _is_bulk(e) and _is_in(e)]
        eps_out = [e for e in intf if _is_bulk(e) and not _is_in(e)]
        self._dev, self._info, self._ifnum = dev, info, ifnum
        # wMaxPacketSize bits 0-10 are the size (bits 11-12 are for periodic endpoints).
        self._ep_in, self._mps_in = eps_in[0].bEndpointAddress, eps_in[0].wMaxPacketSize & 0x7FF
        self._ep_out = eps_out[0].bEndpointAddress
        self._mps_out = eps_out[0].wMaxPacketSize & 0x7FF
        self._pending.clear()
        self._zlp_maybe = False
        log.debug(
            "opened %s: interface %d, IN 0x%02x/%d, OUT 0x%02x/%d",
            info.describe(), ifnum, self._ep_in, self._mps_in, self._ep_out, self._mps_out,
        )

    @staticmethod
    def _kernel_driver_active(dev: Any, ifnum: int) -> bool:
        try:
            return bool(dev.is_kernel_driver_active(ifnum))
        except NotImplementedError:
            return False
        except usb.core.USBError as exc:
            if exc.errno == errno.ENOSYS:  # LIBUSB_ERROR_NOT_SUPPORTED (not Linux)
                return False
            raise

    def close(self) -> None:
        dev, self._dev = self._dev, None
        self._pending.clear()
        if dev is None:
            return
        # Release only: no attach_kernel_driver (qcserial would grab the device and
        # ModemManager poke it, docs/protocol.md#linux-access-udev-drivers-and-modemmanager), no
        # reset (it would lose the dump).
        with contextlib.suppress(Exception):
            usb.util.release_interface(dev, self._ifnum)
        with contextlib.suppress(Exception):
            usb.util.dispose_resources(dev)

    def _gone_probe(self, info: UsbDeviceInfo) -> Callable[[], bool]:
        """Whether the opened device has left the bus (asked only after an error)."""

        def gone() -> bool:
            backend = self._backend()
            if usb_backend.is_libusb(backend):
                # sysfs is exact even when the libusb context missed the hot-plug event.
                in_sysfs = _sysfs_present(info)
                if in_sysfs is not None:
                    return not in_sysfs
            for devid in backend.enumerate_devices():
                desc = backend.get_device_descriptor(devid)
                if desc.bus == info.bus and desc.address == info.address:
                    return False
            return True

        return gone

    def _require_open(self) -> tuple[Any, UsbDeviceInfo]:
        if self._dev is None or self._info is None:
            raise TransportError("USB transport is not open")
        return self._dev, self._info

    @property
    def max_packet_size(self) -> int:
        return self._mps_in

    def identity(self) -> DeviceIdentity:
        if self._info is not None:
            return self._info.identity()
        return DeviceIdentity(transport="usb", serial=self.serial, usb_path=self.usb_path)

    # -- I/O --------------------------------------------------------------------------

    def _bulk_in(self, size: int, timeout: float) -> tuple[int, bytes]:
        """One host read into ``self._rx``: (byte count, bytes that followed a full buffer)."""
        dev, info = self._require_open()
        mps = self._mps_in or 512
        # docs/protocol.md#zero-length-packets: a buffer that is a multiple of the max packet size
        # (no babble) and strictly larger than what is asked for, so a ZLP ends this very read.
        want = (size // mps + 1) * mps
        have = len(self._rx)
        if not (want <= have <= max(2 * want, 64 * 1024)) or have % mps:
            # pyusb reads exactly len(array) bytes. A somewhat larger buffer is just as
            # good (still larger than asked, still whole packets), so one allocation
            # serves a run of shrinking reads (a chunk arriving in 4 KiB pieces).
            self._rx = array.array("B", bytes(want))
        want = len(self._rx)
        with usb_errors(f"read from {info.describe()}", self._gone_probe(info)):
            n = int(dev.read(self._ep_in, self._rx, _ms(timeout)))
            if n == 0 and self._zlp_maybe:
                # The ZLP ending a transfer that exactly filled the previous buffer: it
                # belongs to that transfer, not to this read.
                self._zlp_maybe = False
                n = int(dev.read(self._ep_in, self._rx, _ms(timeout)))
        self._zlp_maybe = False
        if n == want:
            # A full buffer only happens when the device sent more than was asked and no
            # short packet or ZLP came: a ZLP may still be queued. Take it now, briefly.
            return n, self._consume_zlp(dev, info)
        return n, b""

    def _consume_zlp(self, dev: Any, info: UsbDeviceInfo) -> bytes:
        extra = array.array("B", bytes(self._mps_in or 512))
        try:
            with usb_errors(f"read from {info.describe()}", self._gone_probe(info)):
                got = int(dev.read(self._ep_in, extra, _ms(self.zlp_timeout)))
        except TransferTimeout:
            return b""  # no ZLP: this device does not send them
        # got == 0: the ZLP, consumed. Otherwise more data of a device without ZLPs (or a
        # transfer longer than asked): hand it on in order; if that filled the little
        # buffer too, its ZLP may still come and is skipped by the next read.
        self._zlp_maybe = got == len(extra)
        return extra[:got].tobytes()

    def _take(self, size: int, timeout: float) -> tuple[memoryview, int]:
        """Read once; keep what exceeds ``size`` in ``_pending``; return (view, count)."""
        n, extra = self._bulk_in(size, timeout)
        view = memoryview(self._rx)
        if n > size:
            self._pending += view[size:n]
            n = size
        if extra:
            self._pending += extra
        return view, n

    def read(self, size: int, timeout: float) -> bytes:
        if size <= 0:
            return b""
        if self._pending:
            out = bytes(self._pending[:size])
            del self._pending[:size]
            return out
        view, n = self._take(size, timeout)
        return view[:n].tobytes()

    def readinto(self, buf: memoryview, timeout: float) -> int:
        size = len(buf)
        if size <= 0:
            return 0
        if self._pending:
            n = min(size, len(self._pending))
            buf[:n] = self._pending[:n]
            del self._pending[:n]
            return n
        view, n = self._take(size, timeout)
        buf[:n] = view[:n]
        return n

    def write(self, data: bytes | memoryview, timeout: float) -> None:
        dev, info = self._require_open()
        payload = array.array("B")
        payload.frombytes(data)
        n = len(payload)
        what = f"write to {info.describe()}"
        with usb_errors(what, self._gone_probe(info)):
            sent = int(dev.write(self._ep_out, payload, _ms(timeout)))
            if sent != n:
                raise TransferTimeout(f"{what}: the device took {sent} of {n} bytes")
            if self.out_zlp and n and n % (self._mps_out or 512) == 0:
                # End the transfer explicitly (docs/protocol.md#zero-length-packets): the device's
                # receive would otherwise wait for more packets.
                dev.write(self._ep_out, array.array("B"), _ms(timeout))
