"""A pull that stops early still assembles minidump.elf from the regions it saved.

After a device NAK (0x19), with --keep-going failures, after a timeout or an interrupt, the
kernel ELF is built from the complete regions: byte-identical to a full pull's when every
kernel region was saved, otherwise with the missing ones listed in the JSON's ``elf``.
pyelftools reads each ELF and every PT_LOAD is checked against the region file at its
physical address (or, for a region that was not saved, against holding none of its bytes).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from helpers import run_qdlpy
from pull_support import load_manifest

from qdlpy.cli.main import main
from qdlpy.dump import pull
from qdlpy.errors import Interrupted
from qdlpy.progress import NullProgress

KMEMDUMP = "kmemdump"
SUBSYSTEM_BASE = 0x8B80_0000  # md_ADSP_XYZ.BIN: the first region after every kernel region
PRB_DESC = 0x81A0_1EC0  # md_Kprb_desc25.BIN, a kernel region half-way through the table


@pytest.fixture(scope="module")
def full_elf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("full") / "dump"
    assert main(["pull", "-t", f"sim:{KMEMDUMP}", "-o", str(out), "-q"]) == 0
    return (out / "minidump.elf").read_bytes()


def loads_by_region(out: Path) -> dict[str, Any]:
    """Every PT_LOAD of out/minidump.elf, keyed by the region at its physical address."""
    regions = {int(r["base"], 16): r for r in load_manifest(out)["regions"]}
    found: dict[str, Any] = {}
    with open(out / "minidump.elf", "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg.header.p_type != "PT_LOAD":
                continue
            region = regions[seg.header.p_paddr]
            found[region["filename"]] = (region, seg.header, seg.data())
    return found


def check_loads(out: Path) -> set[str]:
    """Complete regions' PT_LOADs hold their file's bytes; the others hold none of theirs.
    Returns the names of the regions that were not saved."""
    unsaved = set()
    for name, (region, header, data) in loads_by_region(out).items():
        if region["status"] == "complete":
            saved = (out / name).read_bytes()
            assert header.p_filesz == len(saved) and data == saved, name
        else:
            unsaved.add(name)
            assert not (out / name).exists()
            assert header.p_filesz == 0 or data == bytes(len(data)), name
    return unsaved


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["pull", *args, "--json"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, doc


def test_nak_after_the_kernel_regions_gives_the_full_pulls_elf(
        tmp_path: Path, full_elf: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    code, doc = run_json(capsys, "-t", f"sim:{KMEMDUMP}?eoi_at=0x{SUBSYSTEM_BASE:x}",
                         "-o", str(out))
    assert code == 6 and doc["error"]["code"] == "device-nak"
    assert doc["elf"]["output"] == str(out / "minidump.elf")
    assert doc["elf"]["kernel"]["regions_missing"] == 0
    assert (out / "minidump.elf").read_bytes() == full_elf
    assert check_loads(out) == set()
    assert load_manifest(out)["elf"] == doc["elf"]


def test_nak_inside_a_kernel_region_lists_the_holes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    code, doc = run_json(capsys, "-t", f"sim:{KMEMDUMP}?eoi_at=0x{PRB_DESC + 0x100:x}",
                         "-o", str(out), "--chunk-size", "512")
    assert code == 6
    unsaved = check_loads(out)
    assert "md_Kprb_desc25.BIN" in unsaved and len(unsaved) > 10
    listed = {p["filename"] for p in doc["elf"]["kernel"]["missing"]}
    assert listed == unsaved
    assert doc["elf"]["kernel"]["regions_missing"] == len(unsaved)


def test_keep_going_failures_still_give_an_elf(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    code, doc = run_json(capsys, "-t", f"sim:{KMEMDUMP}?dead_at=0x{PRB_DESC:x}", "-o", str(out),
                         "--keep-going", "--io-timeout", "0.2")
    assert code == 8 and doc["status"] == "partial"
    assert check_loads(out) == {"md_Kprb_desc25.BIN"}
    assert [p["filename"] for p in doc["elf"]["kernel"]["missing"]] == ["md_Kprb_desc25.BIN"]


def test_a_timeout_still_gives_an_elf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    code, doc = run_json(capsys, "-t", f"sim:{KMEMDUMP}?dead_at=0x{PRB_DESC:x}", "-o", str(out),
                         "--io-timeout", "0.2")
    assert code == 7 and "--resume" in doc["error"]["hint"]
    unsaved = check_loads(out)
    assert "md_Kprb_desc25.BIN" in unsaved
    assert {p["filename"] for p in doc["elf"]["kernel"]["missing"]} == unsaved


class StopAfter(NullProgress):
    """A progress sink that asks the pull to stop once ``last`` is saved."""

    def __init__(self, event: threading.Event, last: str) -> None:
        self.event, self.last = event, last

    def region_end(self, name: str, status: str) -> None:
        if name == self.last:
            self.event.set()


def test_an_interrupt_after_the_kernel_regions_gives_the_full_pulls_elf(
        tmp_path: Path, full_elf: bytes) -> None:
    stop = threading.Event()
    out = tmp_path / "dump"
    with pytest.raises(Interrupted):
        pull(f"sim:{KMEMDUMP}", output=out, interrupt=stop,
             progress=StopAfter(stop, "md_Kunknown53.BIN"))
    m = load_manifest(out)
    assert m["status"] == "interrupted"
    assert {r["status"] for r in m["regions"] if r["kind"] == "kernel"} == {"complete"}
    assert (out / "minidump.elf").read_bytes() == full_elf
    assert m["elf"]["output"] == str(out / "minidump.elf")


def test_no_elf_is_still_honoured_when_stopping_early(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    code, doc = run_json(capsys, "-t", f"sim:{KMEMDUMP}?eoi_at=0x{SUBSYSTEM_BASE:x}",
                         "-o", str(out), "--no-elf")
    assert code == 6 and doc["elf"] is None
    assert not (out / "minidump.elf").exists()


def test_the_human_output_names_the_elf_of_a_stopped_pull(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{KMEMDUMP}?eoi_at=0x{PRB_DESC:x}", "-o", out,
                     "--progress", "none", env={"COLUMNS": "300"})
    assert proc.returncode == 6, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("ELF from the regions"))
    missing = load_manifest(out)["elf"]["kernel"]["regions_missing"]
    assert missing > 0
    assert line == (f"ELF from the regions saved: {out / 'minidump.elf'} ({missing} kernel "
                    "region(s) missing, listed in manifest.json's elf)")
