"""Odd and hostile dump folders and ELFs: off-by-a-few headers, corrupt notes, huge numbers."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import elf64, kmemdump
from oracle.folder import TableEntry, manifest_text

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import InputError

MakeFolder = Callable[..., Path]
Verify = Callable[..., None]


def test_heuristic_places_a_misaligned_region_like_the_address_path(
        arch: str, make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build(arch, misaligned=True)
    folder = make_folder(s, source="none")
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None
    [p] = [p for p in report.kernel.placements if p.status != "ok"]
    assert p.status == "misaligned" and "dropped its first 2" in p.detail
    with pytest.raises(InputError, match="aligned"):
        assemble(folder, strict=True)


@pytest.mark.parametrize("source", ["manifest", "none"])
@pytest.mark.parametrize("cut", [4, 12])
def test_header_region_a_few_bytes_short(source: str, cut: int, make_folder: MakeFolder,
                                         verify: Verify) -> None:
    s = kmemdump.build("arm64")
    s = s.with_file(1, s.kelf[:-cut])
    folder = make_folder(s, source=source)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)  # the header as the kernel built it
    k = report.kernel
    assert k is not None and k.vmcoreinfo_status == "ok" and k.osrelease == s.osrelease
    assert any(s.file_of(1) in w and f"{cut} bytes short" in w for w in report.warnings)
    assert not any(s.file_of(2) in w for w in report.warnings)
    with pytest.raises(InputError, match=s.file_of(1)):
        assemble(folder, strict=True)


@pytest.mark.parametrize("source", ["manifest", "none"])
@pytest.mark.parametrize("cut", [16, 24, 40])
def test_header_region_cut_into_the_vmcoreinfo_note_header(
        arch: str, source: str, cut: int, make_folder: MakeFolder, verify: Verify) -> None:
    # The last 24 bytes are the VMCOREINFO note header, a constant once V is known; the
    # header's own PT_NOTE and the layout formulas give V and the region's length.
    s = kmemdump.build(arch)
    s = s.with_file(1, s.kelf[:-cut])
    folder = make_folder(s, source=source)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "ok"
    assert any(f"{cut} bytes short" in w for w in report.warnings)


@pytest.mark.parametrize("extra", [4, 4096])
def test_header_region_too_long(extra: int, make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("x86_64")
    s = s.with_file(1, s.kelf + b"\xee" * extra)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "ok"
    assert any(s.file_of(1) in w and f"{extra} bytes" in w for w in report.warnings)


@pytest.mark.parametrize("source", ["manifest", "none"])
@pytest.mark.parametrize("change", [-4, 4])
def test_corrupt_notes_in_a_header_a_few_bytes_off(arch: str, source: str, change: int,
                                                   make_folder: MakeFolder,
                                                   verify: Verify) -> None:
    # Corrupt CORE notes say nothing about the length: the layout still does.
    s = kmemdump.build(arch, corrupt_notes=True)
    s = s.with_file(1, s.kelf[:change] if change < 0 else s.kelf + b"\xee" * change)
    folder = make_folder(s, source=source)
    report = assemble(folder, repair=True)
    verify(folder / "minidump.elf", s, repair=True)
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "ok"
    assert report.kernel.repairs


def test_corrupt_notes_without_repair_say_vmcoreinfo_is_unreachable(
        make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("arm64", corrupt_notes=True)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    k = report.kernel
    assert k is not None and k.vmcoreinfo_status != "ok"
    assert "corrupt notes" in k.vmcoreinfo_status
    assert report.next_commands[0] == f"qdlpy assemble {folder} --repair"
    report = assemble(folder, repair=True)
    verify(folder / "minidump.elf", s, repair=True)
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "ok"
    assert not report.next_commands[0].startswith("qdlpy assemble")


def _patch_phdr(data: bytearray, index: int, field: str, value: int) -> None:
    phoff = struct.unpack_from("<Q", data, 32)[0]
    at = {"offset": 8, "filesz": 32}[field]
    struct.pack_into("<Q", data, phoff + index * 56 + at, value)


def test_inspect_survives_offsets_near_2_64(tmp_path: Path, make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    bad = bytearray(s.expected())
    _patch_phdr(bad, 0, "offset", 2**64 - 1)
    p = tmp_path / "note.elf"
    p.write_bytes(bad)
    rep = inspect(p)
    assert rep.kernel is not None and rep.notes == []
    # a group ELF has sections: point the string table at the end of the 64-bit range
    folder = make_folder(s)
    assemble(folder)
    g = bytearray((folder / "minidump-subsystems.elf").read_bytes())
    shoff, = struct.unpack_from("<Q", g, 40)
    struct.pack_into("<Q", g, shoff + 64 + 24, 2**64 - 8)  # section 1 (STR_TBL) sh_offset
    q = tmp_path / "group.elf"
    q.write_bytes(g)
    rep = inspect(q)
    assert rep.kernel is not None and len(rep.kernel.placements) == 1


def test_hostile_numbers_in_the_manifest(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64"))
    doc = json.loads((folder / "manifest.json").read_text())
    for r in doc["regions"]:
        if r["filename"] == "MD_RST_STAT.BIN":
            r["length"] = 2**70
        if r["filename"] == "MD_SMEMINFO.BIN":
            r["base"] = "0x1ffffffffffffffff"
    (folder / "manifest.json").write_text(json.dumps(doc))
    report = assemble(folder)
    bad = [w for w in report.warnings if "manifest.json" in w and "64 bits" in w]
    assert len(bad) == 2 and any("MD_RST_STAT.BIN" in w for w in bad)


def test_hostile_numbers_in_dump_info(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64"), source="dump_info")
    path = folder / "dump_info.txt"
    lines = path.read_text().splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.endswith("MD_RST_STAT.BIN"))
    t = lines[n].split()
    t[1], t[2] = "0x1ffffffffffffffff", str(2**70)
    lines[n] = " ".join(t)
    path.write_text("\n".join(lines) + "\n")
    report = assemble(folder)
    assert any(f"dump_info.txt line {n + 1}" in w and "64 bits" in w for w in report.warnings)


def test_heuristic_ignores_qdlpy_files(make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s, source="none")
    (folder / "table.bin").write_bytes(bytes(range(64)))
    (folder / ".hidden.BIN").write_bytes(b"x" * 16)
    (folder / f"{s.file_of(3)}.part").write_bytes(b"y")
    rep = inspect(folder)
    names = {e["filename"] for e in rep.entries}
    assert "table.bin" not in names and ".hidden.BIN" not in names
    assemble(folder)
    verify(folder / "minidump.elf", s)


def test_error_hints_do_not_send_the_user_in_circles(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        assemble(tmp_path / "nonexist")
    assert "qdlpy inspect" not in (e.value.hint or "")
    p = tmp_path / "text.elf"
    p.write_text("hello")
    with pytest.raises(InputError) as e:
        inspect(p)
    assert "qdlpy inspect" not in (e.value.hint or "")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as e:
        inspect(fifo)
    assert "does not exist" not in e.value.message and "not a regular file" in e.value.message
    with pytest.raises(InputError) as e:
        inspect(tmp_path / "nothing")
    assert e.value.hint == "check the path"  # an explicit hint is kept


def test_inspect_of_an_elf_with_corrupt_notes(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64", corrupt_notes=True))
    assemble(folder)
    rep = inspect(folder / "minidump.elf")
    k = rep.kernel
    assert k is not None and k.vmcoreinfo_status in ("missing", "unreadable")
    assert any("--repair" in w for w in rep.warnings)


def test_a_plain_core_without_sections_is_not_called_kmemdump(tmp_path: Path) -> None:
    head = (elf64.ehdr(62, 2) + elf64.phdr(elf64.PT_NOTE, 176, 0)
            + elf64.phdr(elf64.PT_LOAD, 176, 16, paddr=0x1000))
    p = tmp_path / "core"
    p.write_bytes(head + bytes(16))
    rep = inspect(p)
    assert rep.kernel is not None and rep.kernel.style != "kmemdump"


@pytest.mark.slow
def test_group_elf_section_count_stays_below_shn_loreserve(tmp_path: Path) -> None:
    # 0xff00 firmware items (a hostile manifest listing one file at 0xff00 addresses): one
    # section each would need the extended section numbering.
    rows = [TableEntry(0x1000 * (i + 1), f"MD_X{i}", "MD_X.BIN", b"abcd")
            for i in range(0xFF00)]
    (tmp_path / "MD_X.BIN").write_bytes(b"abcd")
    (tmp_path / "manifest.json").write_text(manifest_text(rows))
    report = assemble(tmp_path)
    assert any("only the first" in w for w in report.warnings)
    [out] = report.outputs
    shnum, = struct.unpack_from("<H", Path(out.path).read_bytes(), 60)
    assert shnum < 0xFF00
