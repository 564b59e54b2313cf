"""Edge cases found in review: 16-byte regions, partial selections, --force, failure details."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import run_qdlpy
from pull_support import load_manifest, region_files

import qdlpy
from qdlpy.transport import sim


def _dir_dump(folder: Path, sizes: dict[str, int]) -> None:
    """A dump folder for the dir: scenario: one region per (file, size), 4 KiB apart."""
    folder.mkdir()
    lines = []
    for i, (name, size) in enumerate(sizes.items()):
        (folder / name).write_bytes(os.urandom(size))
        lines.append(f"1 0x{0x8000_0000 + i * 0x10_0000:x} {size} {name[:-4]} {name}")
    (folder / "dump_info.txt").write_text("\n".join(lines) + "\n")


def test_regions_of_16_bytes_and_chunk_plus_16_are_pulled_exactly(tmp_path: Path) -> None:
    # A 16-byte region (cpu masks with NR_CPUS=128) and a tail of 16 bytes after whole chunks:
    # the host must never ask for exactly 16 bytes, and must still get every byte.
    src = tmp_path / "src"
    _dir_dump(src, {"S16.BIN": 16, "T.BIN": 4096 + 16, "O.BIN": 100})
    proc = run_qdlpy("pull", "-t", f"sim:dir:{src}", "-o", tmp_path / "out",
                     "--chunk-size", "4096", "--json")
    assert proc.returncode == 0, proc.stderr
    for name in ("S16.BIN", "T.BIN", "O.BIN"):
        assert (tmp_path / "out" / name).read_bytes() == (src / name).read_bytes()


def test_a_partial_selection_keeps_the_device_waiting(tmp_path: Path) -> None:
    # Resetting after pulling only some regions would throw the rest of the dump away.
    spec = "fulldump?size=1M"
    r1 = qdlpy.pull(f"sim:{spec}", output=tmp_path / "a", regions=["OCIMEM*"], elf=False)
    assert r1.manifest.after == "none"
    assert not sim.shared_model(spec).rebooted
    r2 = qdlpy.pull(f"sim:{spec}", output=tmp_path / "a", resume=True, elf=False)
    assert r2.status == "ok" and r2.manifest.after == "reset"
    assert {r.status for r in r2.regions} == {"complete"}


def test_force_never_replaces_files_already_in_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "OCIMEM.BIN").write_bytes(b"somebody else's file")
    result = qdlpy.pull("sim:fulldump?size=1M", output=out, force=True, elf=False)
    assert (out / "OCIMEM.BIN").read_bytes() == b"somebody else's file"
    rec = next(r for r in result.regions if r.raw_filename == "OCIMEM.BIN")
    assert rec.filename == "OCIMEM~2.BIN" and (out / rec.filename).stat().st_size == rec.length


def test_force_refuses_to_mix_two_pulls(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_qdlpy("pull", "-t", "sim:legacy32", "-o", out, "--no-elf").returncode == 0
    before = region_files(out)
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M", "-o", out, "--force", "--json")
    assert proc.returncode == 9
    assert json.loads(proc.stdout)["error"]["code"] == "output-exists"
    assert region_files(out) == before


def test_a_failed_pull_names_its_folder_and_the_resume_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M&dead_at=0x80010000", "-o", out,
                     "--json", "--io-timeout", "0.2")
    assert proc.returncode == 7
    err = json.loads(proc.stdout)["error"]
    assert err["output_dir"] == str(out)
    assert err["resume"] == f"qdlpy pull -o {out} --resume"
    assert err["manifest_status"] == load_manifest(out)["status"] == "error"
    assert load_manifest(out)["after"] == "none"
    assert f"continue with: qdlpy pull -o {out} --resume" in proc.stderr


def test_after_a_device_nak_no_resume_is_offered(tmp_path: Path) -> None:
    """0x19 leaves the device accepting only RESET: --resume on it cannot work."""
    out = tmp_path / "out"
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M&eoi_at=0x80010000", "-o", out,
                     "--json")
    assert proc.returncode == 6
    err = json.loads(proc.stdout)["error"]
    assert err["output_dir"] == str(out) and "resume" not in err
    assert "--exclude 'DDRCS0_0.BIN'" in err["hint"] and "accepts only RESET" in err["hint"]
    assert "--resume" not in proc.stderr and f"saved so far: {out}" in proc.stderr


def test_keep_going_skips_a_region_that_never_answers(tmp_path: Path) -> None:
    spec = "sim:fulldump?size=1M&dead_at=0x14680000"  # OCIMEM never answers
    proc = run_qdlpy("pull", "-t", spec, "-o", tmp_path / "k", "--keep-going",
                     "--io-timeout", "0.2", "--json")
    assert proc.returncode == 8, proc.stderr
    doc = json.loads(proc.stdout)
    status = {r["filename"]: r["status"] for r in doc["regions"]}
    assert status == {"DDRCS0_0.BIN": "complete", "OCIMEM.BIN": "failed",
                      "CODERAM.BIN": "complete", "load.cmm": "complete"}
    assert doc["status"] == "partial" and doc["error"]["code"] == "partial-dump"
    assert doc["after"] == "none"  # a partial dump never resets the device
    assert not (tmp_path / "k" / "OCIMEM.BIN").exists()


def test_without_keep_going_a_dead_region_stops_the_pull(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M&dead_at=0x14680000", "-o",
                     tmp_path / "k", "--io-timeout", "0.2", "--json")
    assert proc.returncode == 7, proc.stderr
    doc = json.loads(proc.stdout)
    status = {r["filename"]: r["status"] for r in doc["regions"]}
    assert status["DDRCS0_0.BIN"] == "complete" and status["CODERAM.BIN"] == "pending"
    assert "--resume" in doc["error"]["hint"]
