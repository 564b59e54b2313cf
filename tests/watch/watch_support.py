"""Checks shared by the watch tests.

The oracle for a watched pull's folder is a plain ``qdlpy.pull`` of the same simulated
dump (the watch must only decide *when* and *where* to pull, never change what is saved),
plus sizes and sha256 values the test computes itself with hashlib.
"""

from __future__ import annotations

import errno
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import usb.core

from qdlpy.simulator.pyusb_backend import FakeBackend, SimUsbDevice, pipes_from_spec

#: Files of a pull folder that differ between two pulls of the same dump.
RUN_SPECIFIC = frozenset({"manifest.json", "qdlpy.log"})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return doc


def region_files(folder: Path, skip: frozenset[str] = RUN_SPECIFIC) -> dict[str, str]:
    """Every file a pull saved (not the run's own log and manifest) -> its sha256."""
    return {p.name: sha256(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in skip}


def check_complete(folder: Path, reference: Path) -> dict[str, Any]:
    """A complete pull folder holding the same files as ``reference`` (a plain pull)."""
    doc = manifest(folder)
    assert doc["status"] == "ok", doc.get("error")
    for rec in doc["regions"]:
        path = folder / rec["filename"]
        assert path.stat().st_size == rec["length"]
        assert sha256(path) == rec["sha256"]
    assert not list(folder.glob("*.part"))
    assert region_files(folder) == region_files(reference)
    return doc


def usb_devices(*specs: str) -> list[SimUsbDevice]:
    return pipes_from_spec(",".join(specs))


def usb_bus(*specs: str) -> FakeBackend:
    """A simulated USB bus with one device per spec (ports 1-1.1, 1-1.2, ...)."""
    return FakeBackend(usb_devices(*specs))


def pull_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.is_dir())


class GatedBus(FakeBackend):
    """A simulated bus whose devices stop sending once ``hold_after`` bytes went out, until
    ``gate`` is set: a pull cannot end before the test lets it (proofs of concurrency and of
    a stop landing mid-pull, without timing)."""

    WAIT_S = 30.0

    def __init__(self, devices: list[SimUsbDevice], hold_after: int) -> None:
        super().__init__(devices)
        self.hold_after = hold_after
        self.gate = threading.Event()
        self.sent: dict[int, int] = {}

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        key = id(dev_handle.devid.sim)
        if self.sent.get(key, 0) >= self.hold_after and not self.gate.wait(self.WAIT_S):
            raise usb.core.USBError("test gate never opened", -1, errno.EIO)
        n = int(super().bulk_read(dev_handle, ep, intf, buff, timeout))
        self.sent[key] = self.sent.get(key, 0) + n
        return n


def check_events(events: list[Any]) -> None:
    """Every event's JSON object has the common keys and those its kind documents."""
    from qdlpy.watcher import KINDS, SCHEMA

    for event in events:
        doc = json.loads(json.dumps(event.to_dict()))
        assert doc["schema"] == SCHEMA and doc["qdlpy_version"] and doc["time"].endswith("Z")
        for key in KINDS[doc["event"]]:
            assert key in doc, (key, doc)
    assert events[-1].kind == "watch-finished"


class JsonLines:
    """The ``qdlpy watch --json`` lines of a running process (stdout and stderr are read by
    threads, so neither pipe ever fills up)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._errors = threading.Thread(target=self._read_stderr, daemon=True)
        self._thread.start()
        self._errors.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new:
                self.events.append(json.loads(line))
                self._new.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 120.0) -> None:
        """Block until ``predicate(events)`` holds (the process's lines so far)."""
        deadline = time.monotonic() + timeout
        with self._new:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._thread.is_alive()):
                    raise AssertionError(f"never happened; events: {self.kinds()}")
                self._new.wait(min(left, 0.5))

    def finish(self, timeout: float = 120.0) -> tuple[int, str]:
        """(exit code, stderr) once the process ends."""
        self.proc.wait(timeout=timeout)
        self._thread.join(10)
        self._errors.join(10)
        return self.proc.returncode, "".join(self.stderr)

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:  # a failed test must not leave the watch running
            self.proc.kill()
            self.proc.wait(timeout=30)

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def check_lines(events: list[dict[str, Any]]) -> None:
    """The --json lines follow the schema (the same check as check_events, on parsed JSON)."""
    from qdlpy.watcher import KINDS, SCHEMA

    for doc in events:
        assert doc["schema"] == SCHEMA and doc["qdlpy_version"] and doc["time"].endswith("Z")
        for key in KINDS[doc["event"]]:
            assert key in doc, (key, doc)
    assert events[-1]["event"] == "watch-finished"
