"""A minimal QMP client (QEMU Machine Protocol: one JSON object per line over a socket)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from .errors import GeneratorError

__all__ = ["Qmp"]


class Qmp:
    """Connects to QEMU's ``-qmp unix:PATH,server=on,wait=off`` socket."""

    def __init__(self, path: Path, *, connect_timeout: float, step: str = "boot") -> None:
        self.step = step
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + connect_timeout
        while True:  # QEMU creates the socket a moment after it starts
            try:
                self._sock.connect(str(path))
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    self._sock.close()
                    raise GeneratorError(step, f"cannot connect to QMP socket {path}: {e}") from e
                time.sleep(0.05)
        self._buf = b""
        self._recv(timeout=10.0)  # greeting
        self.execute("qmp_capabilities", timeout=10.0)

    def _recv(self, timeout: float) -> dict[str, Any]:
        self._sock.settimeout(timeout)
        while b"\n" not in self._buf:
            try:
                chunk = self._sock.recv(65536)
            except OSError as e:
                raise GeneratorError(self.step, f"QMP read failed: {e}") from e
            if not chunk:
                raise GeneratorError(self.step, "QMP socket closed by QEMU")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise GeneratorError(self.step, f"unexpected QMP message {line!r}")
        return msg

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float = 30.0) -> Any:
        """Send one command and return its ``return`` value (events are skipped)."""
        req: dict[str, Any] = {"execute": command}
        if arguments:
            req["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(req).encode() + b"\n")
        except OSError as e:
            raise GeneratorError(self.step, f"QMP {command}: send failed: {e}") from e
        while True:
            msg = self._recv(timeout)
            if "event" in msg:
                continue
            if "error" in msg:
                raise GeneratorError(self.step, f"QMP {command} failed: {msg['error']}")
            return msg.get("return")

    def close(self) -> None:
        self._sock.close()
