"""The kmemdump fixture itself follows minidump-format.md §2.4 / §9 to the byte."""

from __future__ import annotations

import io
import struct

import pytest
from elftools.elf.elffile import ELFFile

from qdlpy.formats.coreimage import PRPSINFO_SIZE, header_start, note_len
from qdlpy.protocols.naming import parse_region_name
from qdlpy.protocols.table import build_table, parse_table
from qdlpy.simulator import kmemdump_image as kimg


def test_layout_formulas_match_the_worked_arm64_example() -> None:
    # §2.4 worked example: arm64, vmcoreinfo_size 2944 -> H 14804, KELF 15396, data at 18340.
    v = 2944
    h, n = header_start(392, PRPSINFO_SIZE, v), note_len(392, PRPSINFO_SIZE, v)
    assert (h, n, h + n - v, h + n) == (14804, 3536, 15396, 18340)
    # x86_64 column: H = 11804 + V, KELF = 12340 + V.
    assert header_start(336, PRPSINFO_SIZE, v) == 11804 + v
    assert header_start(336, PRPSINFO_SIZE, v) + note_len(336, PRPSINFO_SIZE, v) - v == 12340 + v


@pytest.mark.parametrize("arch,machine,kelf_base", [("arm64", 183, 12452), ("x86_64", 62, 12340)])
def test_kelf_region_size_and_header(arch: str, machine: int, kelf_base: int) -> None:
    s = kimg.build(arch)
    v = s.vmcoreinfo_descsz
    assert len(s.kelf) == kelf_base + v
    assert len(s.vmcoreinfo_text) % 4 != 0, "fixture keeps the vmcoreinfo size off 4 on purpose"
    assert s.vmcoreinfo_text.startswith(b"OSRELEASE=" + s.osrelease.encode() + b"\n")
    ident, etype, emachine = s.kelf[:16], *struct.unpack_from("<HH", s.kelf, 16)
    assert ident[:7] == b"\x7fELF\x02\x01\x01" and (etype, emachine) == (4, machine)
    phnum = struct.unpack_from("<H", s.kelf, 56)[0]
    assert phnum == 1 + len(s.loads) and len(s.loads) >= 30
    # the VMCOREINFO note header is the last 24 bytes of the KELF region
    assert s.kelf[-12:] == b"VMCOREINFO\0\0"
    assert struct.unpack_from("<III", s.kelf, len(s.kelf) - 24) == (11, v, 0)


def test_names_ids_and_sizes_follow_the_kmemdump_v2_table() -> None:
    s = kimg.build("arm64")
    names = [r.filename for r in s.regions]
    assert names[:4] == ["md_KELF1.BIN", "md_Kvmcorein2.BIN", "md_Kconfig3.BIN",
                         "md_Kmemsect4.BIN"]
    for expected in ("md_Kcpu_poss6.BIN", "md_Klinux_ba11.BIN", "md_K__per_cp19.BIN",
                     "md_Kinit_mm_31.BIN", "md_Kunknown32.BIN", "md_Kunknown50.BIN"):
        assert expected in names
    ids = [r.region_id for r in s.regions]
    assert 48 not in ids and 49 not in ids and max(i for i in ids if i) >= 50  # gap + dynamic
    for r in s.regions:
        assert len(r.description) <= 15 and r.filename == r.description + ".BIN"
        assert parse_region_name(r.filename).id == r.region_id
    sizes = {ld.name: ld.size for ld in s.loads}
    assert sizes["linux_banner"] % 4 and sizes["config"] >= 4096
    assert all(len(ld.data) == (ld.size + 3) & ~3 for ld in s.loads)


def test_reference_is_index_order_cat_and_parses() -> None:
    for arch in ("arm64", "x86_64"):
        s = kimg.build(arch)
        assert s.reference == s.index_order_concat()
        elf = ELFFile(io.BytesIO(s.reference))
        loads = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
        assert len(loads) == len(s.loads)
        for seg, ld in zip(loads, s.loads):
            assert seg.data() == ld.data and seg["p_paddr"] == ld.pa and seg["p_vaddr"] == ld.va


def test_reregistration_makes_index_order_cat_wrong() -> None:
    s = kimg.build("arm64", reregister=17)
    assert s.loads[-1].region_id == 17 and s.regions[-1].region_id == 17
    assert s.index_order_concat() != s.reference
    assert len(s.index_order_concat()) == len(s.reference)


def test_meminspect_numbering_has_no_gap_and_dynamic_ids_in_the_40s() -> None:
    s = kimg.build("x86_64", numbering="meminspect")
    ids = sorted(r.region_id for r in s.regions if r.region_id)
    assert ids == list(range(1, ids[-1] + 1)) and 43 <= ids[-3] <= 47
    assert "md_Ktk_data29.BIN" in [r.filename for r in s.regions]


def test_long_names_are_cut_by_the_firmware_rule() -> None:
    s = kimg.build("arm64", long_names=True)
    names = {r.region_id: r.filename for r in s.regions}
    assert names[6] == "md_Kcpu_possibl.BIN"  # 16+ chars: the id is gone
    assert names[12] == "md_Knr_threads1.BIN"  # the id is cut to a wrong one
    assert names[2] == "md_Kvmcoreinfo2.BIN"


def test_table_order_and_extras() -> None:
    s = kimg.build("arm64")
    rows = s.table()
    assert rows[-1].filename == "load.cmm" and rows[-1].save_pref == 2
    assert [r.filename for r in rows[-4:-1]] == ["md_ADSP_XYZ.BIN", "MD_SMEMINFO.BIN",
                                                 "MD_RST_STAT.BIN"]
    assert len(next(r for r in rows if r.filename == "MD_RST_STAT.BIN").data) == 4
    script = rows[-1].data.decode()
    assert "d.load.binary md_KELF1.BIN 0x" in script and "load.cmm 0x" not in script
    # the table round-trips through the Sahara 64-bit entry format
    regions = [r.table_region(i) for i, r in enumerate(rows)]
    back = parse_table(build_table(regions, is64=True), is64=True)
    assert [(r.base, r.length, r.filename) for r in back] == [
        (r.base, r.length, r.filename) for r in rows]


def test_misaligned_banner_loses_its_tail() -> None:
    s = kimg.build("arm64", misaligned=True)
    ld = next(x for x in s.loads if x.name == "linux_banner")
    assert ld.pa & 3 == 2
    rec = s.region("md_Klinux_ba11.BIN")
    assert rec.base == ld.pa & ~3 and rec.data[2:] == ld.data[:-2]
    assert ld.expected == ld.data[:-2] + b"\0\0"


def test_downstream_header_is_section_based() -> None:
    s = kimg.build_downstream("arm64")
    elf = ELFFile(io.BytesIO(s.reference))
    names = [sec.name for sec in elf.iter_sections()]
    assert names[:4] == ["", "STR_TBL", "minidump_table", "linux_banner"]
    assert names.count("KTASK_STACK") == 2
    assert [r.filename for r in s.regions][:1] == ["md_KELF_HEADER.BIN"]
    assert "md_KTASK_STACK1.BIN" in [r.filename for r in s.regions]
