"""inspect(): the PT_LOAD -> region map, vmcoreinfo keys and what is missing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import InputError
from qdlpy.simulator import kmemdump_image as kimg

MakeFolder = Callable[..., Path]


def test_inspect_assembled_elf(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build(arch)
    folder = make_folder(s.without("md_Kjiffies10.BIN"))
    assemble(folder)
    rep = inspect(folder / "minidump.elf")
    k = rep.kernel
    assert rep.kind == "elf" and k is not None and k.style == "kmemdump"
    assert rep.notes == ["CORE/1", "CORE/3", "VMCOREINFO/0"]
    assert k.osrelease == s.osrelease and k.vmcoreinfo["PAGESIZE"] == "4096"
    assert k.machine == {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    assert [p.paddr for p in k.missing] == [s.load_for(10).pa]
    # next to its dump folder, PT_LOADs are named after the region with their address
    assert k.placements[0].filename == "md_Kconfig3.BIN"
    assert rep.file_size == rep.expected_size
    assert any("missing" in w for w in rep.warnings)
    json.dumps(rep.to_dict())


def test_inspect_truncated_elf(tmp_path: Path) -> None:
    s = kimg.build("x86_64")
    p = tmp_path / "cut.elf"
    p.write_bytes(s.reference[:-100])
    rep = inspect(p)
    assert rep.kernel is not None and rep.kernel.placements[-1].status == "truncated-file"
    assert any("--zero_excluded" in w for w in rep.warnings)


def test_inspect_raw_kelf_region_lists_the_wanted_regions(tmp_path: Path) -> None:
    s = kimg.build("arm64")
    p = tmp_path / "md_KELF1.BIN"
    p.write_bytes(s.kelf)
    rep = inspect(p)
    assert rep.kernel is not None and len(rep.kernel.placements) == len(s.loads)
    assert rep.expected_size == len(s.reference)
    assert any("truncated" in w for w in rep.warnings)


def test_inspect_folder_shows_the_plan_without_writing(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64").shuffled()
    folder = make_folder(s.without("md_Kprb24.BIN"))
    rep = inspect(folder)
    assert rep.kind == "folder" and rep.address_source == "manifest"
    assert not (folder / "minidump.elf").exists()
    k = rep.kernel
    assert k is not None and k.osrelease == s.osrelease
    by_file = {p.filename: p.paddr for p in k.placements if p.filename}
    assert by_file["md_Kconfig3.BIN"] == s.load_for(3).pa
    assert [p.paddr for p in k.missing] == [s.load_for(24).pa]
    assert {e["filename"] for e in rep.entries} >= {"md_KELF1.BIN", "MD_RST_STAT.BIN"}
    assert rep.expected_size == len(s.reference) - 8


def test_inspect_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        inspect(tmp_path / "nothing")
    p = tmp_path / "text.elf"
    p.write_text("hello")
    with pytest.raises(InputError):
        inspect(p)
