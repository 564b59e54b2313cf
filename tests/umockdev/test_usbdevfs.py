"""The usbdevfs handler itself: ioctls libusb rarely or never issues, driven by hand.

These go through the same path as libusb (libc ioctl -> umockdev preload -> handler) with
ctypes structs laid out as linux/usbdevice_fs.h on x86_64.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

libc = ctypes.CDLL(None, use_errno=True)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.ioctl.restype = ctypes.c_int


class Urb(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_ubyte), ("endpoint", ctypes.c_ubyte), ("status", ctypes.c_int),
        ("flags", ctypes.c_uint), ("buffer", ctypes.c_void_p),
        ("buffer_length", ctypes.c_int), ("actual_length", ctypes.c_int),
        ("start_frame", ctypes.c_int), ("number_of_packets", ctypes.c_int),
        ("error_count", ctypes.c_int), ("signr", ctypes.c_uint),
        ("usercontext", ctypes.c_void_p),
    ]


def test_urb_layout_matches_the_handler(helpers: Any) -> None:
    import usbdevfs_handler as h

    assert ctypes.sizeof(Urb) == h.URB_SIZE
    assert Urb.buffer.offset == 16 and Urb.buffer_length.offset == 24
    assert Urb.actual_length.offset == 28 and Urb.status.offset == 4


@pytest.fixture
def node(bus: Any, pipe: Callable[..., Any], helpers: Any) -> Iterator[tuple[int, Any]]:
    model = helpers.ScriptedModel({b"ping": [b"pong"]})
    plugged = bus.plug(pipe(model), kernel_driver="qcserial")
    fd = os.open(plugged.devnode, os.O_RDWR)
    try:
        yield fd, plugged
    finally:
        os.close(fd)


def ioctl(helpers: Any, fd: int, name: str, arg: Any) -> tuple[int, int]:
    import usbdevfs_handler as h

    ret = libc.ioctl(fd, h.NAMES[name], arg)
    return ret, ctypes.get_errno() if ret < 0 else 0


def test_getdriver_detach_claim_and_blocking_reap(node: tuple[int, Any], helpers: Any) -> None:
    fd, plugged = node
    ifno = ctypes.c_uint(0)

    class GetDriver(ctypes.Structure):
        _fields_ = [("interface", ctypes.c_uint), ("driver", ctypes.c_char * 256)]

    gd = GetDriver(0)
    assert ioctl(helpers, fd, "GETDRIVER", ctypes.byref(gd)) == (0, 0)
    assert gd.driver == b"qcserial"
    # Claiming while the kernel driver holds the interface fails like the kernel's.
    assert ioctl(helpers, fd, "CLAIMINTERFACE", ctypes.byref(ifno)) == (-1, errno.EBUSY)

    class UsbIoctl(ctypes.Structure):
        _fields_ = [("ifno", ctypes.c_int), ("ioctl_code", ctypes.c_int),
                    ("data", ctypes.c_void_p)]

    import usbdevfs_handler as h

    cmd = UsbIoctl(0, h.NAMES["DISCONNECT"], None)
    assert ioctl(helpers, fd, "IOCTL", ctypes.byref(cmd)) == (0, 0)
    assert ioctl(helpers, fd, "GETDRIVER", ctypes.byref(gd)) == (-1, errno.ENODATA)
    assert ioctl(helpers, fd, "CLAIMINTERFACE", ctypes.byref(ifno)) == (0, 0)
    assert ioctl(helpers, fd, "SETCONFIGURATION", ctypes.byref(ctypes.c_uint(1))) == (0, 0)
    setif = (ctypes.c_uint * 2)(0, 0)
    assert ioctl(helpers, fd, "SETINTERFACE", setif) == (0, 0)
    ep = ctypes.c_uint(0x81)
    assert ioctl(helpers, fd, "CLEAR_HALT", ctypes.byref(ep)) == (0, 0)
    caps = ctypes.c_uint32(0)
    assert ioctl(helpers, fd, "GET_CAPABILITIES", ctypes.byref(caps)) == (0, 0)
    assert caps.value == 0x0F

    # An IN URB first: nothing to read yet, so a blocking REAPURB waits for the device.
    inbuf = ctypes.create_string_buffer(512)
    urb_in = Urb(type=3, endpoint=0x81, buffer=ctypes.cast(inbuf, ctypes.c_void_p),
                 buffer_length=512)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb_in)) == (0, 0)
    reaped = ctypes.c_void_p()
    assert ioctl(helpers, fd, "REAPURBNDELAY", ctypes.byref(reaped)) == (-1, errno.EAGAIN)

    # The device answers only later (data appears while this thread blocks in REAPURB):
    # the handler completes the ioctl from umockdev's main loop when it arrives.
    model = plugged.pipe.model
    timer = threading.Timer(0.05, lambda: model.queue.append(b"late"))
    timer.start()
    assert ioctl(helpers, fd, "REAPURB", ctypes.byref(reaped)) == (0, 0)
    timer.join()
    assert reaped.value == ctypes.addressof(urb_in)
    assert urb_in.actual_length == 4 and inbuf.raw[:4] == b"late"

    outbuf = ctypes.create_string_buffer(b"ping", 4)
    urb_out = Urb(type=3, endpoint=0x01, buffer=ctypes.cast(outbuf, ctypes.c_void_p),
                  buffer_length=4)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb_out)) == (0, 0)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb_in)) == (0, 0)
    got = []
    for _ in range(2):
        assert ioctl(helpers, fd, "REAPURB", ctypes.byref(reaped)) == (0, 0)
        got.append(reaped.value)
    assert got == [ctypes.addressof(urb_out), ctypes.addressof(urb_in)]
    assert urb_out.actual_length == 4 and urb_out.status == 0
    assert urb_in.actual_length == 4 and inbuf.raw[:4] == b"pong"
    assert plugged.device.counts["REAPURB"] == 3


def test_discard_and_unplug(node: tuple[int, Any], helpers: Any, bus: Any) -> None:
    fd, plugged = node
    plugged.device.kernel_driver = None
    assert ioctl(helpers, fd, "CLAIMINTERFACE", ctypes.byref(ctypes.c_uint(0))) == (0, 0)
    inbuf = ctypes.create_string_buffer(512)
    urb = Urb(type=3, endpoint=0x81, buffer=ctypes.cast(inbuf, ctypes.c_void_p),
              buffer_length=512)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb)) == (0, 0)
    assert ioctl(helpers, fd, "DISCARDURB", ctypes.byref(urb)) == (0, 0)
    reaped = ctypes.c_void_p()
    assert ioctl(helpers, fd, "REAPURBNDELAY", ctypes.byref(reaped)) == (0, 0)
    assert reaped.value == ctypes.addressof(urb) and urb.status == -errno.ENOENT
    # Pull the cable with an IN URB pending: it is reaped as killed, then ENODEV.
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb)) == (0, 0)
    bus.unplug(plugged)
    assert ioctl(helpers, fd, "REAPURBNDELAY", ctypes.byref(reaped)) == (0, 0)
    assert urb.status == -errno.ESHUTDOWN
    assert ioctl(helpers, fd, "REAPURBNDELAY", ctypes.byref(reaped)) == (-1, errno.ENODEV)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb)) == (-1, errno.ENODEV)


def test_string_descriptors_over_control_urbs(node: tuple[int, Any], helpers: Any) -> None:
    fd, plugged = node
    buf = ctypes.create_string_buffer(8 + 255)
    # GET_DESCRIPTOR(STRING, index 2 = iProduct, langid 0x0409), wLength 255.
    ctypes.memmove(buf, bytes([0x80, 6, 2, 3, 0x09, 0x04, 255, 0]), 8)
    urb = Urb(type=2, endpoint=0, buffer=ctypes.cast(buf, ctypes.c_void_p),
              buffer_length=8 + 255)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb)) == (0, 0)
    reaped = ctypes.c_void_p()
    assert ioctl(helpers, fd, "REAPURBNDELAY", ctypes.byref(reaped)) == (0, 0)
    raw = buf.raw[8:8 + urb.actual_length]
    assert raw[2:].decode("utf-16-le") == plugged.pipe.product
    # A descriptor the device does not have stalls (EPIPE), as real hardware does.
    ctypes.memmove(buf, bytes([0x80, 6, 9, 3, 0x09, 0x04, 255, 0]), 8)
    assert ioctl(helpers, fd, "SUBMITURB", ctypes.byref(urb)) == (0, 0)
    assert ioctl(helpers, fd, "REAPURBNDELAY", ctypes.byref(reaped)) == (0, 0)
    assert urb.status == -errno.EPIPE
