"""Other region groups (one generic ELF each) and the downstream md_KELF_HEADER model; the
group ELFs are read back with pyelftools and readelf, the downstream ELF against the oracle."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from oracle import downstream, kmemdump
from oracle.extras import fulldump_entries, minidump_extras

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import InputError

MakeFolder = Callable[..., Path]
Verify = Callable[..., None]
Tool = Callable[[str], str]


def sections(path: Path) -> dict[str, tuple[int, bytes]]:
    """Section name -> (sh_addr, bytes), after checking what crash expects of the layout:
    PT_NOTE first, then one PT_LOAD per section at the same address and offset."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        segs = list(elf.iter_segments())
        assert segs[0]["p_type"] == "PT_NOTE" and len(segs) >= 2
        progbits = [s for s in elf.iter_sections() if s["sh_type"] == "SHT_PROGBITS"]
        assert len(segs) == len(progbits) + 1
        for seg, sec in zip(segs[1:], progbits):
            assert seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] == seg["p_paddr"]
            assert (seg["p_paddr"], seg["p_offset"], seg.data()) == (
                sec["sh_addr"], sec["sh_offset"], sec.data())
        return {s.name: (s["sh_addr"], s.data()) for s in progbits}


def test_subsystem_and_firmware_groups(make_folder: MakeFolder, tool: Tool) -> None:
    folder = make_folder(kmemdump.build("arm64"))
    report = assemble(folder)
    adsp, smeminfo, rst = minidump_extras()
    assert report.groups["subsystems"] == [adsp.filename]
    assert report.groups["firmware"] == [smeminfo.filename, rst.filename]
    assert sections(folder / "minidump-subsystems.elf") == {adsp.desc: (adsp.base, adsp.data)}
    assert sections(folder / "minidump-firmware.elf") == {
        smeminfo.desc: (smeminfo.base, smeminfo.data), rst.desc: (rst.base, rst.data)}
    proc = subprocess.run([tool("readelf"), "-S", "-l", "-W",
                           str(folder / "minidump-subsystems.elf")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    assert adsp.desc in proc.stdout and "STR_TBL" in proc.stdout


def test_full_dump_folder(make_folder: MakeFolder) -> None:
    rows = fulldump_entries()
    folder = make_folder(rows, source="load.cmm")
    report = assemble(folder)
    assert report.kernel is None and report.output is None
    [out] = report.outputs
    assert out.kind == "fulldump" and out.path.endswith("minidump-fulldump.elf")
    got = sections(Path(out.path))
    # load.cmm has no descriptions: sections are named after the file stems
    assert got == {r.filename.removesuffix(".BIN"): (r.base, r.data) for r in rows}
    assert report.next_commands == [
        "crash vmlinux " + ",".join(f"{folder / r.filename}@0x{r.base:x}" for r in rows)]


def test_full_dump_with_dump_info_names_sections_by_description(make_folder: MakeFolder) -> None:
    rows = fulldump_entries()
    folder = make_folder(rows, source="dump_info")
    report = assemble(folder)
    got = sections(Path(report.outputs[0].path))
    assert got == {r.desc.strip(): (r.base, r.data) for r in rows}


def test_groups_need_addresses(make_folder: MakeFolder) -> None:
    folder = make_folder(fulldump_entries(), source="none")
    with pytest.raises(InputError, match="nothing to assemble"):
        assemble(folder)


@pytest.mark.parametrize("source", ["manifest", "dump_info", "none"])
def test_downstream_header(arch: str, source: str, make_folder: MakeFolder,
                           verify: Verify) -> None:
    s = downstream.build_downstream(arch)
    folder = make_folder(s.shuffled(seed=4), source=source)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    k = report.kernel
    assert k is not None and k.style == "downstream" and k.osrelease == s.osrelease
    assert [p.status for p in k.placements] == ["in-header"] + ["ok"] * len(s.regions)
    assert "LRDP" in " ".join(report.next_commands)


def test_downstream_sections_name_the_regions(make_folder: MakeFolder) -> None:
    s = downstream.build_downstream("arm64")
    folder = make_folder(s)
    assemble(folder)
    with open(folder / "minidump.elf", "rb") as f:
        elf = ELFFile(f)
        by_offset = {sec["sh_offset"]: (sec.name, sec.data()) for sec in elf.iter_sections()
                     if sec["sh_type"] == "SHT_PROGBITS" and sec["sh_size"]}
    for r in s.regions:
        assert by_offset[r.offset] == (r.name, r.data)


def test_downstream_missing_region_is_zero_filled(make_folder: MakeFolder,
                                                  verify: Verify) -> None:
    s = downstream.build_downstream("arm64")
    gone = s.region("KDMESG")
    s = s.without(gone.key)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert s.expected()[gone.offset : gone.offset + len(gone.data)] == bytes(len(gone.data))
    assert report.kernel is not None and len(report.kernel.missing) == 1


def test_inspect_of_group_elf(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("x86_64"))
    assemble(folder)
    rep = inspect(folder / "minidump-subsystems.elf")
    assert rep.kernel is not None and rep.kernel.style == "generic"
    assert [p.filename for p in rep.kernel.placements] == [minidump_extras()[0].desc]
