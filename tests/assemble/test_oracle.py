"""The oracle itself follows the format (layout worked example, naming rule) and external
readers accept what it builds, so the assembler tests grade against a sound reference."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from oracle import downstream, kmemdump
from oracle.kelf import PRPSINFO_SIZE, layout
from oracle.naming import kernel_region_name

from qdlpy.protocols.naming import parse_region_name
from qdlpy.protocols.table import Region, build_table, parse_table

Tool = Callable[[str], str]


def test_layout_matches_the_worked_arm64_example() -> None:
    # arm64, vmcoreinfo_size 2944: H 14804, N 3536, KELF 15396 bytes, data at 18340.
    lay = layout(392, 2944)
    assert (lay.note_start, lay.note_len, lay.kelf_size, lay.first_load) == (
        14804, 3536, 15396, 18340)
    # x86_64: H = 11804 + V, KELF = 12340 + V.
    assert layout(336, 2944).note_start == 11804 + 2944
    assert layout(336, 2944).kelf_size == 12340 + 2944
    assert PRPSINFO_SIZE == 136


@pytest.mark.parametrize("arch,machine,kelf_base", [("arm64", "EM_AARCH64", 12452),
                                                    ("x86_64", "EM_X86_64", 12340)])
def test_expected_elf_parses_with_every_region_at_its_address(arch: str, machine: str,
                                                              kelf_base: int) -> None:
    s = kmemdump.build(arch)
    assert len(s.kelf) == kelf_base + s.vmcoreinfo_len
    assert len(s.vmcoreinfo_text) % 4, "the vmcoreinfo size is kept off a multiple of 4"
    assert s.expected() == s.id_order_concat()  # PT_LOAD order is id order here
    elf = ELFFile(io.BytesIO(s.expected()))
    assert elf["e_type"] == "ET_CORE" and elf["e_machine"] == machine
    segs = list(elf.iter_segments())
    assert segs[0]["p_type"] == "PT_NOTE" and len(segs) == 1 + len(s.loads) >= 40
    notes = list(segs[0].iter_notes())
    assert [(n["n_name"], n["n_type"]) for n in notes] == [
        ("CORE", "NT_PRSTATUS"), ("CORE", "NT_PRPSINFO"), ("VMCOREINFO", 0)]
    prpsinfo = notes[1]["n_desc"]
    assert prpsinfo["pr_fname"].rstrip(b"\0") == b"vmlinux"
    assert prpsinfo["pr_psargs"].rstrip(b"\0") == kmemdump.PSARGS
    for seg, ld in zip(segs[1:], s.loads):
        assert (seg["p_paddr"], seg["p_vaddr"], seg.data()) == (ld.pa, ld.va, ld.data)


def test_readelf_reads_the_expected_elf_cleanly(tmp_path: Path, tool: Tool) -> None:
    for name, s in (("k.elf", kmemdump.build("x86_64", reregister=17, misaligned=True)),
                    ("d.elf", downstream.build_downstream("arm64"))):
        (tmp_path / name).write_bytes(s.expected())
        proc = subprocess.run([tool("readelf"), "-a", "-W", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr


def test_names_follow_the_firmware_rule() -> None:
    s = kmemdump.build("arm64")
    assert [r.filename for r in s.rows[:4]] == ["md_KELF1.BIN", "md_Kvmcorein2.BIN",
                                                "md_Kconfig3.BIN", "md_Kmemsect4.BIN"]
    for rid, name in ((6, "md_Kcpu_poss6.BIN"), (11, "md_Klinux_ba11.BIN"),
                      (19, "md_K__per_cp19.BIN"), (31, "md_Kinit_mm_31.BIN"),
                      (32, "md_Kunknown32.BIN"), (50, "md_Kunknown50.BIN")):
        assert s.file_of(rid) == name
    ids = [r.region_id for r in s.rows]
    assert 48 not in ids and 49 not in ids
    for r in s.rows:
        assert len(r.desc) <= 15 and r.filename == r.desc + ".BIN"
        assert parse_region_name(r.filename).id == r.region_id  # qdlpy's parser agrees
    assert kernel_region_name("cpu_possible", 6, smem_chars=12) == (
        "md_Kcpu_possibl", "md_Kcpu_possibl.BIN")


def test_meminspect_numbering_has_no_gap() -> None:
    s = kmemdump.build("x86_64", numbering="meminspect")
    ids = sorted(r.region_id or 0 for r in s.rows)
    assert ids == list(range(1, ids[-1] + 1)) and "md_Ktk_data29.BIN" in [
        r.filename for r in s.rows]


def test_reregistration_moves_the_load_and_the_table_entry_to_the_end() -> None:
    s = kmemdump.build("arm64", reregister=17)
    assert s.loads[-1].region_id == 17 and s.rows[-1].region_id == 17
    assert s.id_order_concat() != s.expected()
    assert len(s.id_order_concat()) == len(s.expected())


def test_misaligned_region_file_starts_early() -> None:
    s = kmemdump.build("arm64", misaligned=True)
    ld, row = s.load(11), s.row(11)
    assert ld.pa & 3 == 2 and row.base == ld.pa - 2
    assert row.data is not None and row.data[2:] == ld.data[:-2]
    assert s.expected_loads()[[x.region_id for x in s.loads].index(11)].data == (
        ld.data[:-2] + b"\0\0")


def test_the_table_round_trips_through_the_sahara_format() -> None:
    rows = kmemdump.build("arm64").table()
    regions = [Region(i, r.base, r.table_length, r.save_pref, r.desc, r.filename)
               for i, r in enumerate(rows)]
    back = parse_table(build_table(regions, is64=True), is64=True)
    assert [(r.base, r.length, r.filename) for r in back] == [
        (r.base, r.table_length, r.filename) for r in rows]


def test_downstream_header_is_section_based() -> None:
    s = downstream.build_downstream("arm64")
    elf = ELFFile(io.BytesIO(s.expected()))
    names = [sec.name for sec in elf.iter_sections()]
    assert names[:4] == ["", "STR_TBL", "minidump_table", "linux_banner"]
    assert names.count("KTASK_STACK") == 2
    assert [r.filename for r in s.rows][:1] == ["md_KELF_HEADER.BIN"]
    assert "md_KTASK_STACK1.BIN" in [r.filename for r in s.rows]
    segs = list(elf.iter_segments())
    assert segs[0].data().startswith(f"Linux version {s.osrelease}".encode())
    assert [seg.data() for seg in segs[1:]] == [r.data for r in s.regions]
