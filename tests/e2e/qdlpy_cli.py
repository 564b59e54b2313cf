"""Driving the qdlpy CLI as a user would: simulate a device from a folder, pull, assemble.

The commands are used exactly as documented: ``qdlpy simulate --scenario dir:PATH --listen
tcp:127.0.0.1:0`` (prints ``listening on tcp:127.0.0.1:PORT`` once ready),
``qdlpy pull --transport tcp:127.0.0.1:PORT -o OUT --json`` (writes OUT/minidump.elf) and
``qdlpy assemble DIR -o FILE --json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["qdlpy_executable", "serve", "run_json"]

LISTEN_RE = re.compile(r"listening on (tcp:127\.0\.0\.1:\d+)")
READY_TIMEOUT = 60.0
CLI_TIMEOUT = 300.0


def qdlpy_executable() -> str:
    """$QDLPY_E2E_QDLPY, else the console script beside the interpreter running the tests
    (the venv's), else the one on PATH."""
    override = os.environ.get("QDLPY_E2E_QDLPY")
    if override:
        return override
    beside = Path(sys.executable).with_name("qdlpy")
    if beside.is_file():
        return str(beside)
    found = shutil.which("qdlpy")
    if not found:
        pytest.fail("the qdlpy console script is not installed (pip install -e .)")
    return found


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Run ``qdlpy simulate`` on ``folder``; yield its transport URI; always stop it."""
    argv = [qdlpy_executable(), "simulate", "--scenario", f"dir:{folder}",
            "--listen", "tcp:127.0.0.1:0"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:  # keeps draining so the simulator never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        uri = None
        while uri is None:
            try:
                line = lines.get(timeout=READY_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"`{' '.join(argv)}` printed no 'listening on' line within "
                            f"{READY_TIMEOUT:.0f} s: {''.join(seen)[-2000:]}")
            if line is None:
                pytest.fail(f"`{' '.join(argv)}` exited {proc.wait()} before listening: "
                            f"{''.join(seen)[-2000:]}")
            seen.append(line)
            m = LISTEN_RE.search(line)
            uri = m.group(1) if m else None
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_json(*args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[dict[str, Any], int]:
    """Run ``qdlpy ARGS`` (which include --json); return the one JSON document and the exit
    code; fail the test on another exit code or on stdout that is not one JSON document."""
    argv = [qdlpy_executable(), *args]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(argv)}` did not finish within {CLI_TIMEOUT:.0f} s")
    where = f"`{' '.join(argv)}` (exit {proc.returncode})\nstderr: {proc.stderr[-3000:]}"
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"{where}\nstdout is not one JSON document: {proc.stdout[-2000:]!r}")
    if proc.returncode not in ok_codes:
        pytest.fail(f"{where}\nJSON: {json.dumps(doc)[-3000:]}")
    if not isinstance(doc, dict):
        pytest.fail(f"{where}\nJSON is not an object: {doc!r}")
    return doc, proc.returncode
