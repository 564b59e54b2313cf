"""A full disk: exit 9, whole chunks kept, a truthful manifest, and --resume finishing.

ENOSPC is injected under the region writer (``os.write`` to NAME.part fills up part-way
through a chunk), in process through ``qdlpy.cli.main.main``; a disk kept full by another
writer fails every write, the manifest's too. The up-front free-space
check is exercised both with a patched free-space figure and, as a subprocess, with a
simulated 1 TiB dump that no test disk holds.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
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
from qdlpy.dump import loop, pull
from qdlpy.dump.folder import PullFolder
from qdlpy.errors import NoSpace
from qdlpy.transport.sim import shared_model

SPEC = "fulldump?size=1M"  # DDRCS0_0 1 MiB, OCIMEM 192 KiB, CODERAM 160 KiB, load.cmm
CHUNK = 64 * 1024


class _FillingDisk:
    """os.write for the files ``counts(path)`` picks on a disk with ``budget`` bytes left: a
    short write, then ENOSPC; other files still fit. By default the region files
    (NAME.part): truncating the torn chunk freed room for the manifest."""

    def __init__(self, budget: int = 1 << 62,
                 counts: Callable[[str], bool] = lambda path: path.endswith(".part")) -> None:
        self.budget, self.counts = budget, counts
        self.real = os.write

    def write(self, fd: int, data: Any) -> int:
        try:
            counted = self.counts(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            counted = False
        if not counted:
            return self.real(fd, data)
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self.budget)
        self.budget -= n
        return self.real(fd, memoryview(data)[:n])


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> _FillingDisk:
    filling = _FillingDisk()
    monkeypatch.setattr(os, "write", filling.write)
    return filling


def test_enospc_mid_chunk_then_resume(tmp_path: Path, disk: _FillingDisk,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    # DDRCS0_0 fits; OCIMEM gets one whole chunk and 36 KiB of the next one.
    disk.budget = (1 << 20) + CHUNK + 36 * 1024
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--chunk-size", "64K", "--json"])
    assert code == 9
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # exactly one JSON document, on failure too
    assert doc["schema"] == "qdlpy.pull/2" and doc["status"] in FAILED_STATES
    assert doc["error"]["code"] == "no-space" and doc["error"]["exit_code"] == 9
    assert "--resume" in doc["error"]["hint"]

    m = load_manifest(out)
    assert m["status"] in ("partial", "error") and m["status"] != "ok"
    assert m["error"]["code"] == "no-space"
    regions = regions_by_name(m)
    expected = expected_regions(SPEC)
    ddr = regions["DDRCS0_0.BIN"]
    assert ddr["status"] == "complete"
    assert (out / "DDRCS0_0.BIN").read_bytes() == expected["DDRCS0_0.BIN"]
    oc = regions["OCIMEM.BIN"]
    assert oc["status"] != "ok"
    assert oc["bytes"] == CHUNK  # only the whole chunk counts
    part = (out / "OCIMEM.BIN.part").read_bytes()
    assert part == expected["OCIMEM.BIN"][:CHUNK]  # the torn half-chunk was cut off
    assert oc["sha256"] == sha256(part)
    assert regions["CODERAM.BIN"]["bytes"] == 0
    assert shared_model(SPEC).rebooted is False  # a failed pull never resets the device

    disk.budget = 1 << 62  # space freed
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    check_complete_folder(out, SPEC, doc, resumed=True)
    # The resumed pull read only what was missing.
    missing = sum(r["length"] for r in doc["regions"]) - (1 << 20) - CHUNK
    assert doc["stats"]["bytes_read"] == missing


def test_enospc_before_any_whole_chunk(tmp_path: Path, disk: _FillingDisk) -> None:
    disk.budget = 1000
    with pytest.raises(NoSpace):
        pull(f"sim:{SPEC}", output=tmp_path / "d", chunk_size=CHUNK)
    m = load_manifest(tmp_path / "d")
    assert m["status"] == "error"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["bytes"] == 0 and ddr["status"] != "complete"
    assert (tmp_path / "d" / "DDRCS0_0.BIN.part").stat().st_size == 0
    disk.budget = 1 << 62
    result = pull(f"sim:{SPEC}", output=tmp_path / "d", resume=True)
    assert result.status == "ok"
    check_complete_folder(tmp_path / "d", SPEC)


def test_free_space_checked_before_reading_a_byte(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PullFolder, "free_bytes", lambda self: 8 << 20)
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
    # No region, table or .part file; the lock file and the log are the pull's own.
    assert written <= {"manifest.json", "qdlpy.log", ".qdlpy.lock"}
    if "manifest.json" in written:
        m = load_manifest(out)
        assert m["status"] == "error" and m["error"]["code"] == "no-space"
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


# ---- a disk kept full by another writer ----------------------------------------------------


class FullDisk(_FillingDisk):
    """os.write for files in ``folder``: after ``budget`` bytes every write fails with
    ENOSPC, the manifest's too. Space freed by truncating a file is taken at once by the
    other writer, so the budget never grows back."""

    def __init__(self, folder: Path, budget: int) -> None:
        super().__init__(budget, counts=lambda path: path.startswith(str(folder)))


def test_a_full_disk_keeps_the_manifest_truthful_and_resume_counts_the_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = "fulldump?size=2M"
    out = tmp_path / "d"
    checkpoint = 256 * 1024
    monkeypatch.setattr(loop, "CHECKPOINT_BYTES", checkpoint)
    disk = FullDisk(out, (1 << 20) + 300 * 1024)  # the small files, and 1.3 MiB of DDRCS0_0
    monkeypatch.setattr(os, "write", disk.write)
    with pytest.raises(NoSpace):
        pull(f"sim:{spec}", output=out, chunk_size=CHUNK)
    monkeypatch.setattr(os, "write", disk.real)
    part = (out / "DDRCS0_0.BIN.part").read_bytes()
    m = load_manifest(out)
    # The rewrite after the failure could not be written; the last checkpoint stands.
    assert m["status"] == "running"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["bytes"] >= 3 * checkpoint and ddr["bytes"] % checkpoint == 0
    assert ddr["bytes"] <= len(part) and ddr["sha256"] == sha256(part[: ddr["bytes"]])
    assert part == expected_regions(spec)["DDRCS0_0.BIN"][: len(part)]

    # Space freed: exactly what is still missing beside the kept .part, and the margin.
    total = sum(r["length"] for r in m["regions"])
    monkeypatch.setattr(PullFolder, "free_bytes",
                        lambda self: total - len(part) + loop.SPACE_MARGIN)
    result = pull(f"sim:{spec}", output=out, resume=True)
    assert result.status == "ok"
    check_complete_folder(out, spec)
    assert result.bytes_read == total - ddr["bytes"]
