"""inspect(): the PT_LOAD -> region map, vmcoreinfo keys and what is missing, checked
against the oracle's model of the dump."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import InputError

MakeFolder = Callable[..., Path]


def test_inspect_assembled_elf(arch: str, make_folder: MakeFolder) -> None:
    s = kmemdump.build(arch).without(10)
    folder = make_folder(s)
    assemble(folder)
    rep = inspect(folder / "minidump.elf")
    k = rep.kernel
    assert rep.kind == "elf" and k is not None and k.style == "kmemdump"
    assert rep.notes == ["CORE/1", "CORE/3", "VMCOREINFO/0"]
    assert k.osrelease == s.osrelease and k.vmcoreinfo["PAGESIZE"] == "4096"
    assert k.machine == {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    assert [p.paddr for p in k.missing] == [s.load(10).pa]
    assert [(p.paddr, p.vaddr, p.offset, p.filesz, p.memsz) for p in k.placements] == [
        (x.load.pa, x.load.va, x.offset, len(x.data), x.load.filesz)
        for x in s.expected_loads()]
    # next to its dump folder, PT_LOADs are named after the region with their address
    assert k.placements[0].filename == s.file_of(3)
    assert rep.file_size == rep.expected_size == len(s.expected())
    assert any("missing" in w for w in rep.warnings)
    json.dumps(rep.to_dict())


def test_inspect_truncated_elf(tmp_path: Path) -> None:
    s = kmemdump.build("x86_64")
    p = tmp_path / "cut.elf"
    p.write_bytes(s.expected()[:-100])
    rep = inspect(p)
    assert rep.kernel is not None and rep.kernel.placements[-1].status == "truncated-file"
    assert any("--zero_excluded" in w for w in rep.warnings)


def test_inspect_raw_kelf_region_lists_the_wanted_regions(tmp_path: Path) -> None:
    s = kmemdump.build("arm64")
    p = tmp_path / "md_KELF1.BIN"
    p.write_bytes(s.kelf)
    rep = inspect(p)
    assert rep.kernel is not None and len(rep.kernel.placements) == len(s.loads)
    assert rep.expected_size == len(s.expected())
    assert any("truncated" in w for w in rep.warnings)


def test_inspect_folder_shows_the_plan_without_writing(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64").shuffled().without(24)
    folder = make_folder(s)
    rep = inspect(folder)
    assert rep.kind == "folder" and rep.address_source == "manifest"
    assert not (folder / "minidump.elf").exists()
    k = rep.kernel
    assert k is not None and k.osrelease == s.osrelease
    by_file = {p.filename: p.paddr for p in k.placements if p.filename}
    assert by_file[s.file_of(3)] == s.load(3).pa
    assert [p.paddr for p in k.missing] == [s.load(24).pa]
    assert {e["filename"] for e in rep.entries} >= {s.file_of(1), "MD_RST_STAT.BIN"}
    assert rep.expected_size == len(s.expected())


def test_inspect_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        inspect(tmp_path / "nothing")
    p = tmp_path / "text.elf"
    p.write_text("hello")
    with pytest.raises(InputError) as e:
        inspect(p)
    assert "minidump ELF" in (e.value.hint or "")  # the hint says what inspect takes


def test_an_elf_that_is_not_a_core_is_an_input_error(tmp_path: Path) -> None:
    """A program or library holds no dumped memory: exit 10, said plainly."""
    import shutil
    import sys

    from helpers import run_qdlpy

    program = Path(shutil.which("ls") or sys.executable)
    run = run_qdlpy("inspect", program, "--json")
    assert run.returncode == 10, run.stdout
    err = json.loads(run.stdout)["error"]
    assert "not a core file" in err["message"] and "minidump" not in err["message"]


def test_inspect_and_assemble_agree_on_an_empty_folder(tmp_path: Path) -> None:
    from helpers import run_qdlpy

    (tmp_path / "empty").mkdir()
    runs = [run_qdlpy(cmd, tmp_path / "empty", "--json") for cmd in ("inspect", "assemble")]
    assert [r.returncode for r in runs] == [10, 10]
    messages = {json.loads(r.stdout)["error"]["message"] for r in runs}
    assert len(messages) == 1 and "holds no region files" in messages.pop()
