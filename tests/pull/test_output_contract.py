"""The output folder and command-line contract of `qdlpy pull`.

Default folder name qdlpy-<label>-<UTC stamp>; a non-empty folder is refused (exit 9)
unless --resume or --force, and nothing is ever deleted; --region/--exclude globs;
--chunk-size bounds (exit 2); `--json` prints exactly one JSON document on stdout on
success and on failure; the exit codes pull can produce (0, 2, 3, 6, 7, 9, 130: 7 and 130
are asserted in test_lost_device.py and test_interrupt.py).
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest
from helpers import run_qdlpy
from pull_support import (
    FAILED_STATES,
    check_complete_folder,
    free_port,
    load_manifest,
    region_files,
    regions_by_name,
)

SPEC = "fulldump?size=1M"


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)


# ---- the folder ---------------------------------------------------------------------------


def test_default_folder_name_is_label_and_utc_stamp(tmp_path: Path) -> None:
    before = utc_now()
    # A far-from-UTC local zone: a local-time stamp would be 9 hours off.
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", cwd=tmp_path, env={"TZ": "JST-9"})
    after = utc_now()
    assert proc.returncode == 0, proc.stderr
    made = [p.name for p in tmp_path.iterdir()]
    assert len(made) == 1
    match = re.fullmatch(r"qdlpy-fulldump-(\d{8}T\d{6}Z)", made[0])
    assert match, made
    stamp = datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ")
    assert before <= stamp <= after
    assert proc.stdout.strip().splitlines()[-1].endswith(made[0])  # the folder on stdout
    check_complete_folder(tmp_path / made[0], SPEC)


def test_non_empty_folder_is_refused_and_untouched(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--json")
    assert proc.returncode == 9, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] in FAILED_STATES and doc["error"]["code"] == "output-exists"
    assert "--resume" in doc["error"]["hint"] and "--force" in doc["error"]["hint"]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_force_adds_to_a_folder_and_deletes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "old.BIN.part").write_bytes(b"keep")
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "old.BIN.part").read_bytes() == b"keep"
    m = load_manifest(out)
    assert m["status"] == "ok"
    for r in m["regions"]:
        assert (out / r["filename"]).stat().st_size == r["length"]


def test_resume_of_a_complete_folder_reads_nothing_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    assert run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--no-elf").returncode == 0
    (out / "notes.txt").write_text("mine")
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--resume", "--json", "--no-elf")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stats"]["bytes_read"] == 0
    check_complete_folder(out, SPEC, doc, resumed=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_pulls_again_a_region_changed_since_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    assert run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--no-elf").returncode == 0
    with open(out / "OCIMEM.BIN", "r+b") as f:
        f.write(b"\xff\xff")  # bit rot, or someone's edit
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--resume", "--json", "--no-elf")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stats"]["bytes_read"] == regions_by_name(doc)["OCIMEM.BIN"]["length"]
    assert any("OCIMEM.BIN" in w for w in doc["warnings"])
    check_complete_folder(out, SPEC, doc, resumed=True)


def test_resume_refuses_another_dump(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    # A folder with regions still to pull (a finished one is not even reconnected to).
    assert run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--no-elf",
                     "--region", "DDRCS*").returncode == 0
    before = region_files(out)
    proc = run_qdlpy("pull", "-t", "sim:legacy32", "-o", out, "--resume")
    assert proc.returncode == 9, proc.stderr
    assert "different region table" in proc.stderr
    assert region_files(out) == before
    assert load_manifest(out)["status"] == "ok"


def test_resume_needs_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    out.mkdir()
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--resume")
    assert proc.returncode == 9, proc.stderr
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "--resume", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr  # --resume without -o DIR


# ---- selection ----------------------------------------------------------------------------


def test_region_and_exclude_globs(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--json", "--no-elf",
                     "-r", "*.BIN", "-r", "load.cmm", "-x", "ddr*", "-x", "CODERAM")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    status = {r["filename"]: r["status"] for r in doc["regions"]}
    assert status == {"DDRCS0_0.BIN": "skipped", "OCIMEM.BIN": "complete",
                      "CODERAM.BIN": "skipped", "load.cmm": "complete"}
    assert doc["selection"] == {"include": ["*.BIN", "load.cmm"], "exclude": ["ddr*", "CODERAM"]}
    assert not (out / "DDRCS0_0.BIN").exists() and not (out / "CODERAM.BIN").exists()
    assert doc["stats"]["bytes_read"] == sum(r["length"] for r in doc["regions"]
                                             if r["status"] == "complete")
    # A later --resume without the filters pulls the skipped regions too.
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--resume", "--no-elf")
    assert proc.returncode == 0, proc.stderr
    check_complete_folder(out, SPEC)


def test_region_glob_matches_descriptions_too(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", tmp_path / "d", "--json", "--no-elf",
                     "-r", "md_Kvmcorein*")
    assert proc.returncode == 0, proc.stderr
    done = [r["filename"] for r in json.loads(proc.stdout)["regions"] if r["status"] == "complete"]
    assert done == ["md_Kvmcorein2.BIN"]


def test_a_selection_that_matches_nothing_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--json", "-r", "md_K*",
                     "-x", "load.cmm")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["error"]["code"] == "invalid-argument"
    for name in ("DDRCS0_0.BIN", "OCIMEM.BIN", "CODERAM.BIN", "load.cmm"):
        assert name in doc["error"]["message"]  # the names there are to choose from
    assert not out.exists()  # no folder made for nothing
    # Everything excluded is the same mistake.
    assert run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "-x", "*").returncode == 2


# ---- chunk size ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["512", "1M"])
def test_chunk_size_limits_work(tmp_path: Path, size: str) -> None:
    spec = "fulldump?size=2M"
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{spec}", "-o", out, "--chunk-size", size, "--json",
                     "--no-elf", *(["-r", "CODERAM.BIN"] if size == "512" else []))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["chunk_size"] == int(size.replace("M", "")) * (1 << 20 if "M" in size else 1)
    assert all(r["status"] in ("complete", "skipped") for r in doc["regions"])


@pytest.mark.parametrize("size", ["2M", "1048577", "100", "511"])
def test_chunk_size_out_of_bounds_is_a_usage_error(tmp_path: Path, size: str) -> None:
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--chunk-size", size,
                     "--json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] in FAILED_STATES and doc["error"]["code"] == "invalid-argument"
    assert "chunk-size" in doc["error"]["message"]


def test_chunk_size_that_is_not_a_size_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--chunk-size", "lots")
    assert proc.returncode == 2
    assert not (tmp_path / "d").exists()


def test_bad_chunk_size_touches_neither_device_nor_folder(tmp_path: Path) -> None:
    out = tmp_path / "d"
    assert run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--chunk-size", "2M").returncode == 2
    assert not out.exists()
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--chunk-size", "1M")
    assert proc.returncode == 0, proc.stderr


# ---- exit codes and --json on failure --------------------------------------------------------


def test_closed_tcp_port_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "d"
    proc = run_qdlpy("pull", "-t", f"tcp:127.0.0.1:{free_port()}", "-o", out, "--timeout", "1",
                     "--json")
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "qdlpy.pull/2" and doc["status"] in FAILED_STATES
    assert doc["error"]["code"] == "no-device" and doc["error"]["hint"]
    assert not out.exists()  # nothing is created before a device answers


def test_unknown_transport_and_bad_after_are_usage_errors(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", "pigeon:1", "-o", tmp_path / "d", "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["code"] == "invalid-argument"
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--after", "reboot")
    assert proc.returncode == 2
    assert not (tmp_path / "d").exists()


def test_eoi_exit_6_json_document(tmp_path: Path) -> None:
    # The second 64 KiB read of DDRCS0_0 covers the unreadable address.
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M&eoi_at=0x80010000", "-o",
                     tmp_path / "d", "--json", "--chunk-size", "64K")
    assert proc.returncode == 6, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one document: json.loads rejects trailing data
    assert doc["schema"] == "qdlpy.pull/2" and doc["status"] in FAILED_STATES
    err = doc["error"]
    assert err["code"] == "device-nak" and err["exit_code"] == 6
    assert err["status"] == 0x19 and err["status_name"] == "NAK_INVALID_MEMORY_READ"
    assert "invalid memory read" in err["message"] and err["hint"]


def test_success_json_is_one_document_and_progress_stays_off(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--json")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "qdlpy.pull/2" and doc["status"] == "ok"
    assert "pulling" not in proc.stderr and "MiB/s" not in proc.stderr


def test_resume_of_a_finished_folder_does_not_touch_the_device(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    assert run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--no-elf").returncode == 0
    before = region_files(out)
    # tcp to a closed port: any attempt to connect would fail with exit 3.
    proc = run_qdlpy("pull", "-t", "tcp:127.0.0.1:1", "--timeout", "1", "-o", out, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to pull" in proc.stderr
    assert region_files(out) == before
