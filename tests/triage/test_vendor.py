"""Vendor minidumps: md_KLOGBUF / md_LOG_DESC / md_LOG_INFO without VMCOREINFO.

The same ring, described by VMCOREINFO in an ELF, is what vmcore-dmesg reads: the vendor
reader (fixed 5.10+ layouts, slots ordered by seq) must print the same bytes.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from helpers import run_qdlpy
from triage_build import boot_log, lockless_core, table_folder, vendor_folder
from triage_kring import Layout, LegacyLog, LocklessRing
from triage_oracle import vmcore_dmesg

import qdlpy
from qdlpy.assemble import assemble, inspect
from qdlpy.simulator import kmemdump_image as kimg


def ring_with_history(word: int = 8) -> LocklessRing:
    ring = LocklessRing(6, 12, Layout.for_word(word))
    for text, ts in boot_log(500):
        ring.write(text, ts, caller=0x80000001)
    ring.write(b"last, still committed", 9_000_000_000, final=False)
    return ring


@pytest.mark.parametrize("word", [8, 4])
def test_vendor_regions_print_what_vmcore_dmesg_prints_for_the_same_ring(
        word: int, tmp_path: Path) -> None:
    ring = ring_with_history(word)
    core = tmp_path / "core.elf"
    core.write_bytes(lockless_core(ring))
    want = vmcore_dmesg(core)
    folder = vendor_folder(tmp_path / "dump", {"KLOGBUF": bytes(ring.data),
                                              "LOG_DESC": ring.desc_bytes(),
                                              "LOG_INFO": ring.info_bytes()})
    got = qdlpy.dmesg(folder)
    assert got.text() == want and got.layout == "vendor-lockless"
    assert f"{8 * word}-bit layout (prb_desc {3 * word} bytes, printk_info 88 bytes)" in \
        got.layout_detail
    proc = run_qdlpy("dmesg", folder)
    assert proc.returncode == 0 and proc.stdout.encode() == want
    assert "no VMCOREINFO: assumed the 5.10+" in proc.stderr  # says which layout it assumed


def test_missing_info_region_is_named(tmp_path: Path) -> None:
    ring = ring_with_history()
    folder = vendor_folder(tmp_path / "dump", {"KLOGBUF": bytes(ring.data),
                                              "LOG_DESC": ring.desc_bytes()})
    proc = run_qdlpy("dmesg", folder)
    assert proc.returncode == 10 and "md_LOG_INFO" in proc.stderr and proc.stdout == ""


def test_short_descriptor_region_prints_only_whole_records(tmp_path: Path) -> None:
    ring = ring_with_history()
    core = tmp_path / "core.elf"
    core.write_bytes(lockless_core(ring))
    full = qdlpy.dmesg(core)
    descs = ring.desc_bytes()
    folder = vendor_folder(tmp_path / "dump", {"KLOGBUF": bytes(ring.data),
                                              "LOG_DESC": descs, "LOG_INFO": ring.info_bytes()})
    (folder / "md_LOG_DESC.BIN").write_bytes(descs[: len(descs) // 2 + 5])  # a short pull
    got = qdlpy.dmesg(folder)
    kept = {r.seq for r in got.records}
    slots = {r.seq: r.seq % ring.count for r in full.records  # seq -> slot (seq = slot mod n)
             if r.seq is not None}
    assert kept == {s for s, slot in slots.items() if slot < ring.count // 2}
    assert [r for r in full.records if r.seq in kept] == got.records
    assert got.skipped["descriptors not in the dump"] > 0
    assert any("md_LOG_DESC.BIN" in w and "only" in w for w in got.warnings)


@pytest.mark.parametrize("header,align", [(16, 4), (16, 8), (20, 4), (24, 8)])
def test_vendor_log_buf_without_indices(header: int, align: int, tmp_path: Path) -> None:
    """The oldest lap is found without log_first_idx: qdlpy's output ends with exactly
    vmcore-dmesg's records (minus its lap marker line); at most the record the kernel had
    just dropped but not yet overwritten may come before them."""
    from triage_build import legacy_core

    log = LegacyLog(4096, header, align, caller=header > 16)
    for text, ts in boot_log(300, start_ns=5):
        log.store(text, ts)
    core = tmp_path / "core.elf"
    core.write_bytes(legacy_core(log))
    want = vmcore_dmesg(core).replace(b"[    0.000000] \n", b"", 1)
    got = qdlpy.dmesg(vendor_folder(tmp_path / "dump", {"KLOGBUF": bytes(log.buf)}))
    assert got.layout == "vendor-log_buf" and f"{header} bytes" in got.layout_detail
    assert got.text().endswith(want)
    extra = got.text()[: len(got.text()) - len(want)].count(b"\n")
    assert extra <= 1


def test_downstream_header_places_log_desc_and_log_info(tmp_path: Path) -> None:
    """md_LOG_DESC/md_LOG_INFO lack the K prefix but the md_KELF_HEADER lists them: they
    are placed in minidump.elf (not zero-filled) and not copied into the subsystems ELF."""
    s = kimg.build_downstream("arm64")
    folder = table_folder(tmp_path / "dump", s.table())
    report = assemble(folder)
    elf = ELFFile(io.BytesIO((folder / "minidump.elf").read_bytes()))
    for name in ("LOG_DESC", "LOG_INFO"):
        section = elf.get_section_by_name(name)
        assert section.data() == (folder / f"md_{name}.BIN").read_bytes()
    placed = {p.filename: p.status for p in report.kernel.placements} if report.kernel else {}
    assert placed["md_LOG_DESC.BIN"] == placed["md_LOG_INFO.BIN"] == "ok"
    assert "md_LOG_DESC.BIN" not in report.groups.get("subsystems", [])
    assert inspect(folder / "minidump.elf").kernel.osrelease == s.osrelease  # type: ignore[union-attr]
    # The log reads the same from the folder, from the assembled ELF (by section names)
    # and from the bare region files.
    from_folder = qdlpy.dmesg(folder)
    assert from_folder.layout == "vendor-lockless" and len(from_folder.records) > 50
    assert qdlpy.dmesg(folder / "minidump.elf").text() == from_folder.text()
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("md_KLOGBUF.BIN", "md_LOG_DESC.BIN", "md_LOG_INFO.BIN"):
        shutil.copy(folder / name, bare / name)
    assert qdlpy.dmesg(bare).text() == from_folder.text()


def test_downstream_legacy_klogbuf(tmp_path: Path) -> None:
    s = kimg.build_downstream("x86_64", printk="legacy")
    folder = table_folder(tmp_path / "dump", s.table())
    got = qdlpy.dmesg(folder)
    assert got.layout == "vendor-log_buf"
    assert got.records[-1].text == b"Memory Limit: none"
    assert any(r.text.startswith(b"Kernel panic - not syncing") for r in got.records)
