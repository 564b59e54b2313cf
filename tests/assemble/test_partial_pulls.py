"""A pull that stopped early still assembles what it has (docs/formats.md#partial-regions).

The folders here are what qdlpy pull itself leaves when the device refuses a read (NAK
0x19, injected with the simulator's eoi_at knob): manifest.json with the regions after the
failure 'pending', the failed one's NAME.part. Only regions the manifest marks complete
give bytes; the ELF is byte-identical to a full pull's when every kernel region is
complete, and otherwise has the missing ones as holes, listed in the report.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from helpers import qdlpy_command

from qdlpy.assemble import assemble
from qdlpy.cli.main import main
from qdlpy.dump import pull
from qdlpy.errors import DeviceNak, InputError

SIM = "sim:kmemdump?arch=x86_64"


def _pulled(tmp_path: Path, name: str, fault: str = "") -> Path:
    out = tmp_path / name
    try:
        pull(SIM + fault, output=out, elf=False, after="none")
    except DeviceNak:
        assert fault, "only the faulty device refuses a read"
    return out


def _manifest(folder: Path) -> dict[str, dict[str, object]]:
    doc = json.loads((folder / "manifest.json").read_text())
    return {r["filename"]: r for r in doc["regions"]}


def _base_of(folder: Path, filename: str) -> int:
    return int(str(_manifest(folder)[filename]["base"]), 16)


def _loads(path: Path) -> dict[int, tuple[int, bytes]]:
    """paddr -> (p_flags, the PT_LOAD's file bytes), read with pyelftools."""
    with open(path, "rb") as f:
        elf = ELFFile(io.BytesIO(f.read()))
        return {s["p_paddr"]: (s["p_flags"], s.data()) for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD"}


def test_stopped_after_the_kernel_regions_gives_the_full_pulls_elf(tmp_path: Path) -> None:
    full = _pulled(tmp_path, "full")
    adsp = _base_of(full, "md_ADSP_XYZ.BIN")  # the first region after the kernel's
    stopped = _pulled(tmp_path, "stopped", f"&eoi_at=0x{adsp:x}")
    states = {r["status"] for r in _manifest(stopped).values()}
    assert {"failed", "pending"} <= states  # the device refused, the rest was never asked
    assemble(full, skip_groups=("fulldump",))
    report = assemble(stopped, skip_groups=("fulldump",))  # what pull does after a NAK
    assert (stopped / "minidump.elf").read_bytes() == (full / "minidump.elf").read_bytes()
    assert report.kernel is not None and not report.kernel.missing
    assert [h for h in report.holes if h.kind == "kernel"] == []


def test_stopped_inside_the_kernel_regions_lists_the_holes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = _pulled(tmp_path, "full")
    stop_at = "md_Kprb_data27.BIN"
    stopped = _pulled(tmp_path, "stopped", f"&eoi_at=0x{_base_of(full, stop_at):x}")
    regions = _manifest(stopped)
    unfinished = {name for name, r in regions.items() if r["status"] != "complete"
                  and name.startswith("md_K")}
    assert stop_at in unfinished and len(unfinished) > 1
    assemble(full)
    assert main(["assemble", str(stopped), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kernel_holes = {h["filename"] for h in doc["holes"] if h["kind"] == "kernel"}
    assert kernel_holes == unfinished
    assert {m["filename"] for m in doc["kernel"]["missing"]} == unfinished
    want = {_base_of(full, n) for n in unfinished}
    got, ref = _loads(stopped / "minidump.elf"), _loads(full / "minidump.elf")
    assert got.keys() == ref.keys()
    for pa, (flags, data) in got.items():
        if pa in want:
            assert flags == 0 and data == bytes(len(ref[pa][1])), hex(pa)
        else:
            assert (flags, data) == ref[pa], hex(pa)


@pytest.mark.parametrize("status", ["partial", "failed", "pending", "skipped"])
def test_a_file_the_manifest_does_not_call_complete_is_not_used(status: str,
                                                                tmp_path: Path) -> None:
    """Even with NAME on disk (a copy, an older run), an unfinished region is a hole."""
    folder = _pulled(tmp_path, "full")
    assemble(folder)
    before = _loads(folder / "minidump.elf")
    doc = json.loads((folder / "manifest.json").read_text())
    target = next(r for r in doc["regions"] if r["filename"] == "md_Kinit_uts21.BIN")
    target["status"] = status
    (folder / "manifest.json").write_text(json.dumps(doc))
    report = assemble(folder)
    pa = int(target["base"], 16)
    after = _loads(folder / "minidump.elf")
    assert after[pa] == (0, bytes(len(before[pa][1])))
    assert any(f"'{status}'" in w for w in report.warnings)
    assert [h.filename for h in report.holes] == ["md_Kinit_uts21.BIN"]
    with pytest.raises(InputError, match=status):
        assemble(folder, strict=True)


def test_pull_json_lists_the_holes(tmp_path: Path) -> None:
    """A region left out of the pull is a hole of the ELF pull writes, named in its JSON."""
    proc = subprocess.run([*qdlpy_command(), "pull", "-t", SIM, "-o", str(tmp_path / "d"),
                           "--exclude", "md_Kinit_uts21.BIN", "--json"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    holes = json.loads(proc.stdout)["elf"]["holes"]
    assert [(h["filename"], h["kind"]) for h in holes] == [("md_Kinit_uts21.BIN", "kernel")]
    assert "'skipped'" in holes[0]["reason"]
