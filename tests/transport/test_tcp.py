"""TcpTransport against a small socket server run by the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from qdlpy.errors import DeviceNotFound, Disconnected, TransferTimeout
from qdlpy.transport.tcp import TcpTransport, parse_host_port

Handler = Callable[[socket.socket], object]  # what it returns is ignored


@pytest.fixture
def server() -> Iterator[Callable[[Handler], int]]:
    """``server(handler) -> port``: accept one client and run ``handler(conn)`` in a thread."""
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(handler: Handler) -> int:
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        listeners.append(ls)

        def run() -> None:
            conn, _ = ls.accept()
            with conn:
                handler(conn)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        threads.append(th)
        return int(ls.getsockname()[1])

    yield start
    for ls in listeners:
        ls.close()
    for th in threads:
        th.join(timeout=5)


def test_round_trip_and_nodelay(server: Callable[[Handler], int]) -> None:
    def echo(conn: socket.socket) -> None:
        conn.sendall(b"HELLO")
        while data := conn.recv(65536):
            conn.sendall(data)

    t = TcpTransport("127.0.0.1", server(echo))
    with t:
        assert t._sock is not None
        assert t._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert t.read(4096, 2.0) == b"HELLO"
        payload = bytes(range(256)) * 4096  # 1 MiB
        t.write(payload, 5.0)
        got = bytearray()
        buf = memoryview(bytearray(65536))
        while len(got) < len(payload):
            n = t.readinto(buf, 5.0)
            got += buf[:n]
        assert got == payload
        assert t.identity().transport.startswith("tcp:127.0.0.1:")
    assert t._sock is None


def test_timeout(server: Callable[[Handler], int]) -> None:
    done = threading.Event()
    t = TcpTransport("127.0.0.1", server(lambda conn: done.wait(5)))
    with t, pytest.raises(TransferTimeout):
        t.read(16, 0.05)
    done.set()


def test_peer_close_is_disconnected(server: Callable[[Handler], int]) -> None:
    t = TcpTransport("127.0.0.1", server(lambda conn: None))
    with t, pytest.raises(Disconnected):
        t.read(16, 2.0)


def test_refused_is_not_found() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(DeviceNotFound):
        TcpTransport("127.0.0.1", port).open()


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5555", ("127.0.0.1", 5555)),
    ("[::1]:1", ("::1", 1)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


def test_close_is_idempotent() -> None:
    t = TcpTransport("127.0.0.1", 1)
    t.close()
    t.close()
