"""A usbdevfs emulation for umockdev: the kernel side of libusb, answered in Python.

Under ``umockdev-wrapper`` (LD_PRELOAD=libumockdev-preload.so.0) every ``open``/``ioctl``
on ``/dev/bus/usb/BBB/DDD`` of the testbed is forwarded to a :class:`UsbdevfsHandler`
(an ``UMockdev.IoctlBase``) running in umockdev's worker thread. The handler implements
what libusb's Linux backend issues (docs/testing.md#how-the-umockdev-tier-works) over the
simulator's ``UsbPipe`` (qdlpy/simulator/usb_pipe.py), so pyusb -> real libusb -> real ioctl
syscalls -> this module -> the simulated Sahara device:

* SUBMITURB / REAPURB / REAPURBNDELAY / DISCARDURB with real URB semantics: OUT data is
  delivered at submit, IN URBs complete when the device has data (a NAK keeps them
  pending), a discard reaps them with -ENOENT (that is how libusb times out);
* control URBs answering GET_DESCRIPTOR (device, configuration, strings);
* CLAIMINTERFACE / RELEASEINTERFACE (EBUSY when another fd, a bound kernel driver or the
  ``busy`` flag holds it), SETCONFIGURATION, SETINTERFACE, CLEAR_HALT, RESETEP, RESET;
* GET_CAPABILITIES = 0x0F (ZERO_PACKET|BULK_CONTINUATION|NO_PACKET_SIZE_LIM|SG): libusb
  then sends one URB per transfer;
* GETDRIVER / IOCTL(DISCONNECT) / DISCONNECT_CLAIM: a bound kernel driver (qcserial) that
  libusb can detach;
* a device that dropped off the bus (``pipe.unplugged``) answers ENODEV.

Permission errors cannot come from here: umockdev 0.17 has no open() hook, so the tests
produce a real EACCES by opening the node as an unprivileged user (see test_errors.py).

Rules for handler code (docs/testing.md#umockdev-pitfalls): never block in the worker thread, and
turn every exception into EIO, because an uncaught one would leave libusb waiting forever.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import struct
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

from qdlpy.errors import Disconnected  # noqa: E402
from qdlpy.simulator.usb_pipe import Babble, UsbPipe  # noqa: E402

log = logging.getLogger("tests.umockdev")

# ---------------------------------------------------------------- ioctl numbers
# linux/usbdevice_fs.h, with the x86_64 struct sizes (_IOC(dir, 'U', nr, size)).
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("U") << 8) | nr


URB_SIZE = 56  # struct usbdevfs_urb without iso frames (x86_64)
IOCTLS: dict[int, str] = {
    _ioc(_IOC_READ | _IOC_WRITE, 0, 24): "CONTROL",
    _ioc(_IOC_READ | _IOC_WRITE, 2, 24): "BULK",
    _ioc(_IOC_READ, 3, 4): "RESETEP",
    _ioc(_IOC_READ, 4, 8): "SETINTERFACE",
    _ioc(_IOC_READ, 5, 4): "SETCONFIGURATION",
    _ioc(_IOC_WRITE, 8, 260): "GETDRIVER",
    _ioc(_IOC_READ, 10, URB_SIZE): "SUBMITURB",
    _ioc(0, 11, 0): "DISCARDURB",
    _ioc(_IOC_WRITE, 12, 8): "REAPURB",
    _ioc(_IOC_WRITE, 13, 8): "REAPURBNDELAY",
    _ioc(_IOC_READ, 15, 4): "CLAIMINTERFACE",
    _ioc(_IOC_READ, 16, 4): "RELEASEINTERFACE",
    _ioc(_IOC_WRITE, 17, 8): "CONNECTINFO",
    _ioc(_IOC_READ | _IOC_WRITE, 18, 16): "IOCTL",
    _ioc(0, 20, 0): "RESET",
    _ioc(_IOC_READ, 21, 4): "CLEAR_HALT",
    _ioc(0, 22, 0): "DISCONNECT",
    _ioc(0, 23, 0): "CONNECT",
    _ioc(_IOC_READ, 26, 4): "GET_CAPABILITIES",
    _ioc(_IOC_READ, 27, 264): "DISCONNECT_CLAIM",
    _ioc(_IOC_WRITE, 30, 4): "DROP_PRIVILEGES",
    _ioc(0, 31, 0): "GET_SPEED",
}
NAMES = {v: k for k, v in IOCTLS.items()}

URB_TYPE_CONTROL, URB_TYPE_BULK = 2, 3
URB_ZERO_PACKET = 0x40
# ZERO_PACKET | BULK_CONTINUATION | NO_PACKET_SIZE_LIM | BULK_SCATTER_GATHER
CAPABILITIES = 0x0F
# Requests that need no work here: the emulated device accepts them as they are.
_ALWAYS_OK = frozenset({"SETCONFIGURATION", "SETINTERFACE", "RESETEP", "DROP_PRIVILEGES",
                        "RESET"})

# struct usbdevfs_urb field offsets (x86_64).
_OFF_STATUS, _OFF_BUFFER, _OFF_LENGTH, _OFF_ACTUAL = 4, 16, 24, 28

_DEFERRED = object()  # the ioctl completes later (blocking REAPURB)


@dataclasses.dataclass
class EmulatedDevice:
    """One device on the fake bus: the simulator pipe plus host-side conditions."""

    pipe: UsbPipe
    kernel_driver: str | None = None  # e.g. "qcserial": bound until detached
    busy: bool = False  # another program holds the interface: CLAIMINTERFACE -> EBUSY
    claimed_by: object | None = None
    #: The pipe generation this node belongs to: after the device re-enumerated, the old
    #: node stays dead even though the same simulated device is back under a new one.
    generation: int = -1
    removed: bool = False
    detach_count: int = 0
    counts: Counter[str] = dataclasses.field(default_factory=Counter)
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if self.generation < 0:
            self.generation = self.pipe.generation

    @property
    def gone(self) -> bool:
        """The device behind this node left the bus (unplug, RESET, disconnect fault)."""
        if self.removed or self.pipe.unplugged or self.pipe.generation != self.generation:
            self.removed = True  # once gone, this node never comes back
        return self.removed


@dataclasses.dataclass
class _Urb:
    addr: int  # the URB's address in the client (what REAP hands back)
    data: Any  # UMockdev.IoctlData of the struct
    buf: Any  # UMockdev.IoctlData of the buffer (None for 0-length)
    type: int
    endpoint: int
    length: int
    flags: int
    done: bool = False
    status: int = 0
    actual: int = 0
    payload: bytes = b""


class _ClientState:
    def __init__(self) -> None:
        self.urbs: list[_Urb] = []  # submitted, not yet reaped, in submission order
        self.waiting_reap: Any = None  # a blocking REAPURB's client, completed later


class UsbdevfsHandler(UMockdev.IoctlBase):  # type: ignore[misc]
    """The ioctl handler attached to one device node."""

    def __init__(self, device: EmulatedDevice) -> None:
        super().__init__()
        self.device = device
        self._clients: dict[Any, _ClientState] = {}

    # -- GObject virtual methods ---------------------------------------------------------

    def do_client_connected(self, client: Any) -> None:
        self._clients[client] = _ClientState()

    def do_client_vanished(self, client: Any) -> None:
        self._clients.pop(client, None)
        with self.device.lock:
            if self.device.claimed_by is client:
                self.device.claimed_by = None  # closing the fd releases the claim

    def do_handle_ioctl(self, client: Any) -> bool:
        request = client.get_request()
        name = IOCTLS.get(request, f"0x{request:08x}")
        dev = self.device
        dev.counts[name] += 1
        try:
            with dev.lock:
                result = self._dispatch(name, client)
        except Exception:
            log.exception("usbdevfs %s failed", name)
            result = (-1, errno.EIO)
        if isinstance(result, tuple):
            client.complete(result[0], result[1])
        return True

    # -- dispatch ------------------------------------------------------------------------

    def _state(self, client: Any) -> _ClientState:
        st = self._clients.get(client)
        if st is None:
            st = self._clients[client] = _ClientState()
        return st

    def _dispatch(self, name: str, client: Any) -> tuple[int, int] | object:
        arg = client.get_arg()
        if self.device.gone:
            return self._after_unplug(name, client, arg)
        if name in _ALWAYS_OK:
            return 0, 0
        handler = self._HANDLERS.get(name)
        if handler is None:
            return -1, errno.ENOTTY
        return handler(self, client, arg)

    def _after_unplug(self, name: str, client: Any, arg: Any) -> tuple[int, int] | object:
        """usbfs after a disconnect: URBs still queued were killed (-ESHUTDOWN) and can be
        reaped, then everything is ENODEV. That is how libusb learns of the unplug here: a
        regular file never signals POLLERR as a real usbfs node would."""
        if name in ("REAPURBNDELAY", "REAPURB"):
            return self._reap(client, arg, block=False)
        if name == "RELEASEINTERFACE":
            return 0, 0
        return -1, errno.ENODEV

    def _get_capabilities(self, client: Any, arg: Any) -> tuple[int, int]:
        caps = arg.resolve(0, 4)
        caps.update(0, struct.pack("<I", CAPABILITIES))
        return 0, 0

    def _disconnect_claim(self, client: Any, arg: Any) -> tuple[int, int]:
        self._detach()
        return self._claim(client)

    def _release(self, client: Any, arg: Any) -> tuple[int, int]:
        if self.device.claimed_by is client:
            self.device.claimed_by = None
            return 0, 0
        return -1, errno.EINVAL

    def _get_driver(self, client: Any, arg: Any) -> tuple[int, int]:
        dev = self.device
        if dev.claimed_by is not None:
            driver = "usbfs"
        elif dev.kernel_driver:
            driver = dev.kernel_driver
        else:
            return -1, errno.ENODATA
        out = arg.resolve(0, 260)
        out.update(4, driver.encode() + b"\0")
        return 0, 0

    def _ioctl(self, client: Any, arg: Any) -> tuple[int, int]:
        cmd = arg.resolve(0, 16)
        _ifno, code = struct.unpack_from("<ii", bytes(cmd.retrieve()))
        if code == NAMES["DISCONNECT"]:
            return self._detach()
        if code == NAMES["CONNECT"]:
            return 0, 0
        return -1, errno.ENOTTY

    def _clear_halt(self, client: Any, arg: Any) -> tuple[int, int]:
        clear = getattr(self.device.pipe, "clear_halt", None)
        if callable(clear):
            clear()
        return 0, 0

    _HANDLERS: ClassVar[dict[str, Callable[[Any, Any, Any], tuple[int, int] | object]]] = {
        "GET_CAPABILITIES": _get_capabilities,
        "SUBMITURB": lambda self, client, arg: self._submit(client, arg),
        "REAPURBNDELAY": lambda self, client, arg: self._reap(client, arg, block=False),
        "REAPURB": lambda self, client, arg: self._reap(client, arg, block=True),
        "DISCARDURB": lambda self, client, arg: self._discard(client, arg),
        "CLAIMINTERFACE": lambda self, client, arg: self._claim(client),
        "DISCONNECT_CLAIM": _disconnect_claim,
        "RELEASEINTERFACE": _release,
        "GETDRIVER": _get_driver,
        "IOCTL": _ioctl,
        "CLEAR_HALT": _clear_halt,
        "GET_SPEED": lambda self, client, arg: (self.device.pipe.speed, 0),
    }

    def _detach(self) -> tuple[int, int]:
        dev = self.device
        if not dev.kernel_driver:
            return -1, errno.ENODATA
        dev.kernel_driver = None
        dev.detach_count += 1
        return 0, 0

    def _claim(self, client: Any) -> tuple[int, int]:
        dev = self.device
        if dev.busy or dev.kernel_driver or (dev.claimed_by not in (None, client)):
            return -1, errno.EBUSY
        if dev.claimed_by is None:
            try:
                dev.pipe.attach()  # a host claimed the interface: the model sees a host
            except Disconnected:
                return -1, errno.ENODEV
        dev.claimed_by = client
        return 0, 0

    # -- URBs ----------------------------------------------------------------------------

    def _submit(self, client: Any, arg: Any) -> tuple[int, int]:
        data = arg.resolve(0, URB_SIZE)
        raw = bytes(data.retrieve())
        urb_type, endpoint = raw[0], raw[1]
        (flags,) = struct.unpack_from("<I", raw, 8)
        (length,) = struct.unpack_from("<i", raw, _OFF_LENGTH)
        buf = data.resolve(_OFF_BUFFER, length) if length > 0 else None
        urb = _Urb(int(data.client_addr), data, buf, urb_type, endpoint, length, flags)
        if urb_type == URB_TYPE_CONTROL:
            self._control(urb)
        elif urb_type == URB_TYPE_BULK:
            if self.device.claimed_by is not client:
                return -1, errno.EINVAL  # usbfs: endpoint of an unclaimed interface
            if not endpoint & 0x80:
                payload = bytes(buf.retrieve()) if buf is not None else b""
                try:
                    self.device.pipe.bulk_out(payload)
                    mps = self.device.pipe.max_packet
                    if flags & URB_ZERO_PACKET and payload and len(payload) % mps == 0:
                        self.device.pipe.bulk_out(b"")
                except Disconnected:
                    return -1, errno.ENODEV
                urb.done, urb.actual = True, len(payload)
        else:
            return -1, errno.EINVAL
        self._state(client).urbs.append(urb)
        return 0, 0

    def _control(self, urb: _Urb) -> None:
        setup = bytes(urb.buf.retrieve()[:8]) if urb.buf is not None else b""
        urb.done = True
        if len(setup) < 8:
            urb.status = -errno.EINVAL
            return
        req_type, request, value, index, w_length = struct.unpack("<BBHHH", setup)
        if req_type & 0x80 and request == 6:  # GET_DESCRIPTOR
            kind, idx = value >> 8, value & 0xFF
            pipe = self.device.pipe
            if kind == 1:
                answer = pipe.device_descriptor()
            elif kind == 2:
                answer = pipe.config_descriptor()
            elif kind == 3:
                answer = pipe.string_descriptor(idx, index)
            else:
                answer = b""
            if not answer:
                urb.status = -errno.EPIPE  # STALL: no such descriptor
                return
            urb.payload = answer[:w_length]
            urb.actual = len(urb.payload)
        elif req_type & 0x80:
            urb.status = -errno.EPIPE
        # OUT requests (SET_FEATURE, CLEAR_FEATURE...) succeed with no data.

    def _progress(self, st: _ClientState) -> None:
        """Give pending IN URBs the device's data, oldest first (one per endpoint)."""
        seen: set[int] = set()
        for urb in st.urbs:
            if urb.done or urb.endpoint in seen or not urb.endpoint & 0x80:
                continue
            seen.add(urb.endpoint)
            try:
                data = self.device.pipe.bulk_in(urb.length)
            except Babble:
                urb.done, urb.status = True, -errno.EOVERFLOW
                continue
            except Disconnected:
                return
            if data is None:
                continue  # NAK: stays pending until data comes, or libusb discards it
            urb.done, urb.payload, urb.actual = True, data, len(data)

    def _reap(self, client: Any, arg: Any, *, block: bool) -> tuple[int, int] | object:
        st = self._state(client)
        if self.device.gone:
            for urb in st.urbs:
                if not urb.done:
                    urb.done, urb.status, urb.actual = True, -errno.ESHUTDOWN, 0
        else:
            self._progress(st)
        done = next((u for u in st.urbs if u.done), None)
        if done is None:
            if self.device.gone:
                return -1, errno.ENODEV
            if block:
                self._wait_for_reap(client, arg, st)
                return _DEFERRED
            return -1, errno.EAGAIN
        self._hand_back(st, done, arg)
        return 0, 0

    def _hand_back(self, st: _ClientState, urb: _Urb, arg: Any) -> None:
        st.urbs.remove(urb)
        if urb.payload and urb.buf is not None:
            offset = 8 if urb.type == URB_TYPE_CONTROL else 0
            urb.buf.update(offset, urb.payload)
        urb.data.update(_OFF_STATUS, struct.pack("<i", urb.status))
        urb.data.update(_OFF_ACTUAL, struct.pack("<i", urb.actual))
        # REAP's argument is a `void **`: point it at the URB; umockdev writes the URB
        # (and its buffer) back to the client as part of completing this ioctl.
        slot = arg.resolve(0, 8)
        slot.set_ptr(0, urb.data)

    def _wait_for_reap(self, client: Any, arg: Any, st: _ClientState) -> None:
        """A blocking REAPURB: poll the device from the worker's main loop, complete later."""

        def poll() -> bool:
            with self.device.lock:
                if self.device.gone:
                    for urb in st.urbs:
                        if not urb.done:
                            urb.done, urb.status, urb.actual = True, -errno.ESHUTDOWN, 0
                else:
                    self._progress(st)
                if self.device.gone and not any(u.done for u in st.urbs):
                    client.complete(-1, errno.ENODEV)
                    return False
                done = next((u for u in st.urbs if u.done), None)
                if done is None:
                    return True  # keep polling
                try:
                    self._hand_back(st, done, arg)
                    client.complete(0, 0)
                except Exception:
                    log.exception("deferred REAPURB failed")
                    client.complete(-1, errno.EIO)
                return False

        source = GLib.timeout_source_new(1)
        source.set_callback(lambda *_: poll())
        source.attach(GLib.MainContext.ref_thread_default())  # umockdev's worker loop

    def _discard(self, client: Any, arg: Any) -> tuple[int, int]:
        addr = struct.unpack_from("<Q", bytes(arg.retrieve()), 0)[0]
        st = self._state(client)
        for urb in st.urbs:
            if urb.addr == addr and not urb.done:
                urb.done, urb.status, urb.actual = True, -errno.ENOENT, 0
                return 0, 0
        return -1, errno.EINVAL  # already completed: libusb then reaps it normally
