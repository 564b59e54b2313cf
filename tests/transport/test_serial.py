"""SerialTransport through a pty pair (os.openpty): the test plays the device on the master."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator

import pytest

from qdlpy.errors import DeviceBusy, DeviceNotFound, TransferTimeout
from qdlpy.transport.serial import SerialTransport


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def _read_exact(t: SerialTransport, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        got += t.read(n - len(got), 2.0)
    return bytes(got)


def test_rx_is_not_purged_on_open(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    os.write(master, b"HELLO-BEFORE-OPEN")  # the device spoke before we opened
    with SerialTransport(path) as t:
        assert _read_exact(t, 17) == b"HELLO-BEFORE-OPEN"


def test_raw_mode_passes_every_byte(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    every = bytes(range(256)) * 8  # \r, \n, ^C, ^S/^Q (XOFF/XON), ^D, 0xff ...
    with SerialTransport(path) as t:
        os.write(master, every)
        assert _read_exact(t, len(every)) == every
        t.write(every, 2.0)
        got = bytearray()
        while len(got) < len(every):
            got += os.read(master, 65536)
        assert bytes(got) == every


def test_read_returns_what_arrived(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    with SerialTransport(path) as t:
        os.write(master, b"abc")
        assert t.read(32768, 2.0) == b"abc"  # does not wait for 32 KiB
        with pytest.raises(TransferTimeout):
            t.read(16, 0.05)


def test_defaults() -> None:
    assert SerialTransport.default_chunk_size == 32 * 1024
    assert SerialTransport.message_boundaries is False


def test_missing_port_is_not_found(tmp_path: os.PathLike[str]) -> None:
    with pytest.raises(DeviceNotFound):
        SerialTransport(os.path.join(os.fspath(tmp_path), "ttyNOPE")).open()


def test_second_opener_is_busy(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    with SerialTransport(path), pytest.raises(DeviceBusy):
        SerialTransport(path).open()


def test_from_uri() -> None:
    t = SerialTransport.from_uri("/dev/ttyUSB0", {"baud": "921600"})
    assert (t.path, t.baudrate) == ("/dev/ttyUSB0", 921600)
