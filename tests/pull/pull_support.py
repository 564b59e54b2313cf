"""Oracles and checks shared by the pull tests (imported through tests/pull/conftest.py).

The expected region bytes come from the scenarios' own generators, not from the device
model that served them: kmemdump from ``scenarios.kmemdump.kernel_set`` (the byte-accurate
kmemdump_image set), fulldump/legacy32 from ``qdlpy.simulator.memory.address_pattern``.
What the device *serves* (table.bin, load.cmm) comes from a freshly built model.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from qdlpy.formats.dumpinfo import parse_dump_info
from qdlpy.progress import NullProgress
from qdlpy.protocols.table import parse_table
from qdlpy.simulator.faults import Faults
from qdlpy.simulator.memory import address_pattern
from qdlpy.simulator.model import DeviceModel
from qdlpy.simulator.scenarios import build_model, split_spec
from qdlpy.simulator.scenarios import fulldump as fulldump_scenario
from qdlpy.simulator.scenarios.kmemdump import kernel_set
from qdlpy.units import parse_size

SCHEMA = "qdlpy.pull/2"
CODERAM_BASE = 0x0020_0000
CODERAM_SIZE = 0x2_8000
OCIMEM_BASE = 0x1468_0000
DDR_BASE = 0x8000_0000


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())


def served_model(spec: str) -> DeviceModel:
    """A fresh device for ``spec``: what it serves as table and load.cmm."""
    return build_model(spec)


def expected_regions(spec: str) -> dict[str, bytes]:
    """Region file name (as the table names it) -> the bytes the pull must save."""
    name, _arg, knobs = split_spec(spec)
    params = {k: v for k, v in knobs.items() if k not in Faults.KEYS}
    out: dict[str, bytes] = {}
    if name == "kmemdump":
        for r in kernel_set(dict(params)).table(with_load_cmm=False):
            out[r.filename] = r.data[: r.length].ljust(r.length, b"\0")
    elif name == "fulldump":
        size = parse_size(params.get("size", "64M"))
        assert size <= 2 << 30, "tests keep fulldump in one DDR part"
        out["DDRCS0_0.BIN"] = address_pattern(DDR_BASE, size)
        out["OCIMEM.BIN"] = fulldump_scenario.ocimem_contents(0x3_0000)
        out["CODERAM.BIN"] = address_pattern(CODERAM_BASE, CODERAM_SIZE)
    elif name == "legacy32":
        out["EBICS0.BIN"] = address_pattern(DDR_BASE, 0x40_0000)
        out["OCIMEM.BIN"] = address_pattern(0x0862_0000, 0x2_0000)
        out["RST_STAT.BIN"] = b"\x01\x00\x00\x20"
        out["PMIC_PON.BIN"] = bytes(range(8))
        out["CODERAM.BIN"] = address_pattern(CODERAM_BASE, 0x8000)
    else:
        raise AssertionError(f"no oracle for scenario {name}")
    script = served_model(spec).load_cmm
    assert script is not None
    out["load.cmm"] = script
    return out


def load_manifest(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    assert doc["schema"] == SCHEMA
    return doc


def regions_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["raw_filename"]: r for r in manifest["regions"]}


def check_complete_folder(out: Path, spec: str, doc: dict[str, Any] | None = None, *,
                          resumed: bool = False) -> dict[str, Any]:
    """Everything a complete pull of ``spec`` into ``out`` must hold; returns the manifest.

    ``doc`` is the pull's --json document; unless ``resumed``, it must have read every
    byte exactly once."""
    m = load_manifest(out)
    assert m["status"] == "ok", m.get("error")
    model = served_model(spec)
    table = model.personality.table
    served = parse_table(table, is64=model.personality.is64)
    assert (out / "table.bin").read_bytes() == table
    assert m["table"]["sha256"] == sha256(table)
    assert m["table"]["is64"] is model.personality.is64
    assert m["table"]["entries"] == len(served)
    assert [r["raw_filename"] for r in m["regions"]] == [r.filename for r in served]
    assert [int(r["base"], 16) for r in m["regions"]] == [r.base for r in served]
    expected = expected_regions(spec)
    assert sorted(expected) == sorted(r.filename for r in served)
    for r in m["regions"]:
        path = out / r["filename"]
        data = path.read_bytes()
        assert r["status"] == "complete", r
        assert r["bytes"] == r["length"] == len(data), r["filename"]
        assert r["sha256"] == sha256(data), r["filename"]  # recomputed independently
        assert data == expected[r["raw_filename"]], f"{r['filename']} differs from the device"
        assert r["error"] is None
    assert (out / "load.cmm").read_bytes() == model.load_cmm
    info = parse_dump_info((out / "dump_info.txt").read_text())
    assert [(e.filename, e.base, e.length) for e in info] == \
        [(r["filename"], int(r["base"], 16), r["length"]) for r in m["regions"]]
    assert (out / "qdlpy.log").stat().st_size > 0
    leftovers = [p.name for p in out.iterdir() if p.name.endswith((".part", ".tmp"))]
    assert leftovers == []
    if doc is not None:
        assert doc["schema"] == SCHEMA
        assert doc["status"] == "ok"
        assert doc["error"] is None
        assert doc["regions"] == m["regions"]
        assert Path(doc["output_dir"]).resolve() == out.resolve()
        if not resumed:
            assert doc["stats"]["bytes_read"] == sum(r["length"] for r in m["regions"])
    return m


def region_files(out: Path) -> dict[str, bytes]:
    """Every file a pull saved that is not a log or manifest (region files, table, scripts)."""
    skip = {"manifest.json", "qdlpy.log"}
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.is_file() and p.name not in skip and not p.name.endswith(".elf")}


def free_port() -> int:
    """A loopback port with nobody listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def wait_for_file_size(path: Path, at_least: int, timeout: float = 60.0) -> int:
    """Poll until ``path`` holds ``at_least`` bytes (used to act mid-pull)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = -1
        if size >= at_least:
            return size
        time.sleep(0.005)
    raise AssertionError(f"{path} never reached {at_least} bytes")


# A failed pull's --json document carries the manifest's status (what is on disk) and an
# "error" object; "error" alone when the failure came before the folder existed.
FAILED_STATES = ("failed", "partial", "interrupted", "error")


class StopAfterBytes(NullProgress):
    """A progress sink that asks the pull to stop (sets ``event``, as Ctrl-C or a GUI's
    cancel button would) once ``limit`` bytes were saved; it records how regions ended."""

    def __init__(self, event: threading.Event, limit: int) -> None:
        self.event, self.limit, self.saved = event, limit, 0
        self.ends: list[tuple[str, str]] = []

    def advance(self, n: int) -> None:
        self.saved += n
        if self.saved >= self.limit:
            self.event.set()

    def region_end(self, name: str, status: str) -> None:
        self.ends.append((name, status))
