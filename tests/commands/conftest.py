"""Fixtures for the info / load / reset tests: generated images and ways to run qdlpy.

Images are built here with struct, never checked in:

* ``make_elf64``: a valid little-endian ELF64 executable with PT_LOAD segments at
  distinct file offsets (a gap between them the device must not read) and a PT_NOTE the
  device must skip;
* ``make_mbn``: a legacy MBN, a 40-byte header whose u32 at offset 16 gives the size of
  what follows (``declared`` lets a test lie about it).

CLI runs: ``cli`` calls ``qdlpy.cli.main.main(argv)`` in process (stdout/stderr captured);
``run_qdlpy`` runs the installed console script as a subprocess (env added);
``simulator`` starts ``qdlpy simulate`` on a free port and yields its tcp: URI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helpers
import pytest

from qdlpy.transport import sim, usb_backend

PT_LOAD = 1
PT_NOTE = 4


def pattern(n: int, seed: int) -> bytes:
    """n bytes where a shifted, dropped or repeated byte shows (a 251-periodic ramp)."""
    return bytes((i * 7 + seed) % 251 for i in range(n))


def elf64_bytes(segments: list[int], *, gap: int = 0x100, note: int = 0x40) -> bytes:
    """ELF64 LE executable: ehdr, phdrs (PT_NOTE + one PT_LOAD per size), then the data."""
    phnum = 1 + len(segments)
    off = 0x40 + 56 * phnum
    phdrs = b""
    blobs = b""
    # PT_NOTE first: present in the file, never loaded.
    note_data = pattern(note, 99)
    phdrs += struct.pack("<IIQQQQQQ", PT_NOTE, 4, off, 0, 0, note, note, 4)
    blobs += note_data
    off += note
    for i, size in enumerate(segments):
        blobs += b"\xee" * gap  # bytes between segments the device never asks for
        off += gap
        vaddr = 0x1480_0000 + i * 0x10_0000
        phdrs += struct.pack("<IIQQQQQQ", PT_LOAD, 5, off, vaddr, vaddr, size, size, 0x1000)
        blobs += pattern(size, i)
        off += size
    ehdr = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
        2, 0xB7, 1, 0x1480_0000, 0x40, 0, 0, 0x40, 56, phnum, 64, 0, 0,
    )
    assert len(ehdr) == 0x40
    return ehdr + phdrs + blobs


def mbn_bytes(payload: int, *, declared: int | None = None) -> bytes:
    """Legacy MBN: 10 x u32 header (image_size at 16, code_size at 20), then the payload."""
    size = payload if declared is None else declared
    header = struct.pack("<10I", 13, 3, 0, 0x0800_0000, size, size, 0, 0, 0, 0)
    return header + pattern(payload, 5)


@pytest.fixture
def make_elf64(tmp_path: Path) -> Callable[..., Path]:
    def make(segments: list[int], name: str = "prog_firehose.elf", **kw: int) -> Path:
        path = tmp_path / name
        path.write_bytes(elf64_bytes(segments, **kw))
        return path

    return make


@pytest.fixture
def make_mbn(tmp_path: Path) -> Callable[..., Path]:
    def make(payload: int, name: str = "extra.mbn", declared: int | None = None) -> Path:
        path = tmp_path / name
        path.write_bytes(mbn_bytes(payload, declared=declared))
        return path

    return make


@dataclasses.dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.out)
        return doc


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run ``qdlpy ARGV`` in process (the real click group and exit-code contract)."""
    from qdlpy.cli.main import main

    def run(*argv: str) -> Run:
        capsys.readouterr()
        root = logging.getLogger("qdlpy")
        handlers = list(root.handlers)
        try:
            code = main(list(argv))
        finally:
            for h in root.handlers[:]:
                if h not in handlers:  # main() adds a stderr handler per call
                    root.removeHandler(h)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
def run_qdlpy() -> Callable[..., Run]:
    def run(*argv: str, env: dict[str, str] | None = None) -> Run:
        proc = helpers.run_qdlpy(*argv, env=env, timeout=120)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


Served = tuple[str, "subprocess.Popen[str]"]  # (the device's tcp: URI, the simulator process)


@contextlib.contextmanager
def _serve(scenario: str) -> Iterator[Served]:
    sim = helpers.Simulator(scenario)
    try:
        yield sim.uri, sim.proc
    finally:
        sim.stop(signal.SIGKILL)


@pytest.fixture
def simulator() -> Callable[[str], contextlib.AbstractContextManager[Served]]:
    return _serve


@pytest.fixture(autouse=True)
def _no_inherited_choices(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process runs see no QDLPY_* from the environment, fresh ``sim:`` devices and a
    fresh USB backend."""
    for key in list(os.environ):
        if key.startswith("QDLPY_"):
            monkeypatch.delenv(key)
    monkeypatch.setattr(sim, "_MODELS", {})  # each test gets its own simulated devices
    usb_backend.reset_backend_cache()
    yield
    usb_backend.reset_backend_cache()
