"""Other region groups (one generic ELF each) and the downstream md_KELF_HEADER model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from qdlpy.assemble import assemble, inspect
from qdlpy.simulator import kmemdump_image as kimg

MakeFolder = Callable[..., Path]


def sections(path: Path) -> dict[str, tuple[int, bytes]]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        segs = list(elf.iter_segments())
        assert segs[0]["p_type"] == "PT_NOTE" and len(segs) >= 2  # crash's expectations
        for seg in segs[1:]:
            assert seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] == seg["p_paddr"]
        return {s.name: (s["sh_addr"], s.data()) for s in elf.iter_sections()
                if s["sh_type"] == "SHT_PROGBITS"}


def test_subsystem_and_firmware_groups(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    folder = make_folder(s)
    report = assemble(folder)
    ext = {r.description: r for r in kimg.extras("arm64")}
    assert report.groups["subsystems"] == ["md_ADSP_XYZ.BIN"]
    assert report.groups["firmware"] == ["MD_SMEMINFO.BIN", "MD_RST_STAT.BIN"]
    sub = sections(folder / "minidump-subsystems.elf")
    assert sub == {"md_ADSP_XYZ": (ext["md_ADSP_XYZ"].base, ext["md_ADSP_XYZ"].data)}
    fw = sections(folder / "minidump-firmware.elf")
    assert fw["MD_RST_STAT"] == (0x0C264000, b"\x01\x00\x00\x20")
    assert set(fw) == {"MD_SMEMINFO", "MD_RST_STAT"}


def test_full_dump_folder(make_folder: MakeFolder) -> None:
    rows = kimg.fulldump_records()
    folder = make_folder([*rows, kimg.load_cmm_record(rows)], source="load.cmm")
    report = assemble(folder)
    assert report.kernel is None and report.output is None
    [out] = report.outputs
    assert out.kind == "fulldump" and out.path.endswith("minidump-fulldump.elf")
    got = sections(Path(out.path))
    # load.cmm has no descriptions: sections are named after the file stems
    assert {k: v[0] for k, v in got.items()} == {
        "DDRCS0_0": 0x80000000, "OCIMEM": 0x14680000, "PMIC_PON": 0x0C230000}
    assert got["OCIMEM"][1] == rows[1].data
    assert report.next_commands == [
        "crash vmlinux " + ",".join(f"{folder / r.filename}@0x{r.base:x}" for r in rows)]


def test_full_dump_with_dump_info_names_sections_by_description(make_folder: MakeFolder) -> None:
    rows = kimg.fulldump_records()
    folder = make_folder(rows, source="dump_info")
    report = assemble(folder)
    got = sections(Path(report.outputs[0].path))
    assert "DDR CS0 part0 Memory" in got and got["OCIMEM"][0] == 0x14680000


def test_groups_need_addresses(make_folder: MakeFolder) -> None:
    folder = make_folder(kimg.fulldump_records(), source="none")
    with pytest.raises(Exception, match="nothing to assemble"):
        assemble(folder)


def test_downstream_header(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build_downstream(arch)
    for source in ("manifest", "none"):
        folder = make_folder(s.shuffled(seed=4), source=source)
        report = assemble(folder)
        assert (folder / "minidump.elf").read_bytes() == s.reference
        k = report.kernel
        assert k is not None and k.style == "downstream" and k.osrelease == s.osrelease
        assert [p.status for p in k.placements] == ["in-header"] + ["ok"] * len(s.loads)
        assert "LRDP" in " ".join(report.next_commands)


def test_downstream_missing_region_is_zero_filled(make_folder: MakeFolder) -> None:
    s = kimg.build_downstream("arm64")
    folder = make_folder(s.without("md_KDMESG.BIN"))
    report = assemble(folder)
    out = (folder / "minidump.elf").read_bytes()
    gone = next(ld for ld in s.loads if ld.name == "KDMESG")
    at = len(s.kelf) + sum(ld.filesz for ld in s.loads[: s.loads.index(gone)])
    assert out[at : at + gone.filesz] == bytes(gone.filesz)
    assert out[:at] == s.reference[:at] and out[at + gone.filesz :] == s.reference[at + gone.filesz :]
    assert report.kernel is not None and len(report.kernel.missing) == 1


def test_inspect_of_group_elf(make_folder: MakeFolder) -> None:
    folder = make_folder(kimg.build("x86_64"))
    assemble(folder)
    rep = inspect(folder / "minidump-subsystems.elf")
    assert rep.kernel is not None and rep.kernel.style == "generic"
    assert [p.filename for p in rep.kernel.placements] == ["md_ADSP_XYZ"]
