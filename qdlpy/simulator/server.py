"""Serve a simulated device over TCP (``qdlpy simulate --listen tcp:HOST:PORT``).

One host at a time, as on USB; successive connections find the device where the last one
left it (download mode persists between host runs). The device's raw Sahara byte stream
goes over the socket unframed, like a ser2net-style lab relay.
"""

from __future__ import annotations

import logging
import select
import socket
from collections.abc import Callable

from qdlpy.errors import InvalidArgument, OutputError

from .model import DeviceModel

log = logging.getLogger("qdlpy.simulator.server")


def parse_listen(uri: str) -> tuple[str, int]:
    """'tcp:127.0.0.1:0' -> ('127.0.0.1', 0)."""
    scheme, _, rest = uri.partition(":")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        raise InvalidArgument(f"--listen wants tcp:HOST:PORT, not {uri!r}")
    return host.strip("[]"), int(port)


class SimServer:
    """A listening socket in front of one DeviceModel."""

    def __init__(self, model_factory: Callable[[], DeviceModel], host: str, port: int,
                 *, respawn: bool = False) -> None:
        self.model_factory = model_factory
        self.model = model_factory()
        self.respawn = respawn
        try:
            self.sock = socket.create_server((host, port))
        except OSError as exc:
            raise OutputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                              hint="pick another port (0 picks a free one)") from exc
        self.address = self.sock.getsockname()[:2]
        self._stop = False

    @property
    def uri(self) -> str:
        return f"tcp:{self.address[0]}:{self.address[1]}"

    def stop(self) -> None:
        self._stop = True

    def serve(self, on_connection: Callable[[str], None] | None = None) -> int:
        """Accept hosts until the device reboots (RESET) or stop(); returns connections served."""
        served = 0
        try:
            while not self._stop:
                ready, _, _ = select.select([self.sock], [], [], 0.2)
                if not ready:
                    continue
                conn, peer = self.sock.accept()
                served += 1
                if on_connection:
                    on_connection(f"{peer[0]}:{peer[1]}")
                with conn:
                    self._session(conn)
                if self.model.rebooted:
                    if not self.respawn:
                        log.info("simulated device was reset: it left download mode")
                        break
                    self.model = self.model_factory()
        finally:
            self.sock.close()
        return served

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        model = self.model
        model.connect()
        try:
            while not self._stop:
                self._flush(conn, model)
                if model.unplugged:
                    log.info("fault: simulated device dropped off the bus")
                    return
                if model.rebooted and not model.pending():
                    return
                ready, _, _ = select.select([conn], [], [], 0.2)
                if not ready:
                    continue
                try:
                    data = conn.recv(1 << 20)
                except ConnectionError:
                    return
                if not data:
                    return
                model.host_write(data, stream=True)
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            model.disconnect()

    @staticmethod
    def _flush(conn: socket.socket, model: DeviceModel) -> None:
        while True:
            t = model.next_transfer()
            if t is None:
                return
            conn.sendall(t)
