"""A full disk: exit 9, whole chunks kept, a truthful manifest, and --resume finishing.

ENOSPC is injected under the region writer (the file object it writes to fills up part-way
through a chunk), in process through ``qdlpy.cli.main.main``. The up-front free-space
check is exercised both with a patched free-space figure and, as a subprocess, with a
simulated 1 TiB dump that no test disk holds.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import run_qdlpy
from pull_support import (
    FAILED_STATES,
    check_complete_folder,
    expected_regions,
    load_manifest,
    regions_by_name,
    sha256,
)

from qdlpy.cli.main import main
from qdlpy.dump import engine, pull
from qdlpy.dump.writer import RegionWriter
from qdlpy.errors import NoSpace
from qdlpy.transport.sim import shared_model

SPEC = "fulldump?size=1M"  # DDRCS0_0 1 MiB, OCIMEM 192 KiB, CODERAM 160 KiB, load.cmm
CHUNK = 64 * 1024


class _FillingFile:
    """A region file on a disk with ``budget`` bytes left: short write, then ENOSPC."""

    def __init__(self, f: Any, budget: list[int]) -> None:
        self._f = f
        self._budget = budget

    def write(self, data: Any) -> int:
        if self._budget[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self._budget[0])
        self._budget[0] -= n
        written: int = self._f.write(data[:n])
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@pytest.fixture
def disk_budget(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    budget = [1 << 62]

    class FillingWriter(RegionWriter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.f = _FillingFile(self.f, budget)  # type: ignore[assignment]

    monkeypatch.setattr(engine, "RegionWriter", FillingWriter)
    return budget


def test_enospc_mid_chunk_then_resume(tmp_path: Path, disk_budget: list[int],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    # DDRCS0_0 fits; OCIMEM gets one whole chunk and 36 KiB of the next one.
    disk_budget[0] = (1 << 20) + CHUNK + 36 * 1024
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--chunk-size", "64K", "--json"])
    assert code == 9
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # exactly one JSON document, on failure too
    assert doc["schema"] == "qdlpy.pull/1" and doc["status"] in FAILED_STATES
    assert doc["error"]["code"] == "no-space" and doc["error"]["exit_code"] == 9
    assert "--resume" in doc["error"]["hint"]

    m = load_manifest(out)
    assert m["status"] in ("partial", "failed") and m["status"] != "complete"
    assert m["error"]["code"] == "no-space"
    regions = regions_by_name(m)
    expected = expected_regions(SPEC)
    ddr = regions["DDRCS0_0.BIN"]
    assert ddr["status"] == "complete"
    assert (out / "DDRCS0_0.BIN").read_bytes() == expected["DDRCS0_0.BIN"]
    oc = regions["OCIMEM.BIN"]
    assert oc["status"] != "complete"
    assert oc["bytes"] == CHUNK  # only the whole chunk counts
    part = (out / "OCIMEM.BIN.part").read_bytes()
    assert part == expected["OCIMEM.BIN"][:CHUNK]  # the torn half-chunk was cut off
    assert oc["sha256"] == sha256(part)
    assert regions["CODERAM.BIN"]["bytes"] == 0
    assert shared_model(SPEC).rebooted is False  # a failed pull never resets the device

    disk_budget[0] = 1 << 62  # space freed
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    check_complete_folder(out, SPEC, doc, resumed=True)
    # The resumed pull read only what was missing.
    missing = sum(r["length"] for r in doc["regions"]) - (1 << 20) - CHUNK
    assert doc["stats"]["bytes_read"] == missing


def test_enospc_before_any_whole_chunk(tmp_path: Path, disk_budget: list[int]) -> None:
    disk_budget[0] = 1000
    with pytest.raises(NoSpace):
        pull(f"sim:{SPEC}", output=tmp_path / "d", chunk_size=CHUNK)
    m = load_manifest(tmp_path / "d")
    assert m["status"] == "failed"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["bytes"] == 0 and ddr["status"] != "complete"
    assert (tmp_path / "d" / "DDRCS0_0.BIN.part").stat().st_size == 0
    disk_budget[0] = 1 << 62
    result = pull(f"sim:{SPEC}", output=tmp_path / "d", resume=True)
    assert result.status == "complete"
    check_complete_folder(tmp_path / "d", SPEC)


def test_free_space_checked_before_reading_a_byte(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_free_space", lambda folder: 8 << 20)
    spec = "fulldump?size=64M"
    device = shared_model(spec)
    with pytest.raises(NoSpace) as info:
        pull(f"sim:{spec}", output=tmp_path / "d")
    assert info.value.exit_code == 9
    assert "free" in info.value.message
    reads = device.machine.reads
    assert reads <= 1  # the region table at most: no region data was read
    out = tmp_path / "d"
    written = {p.name for p in out.iterdir()}
    assert written <= {"manifest.json", "qdlpy.log"}  # no region, table or .part file
    if "manifest.json" in written:
        m = load_manifest(out)
        assert m["status"] == "failed" and m["error"]["code"] == "no-space"
        assert all(r["bytes"] == 0 for r in m["regions"])


TIB = 1 << 40


@pytest.mark.skipif(shutil.disk_usage("/tmp").free >= 2 * TIB,
                    reason="this disk has room for a simulated 1 TiB dump")
def test_free_space_check_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    if shutil.disk_usage(tmp_path).free >= 2 * TIB:
        pytest.skip("the test folder's disk has room for a simulated 1 TiB dump")
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1T", "-o", out, "--json")
    assert proc.returncode == 9, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] in FAILED_STATES and doc["error"]["code"] == "no-space"
    assert not [p for p in out.iterdir() if p.name.endswith((".BIN", ".part", ".bin", ".cmm"))]
