"""Shared test helpers: run the real ``qdlpy`` console script as a subprocess.

tests/conftest.py puts ``tests/`` on ``sys.path``, so test files use
``from helpers import run_qdlpy, Simulator``.

The subprocess environment drops the user's ``QDLPY_*`` variables (a developer's
``QDLPY_TRANSPORT=usb`` must not change what a test talks to); pass ``env=`` entries to
set them on purpose.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

__all__ = ["qdlpy_command", "qdlpy_env", "run_qdlpy", "start_qdlpy", "Simulator"]



def qdlpy_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m qdlpy.cli``."""
    exe = shutil.which("qdlpy", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "qdlpy.cli"]


def qdlpy_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    merged = {k: v for k, v in os.environ.items() if not k.startswith("QDLPY_")}
    merged.update(env or {})
    return merged


def run_qdlpy(
    *args: str | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    input: str | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``qdlpy ARGS...`` to completion; stdout and stderr are captured as text."""
    return subprocess.run(
        [*qdlpy_command(), *map(str, args)], cwd=cwd, env=qdlpy_env(env), timeout=timeout,
        input=input, capture_output=True, text=True, check=check,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def start_qdlpy(
    *args: str | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start ``qdlpy ARGS...`` in the background (stdout/stderr piped, text mode)."""
    return subprocess.Popen(
        [*qdlpy_command(), *map(str, args)], cwd=cwd, env=qdlpy_env(env),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


class Simulator:
    """``qdlpy simulate`` in a subprocess, listening on a free loopback port.

    ``with Simulator("fulldump?size=4M") as sim: run_qdlpy("pull", "-t", sim.uri, ...)``.
    The process is ended on exit (by its own id) if it is still running.
    """

    def __init__(self, scenario: str, *extra: str, ready_timeout: float = 30.0) -> None:
        self.scenario = scenario
        self.proc = start_qdlpy("simulate", "--scenario", scenario,
                                "--listen", "tcp:127.0.0.1:0", *extra)
        self.uri = self._wait_listening(ready_timeout)

    def _wait_listening(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("listening on "):
                    return line.split("listening on ", 1)[1].strip()
                if not line and self.proc.poll() is not None:
                    break
        self.stop()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise RuntimeError(f"qdlpy simulate {self.scenario!r} did not start listening: {err}")

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the simulator to exit by itself (it does after a RESET)."""
        return self.proc.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
