"""assemble() builds the oracle's ELF byte for byte from every kind of dump folder, and
readelf and pyelftools read the oracle's program headers, notes and vmcoreinfo from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump

from qdlpy.assemble import assemble
from qdlpy.errors import InputError, OutputError

MakeFolder = Callable[..., Path]
Verify = Callable[..., None]


@pytest.mark.parametrize("source", ["manifest", "dump_info", "load.cmm", "none"])
def test_every_address_source_gives_the_oracle_elf(arch: str, source: str,
                                                   make_folder: MakeFolder,
                                                   verify: Verify) -> None:
    s = kmemdump.build(arch)
    folder = make_folder(s, source=source)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.address_source == {"none": "heuristic"}.get(source, source)
    assert report.output == str(folder / "minidump.elf")
    k = report.kernel
    assert k is not None and k.style == "kmemdump"
    assert k.osrelease == s.osrelease and k.kerneloffset == 0 and k.page_size == 4096
    assert k.machine == {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    assert len(k.placed) == len(s.loads) and not k.missing and not k.unreferenced
    assert k.vmcoreinfo_status == "ok" and k.vmcoreinfo_file == s.file_of(2)
    if source == "none":
        assert any("id order and size" in w for w in report.warnings)
    else:
        assert report.warnings == [] and report.status == "ok"
        assert {o.kind for o in report.outputs} == {"kernel", "subsystems", "firmware"}


def test_next_commands_name_crash_and_the_right_gdb(arch: str, make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build(arch))
    cmds = assemble(folder).next_commands
    elf = str(folder / "minidump.elf")
    assert f"crash --minimal vmlinux {elf}" in cmds
    assert (f"crash --no_modules --no_panic --no_kmem_cache --zero_excluded vmlinux {elf}"
            in cmds)
    gdb = "gdb-multiarch" if arch == "arm64" else "gdb"
    assert any(c.startswith(f"{gdb} ") and c.endswith(elf) for c in cmds)


@pytest.mark.parametrize("source", ["manifest", "dump_info", "load.cmm"])
def test_shuffled_table_still_maps_by_address(arch: str, source: str, make_folder: MakeFolder,
                                              verify: Verify) -> None:
    s = kmemdump.build(arch).shuffled(seed=3)
    folder = make_folder(s, source=source)
    assemble(folder)
    verify(folder / "minidump.elf", s)


def test_pt_load_order_differs_from_id_order(arch: str, make_folder: MakeFolder,
                                             verify: Verify) -> None:
    s = kmemdump.build(arch, reregister=17)
    assert [ld.region_id for ld in s.loads][-1] == 17
    folder = make_folder(s)
    assemble(folder)
    verify(folder / "minidump.elf", s)
    # cat in id order (the manual recipe) puts node_data in the wrong place here
    assert (folder / "minidump.elf").read_bytes() != s.id_order_concat()


def test_reregistered_set_defeats_the_heuristic_loudly(make_folder: MakeFolder) -> None:
    # Without addresses the id-order heuristic assumes id order; the size check catches it.
    s = kmemdump.build("arm64", reregister=17)
    with pytest.raises(InputError, match="heuristic"):
        assemble(make_folder(s, source="none"))


@pytest.mark.parametrize("case", ["lower", "upper"])
@pytest.mark.parametrize("source", ["dump_info", "none"])
def test_case_changed_file_names(case: str, source: str, make_folder: MakeFolder,
                                 verify: Verify) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s, source=source, case=case)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and len(report.kernel.placed) == len(s.loads)


@pytest.mark.parametrize("source", ["manifest", "none"])
def test_meminspect_numbering(arch: str, source: str, make_folder: MakeFolder,
                              verify: Verify) -> None:
    s = kmemdump.build(arch, numbering="meminspect")
    folder = make_folder(s, source=source)
    assemble(folder)
    verify(folder / "minidump.elf", s)


def test_long_names_need_addresses_not_ids(make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("arm64", long_names=True)
    assert s.file_of(6) == "md_Kcpu_possibl.BIN"  # the id is gone
    assert s.file_of(12) == "md_Knr_threads1.BIN"  # the id is cut to a wrong one
    folder = make_folder(s, source="dump_info")
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.vmcoreinfo_file == "md_Kvmcoreinfo2.BIN"


def test_output_option_and_rerun(tmp_path: Path, make_folder: MakeFolder,
                                 inputs_snapshot: Callable[[Path], dict[str, bytes]]) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    before = inputs_snapshot(folder)
    out = tmp_path / "elsewhere" / "core.elf"
    report = assemble(folder, out)
    assert out.read_bytes() == s.expected()
    assert {Path(o.path).name for o in report.outputs} == {
        "core.elf", "core-subsystems.elf", "core-firmware.elf"}
    assert inputs_snapshot(folder) == before  # nothing written into or changed in the folder
    assemble(folder, out)  # re-running replaces its own output
    assert out.read_bytes() == s.expected()
    assert not list(out.parent.glob(".*.tmp"))
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    assemble(folder, outdir)  # a directory gets minidump.elf inside
    assert (outdir / "minidump.elf").read_bytes() == s.expected()


def test_refuses_to_overwrite_an_input(make_folder: MakeFolder,
                                       inputs_snapshot: Callable[[Path], dict[str, bytes]]) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    before = inputs_snapshot(folder)
    with pytest.raises(OutputError, match="input region file"):
        assemble(folder, folder / s.file_of(3))
    assert inputs_snapshot(folder) == before


def test_unusable_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        assemble(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no region files") as e:
        assemble(tmp_path / "empty")
    assert e.value.exit_code == 10
