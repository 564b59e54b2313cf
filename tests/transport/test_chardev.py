"""ChardevTransport on a raw pty slave standing in for an MHI SAHARA node."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator

import pytest

from qdlpy.errors import DeviceNotFound, Disconnected, PermissionDenied, TransferTimeout
from qdlpy.transport.chardev import ChardevTransport


@pytest.fixture
def node() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)  # no line discipline in the way: bytes pass as written
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_round_trip(node: tuple[int, str]) -> None:
    master, path = node
    with ChardevTransport(path) as t:
        assert t.message_boundaries and t.default_chunk_size == 0xFFF0
        os.write(master, b"\x01\x00\x00\x00\x30\x00\x00\x00" + bytes(40))
        buf = memoryview(bytearray(0xFFF0))
        n = t.readinto(buf, 2.0)
        assert n == 48 and buf[0] == 1
        t.write(b"reply", 2.0)
        assert os.read(master, 64) == b"reply"


def test_timeout(node: tuple[int, str]) -> None:
    _, path = node
    with ChardevTransport(path) as t, pytest.raises(TransferTimeout):
        t.read(16, 0.05)


def test_other_end_gone_is_disconnected(node: tuple[int, str]) -> None:
    master, path = node
    with ChardevTransport(path) as t:
        os.close(master)  # the slave now reads EIO (or EOF): the device is gone
        with pytest.raises(Disconnected):
            t.read(16, 2.0)


def test_missing_node_is_not_found(tmp_path: os.PathLike[str]) -> None:
    with pytest.raises(DeviceNotFound):
        ChardevTransport(os.path.join(os.fspath(tmp_path), "mhi0_SAHARA")).open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root bypasses file permissions")
def test_no_permission(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(os.fspath(tmp_path), "mhi0_SAHARA")
    with open(path, "wb"):
        pass
    os.chmod(path, 0)
    with pytest.raises(PermissionDenied):
        ChardevTransport(path).open()


def test_eacces_from_open_is_permission_denied(tmp_path: os.PathLike[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The same mapping as test_no_permission, also checked when the tests run as root.
    import errno

    path = os.path.join(os.fspath(tmp_path), "mhi0_SAHARA")
    with open(path, "wb"):
        pass

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionDenied) as e:
        ChardevTransport(path).open()
    assert e.value.exit_code == 4
