"""Every damaged-dump situation with the default policy, --strict and --repair; the bytes
a correct assembler writes come from the oracle (tests/oracle/kmemdump.py docstring)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from oracle import kmemdump
from oracle.extras import pattern
from oracle.folder import TableEntry
from oracle.kelf import PRPSINFO_SIZE, core_notes, layout

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import EncryptedDump, InputError

MakeFolder = Callable[..., Path]
Verify = Callable[..., None]


def loads_of(path: Path) -> list[dict[str, int | bytes]]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return [{"paddr": s["p_paddr"], "offset": s["p_offset"], "filesz": s["p_filesz"],
                 "memsz": s["p_memsz"], "data": s.data()}
                for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]


def test_missing_region_becomes_an_empty_pt_load(arch: str, make_folder: MakeFolder,
                                                 verify: Verify) -> None:
    s = kmemdump.build(arch).without(20)  # nr_swapfiles
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    k = report.kernel
    assert k is not None and [p.paddr for p in k.missing] == [s.load(20).pa]
    assert any("missing" in w for w in report.warnings)
    for got in loads_of(folder / "minidump.elf"):
        assert got["offset"] != 0  # crash takes the smallest PT_LOAD offset as header size
    with pytest.raises(InputError, match="--strict.*missing") as e:
        assemble(folder, strict=True)
    assert e.value.exit_code == 10


@pytest.mark.parametrize("gone", [[3], [53], [3, 53], [5, 11, 19, 27, 29]])
def test_missing_first_last_and_several(arch: str, gone: list[int], make_folder: MakeFolder,
                                        verify: Verify) -> None:
    s = kmemdump.build(arch)
    for region_id in gone:
        s = s.without(region_id)
    folder = make_folder(s.shuffled(seed=len(gone)))
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and len(report.kernel.missing) == len(gone)


def test_region_listed_but_not_on_disk(make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("arm64").without_file(27)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None
    [miss] = report.kernel.missing
    assert miss.filename == s.file_of(27) and "not on disk" in miss.detail


def test_short_file_is_zero_padded(make_folder: MakeFolder, verify: Verify) -> None:
    base = kmemdump.build("x86_64")
    s = base.with_file(3, (base.row(3).data or b"")[:1000])
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.placements[0].status == "padded"
    with pytest.raises(InputError, match="zero-padded"):
        assemble(folder, strict=True)


def test_long_file_is_truncated(make_folder: MakeFolder, verify: Verify) -> None:
    base = kmemdump.build("arm64")
    s = base.with_file(10, (base.row(10).data or b"") + b"\xff" * 100)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert s.expected() == base.expected()
    assert report.kernel is not None
    assert [p.status for p in report.kernel.placements if p.status != "ok"] == ["truncated"]
    with pytest.raises(InputError, match="truncated"):
        assemble(folder, strict=True)


def test_table_length_differs_but_file_is_right(make_folder: MakeFolder,
                                                verify: Verify) -> None:
    s = kmemdump.build("arm64")
    s = s.with_row(24, length=s.row(24).table_length + 4)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None
    assert [p.status for p in report.kernel.placements if p.status != "ok"] == ["length-mismatch"]
    assemble(folder, strict=True)  # reported, not a repair: --strict accepts it


@pytest.mark.parametrize("source", ["manifest", "load.cmm", "none"])
def test_misaligned_symbol(arch: str, source: str, make_folder: MakeFolder,
                           verify: Verify) -> None:
    s = kmemdump.build(arch, misaligned=True)
    assert s.load(11).pa & 3 == 2
    folder = make_folder(s, source=source)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None
    [p] = [p for p in report.kernel.placements if p.status != "ok"]
    assert p.status == "misaligned" and p.paddr & 3 == 2 and "dropped its first 2" in p.detail
    with pytest.raises(InputError, match="aligned"):
        assemble(folder, strict=True)


def test_duplicate_address_resolved_by_length(make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("arm64")
    pa = s.load(50).pa
    s = s.plus(TableEntry(pa, "md_Kunknown54", "md_Kunknown54.BIN", b"\xaa" * 64,
                          region_id=54))
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.unreferenced == ["md_Kunknown54.BIN"]
    side = folder / "minidump-kernel-unreferenced.elf"
    assert [(x["paddr"], x["data"]) for x in loads_of(side)] == [(pa, b"\xaa" * 64)]


def test_duplicate_address_and_length(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    twin = s.row(51)
    same = TableEntry(twin.base, "md_Kunknown55", "md_Kunknown55.BIN", twin.data, region_id=55)
    report = assemble(make_folder(s.plus(same)))
    assert any("same bytes" in w for w in report.warnings)
    other = TableEntry(twin.base, "md_Kunknown55", "md_Kunknown55.BIN",
                       bytes(len(twin.data or b"")), region_id=55)
    with pytest.raises(InputError, match="share its address") as e:
        assemble(make_folder(s.plus(other)))
    assert twin.filename in e.value.message and "md_Kunknown55.BIN" in e.value.message


def test_unreferenced_kernel_region(make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build("x86_64")
    s = s.plus(TableEntry(0x4700_0000, "md_Kunknown60", "md_Kunknown60.BIN", pattern(60, 256),
                          region_id=60))
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.unreferenced == ["md_Kunknown60.BIN"]
    assert any("registered but not in the ELF" in w for w in report.warnings)
    assert report.groups["kernel-unreferenced"] == ["md_Kunknown60.BIN"]
    side = folder / "minidump-kernel-unreferenced.elf"
    assert [(x["paddr"], x["data"]) for x in loads_of(side)] == [(0x4700_0000, pattern(60, 256))]
    with open(side, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == "EM_X86_64"
        notes = [n for seg in elf.iter_segments() if seg["p_type"] == "PT_NOTE"
                 for n in seg.iter_notes()]
        assert [n["n_name"] for n in notes] == ["VMCOREINFO"]  # the kernel's, for crash
        desc = notes[0]["n_desc"]
        assert (desc if isinstance(desc, bytes) else desc.encode("latin-1")) == (
            s.expected_vmcoreinfo())


def test_vmcoreinfo_missing_keeps_offsets(arch: str, make_folder: MakeFolder,
                                          verify: Verify) -> None:
    s = kmemdump.build(arch).without(2)
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert s.expected_vmcoreinfo() == bytes(s.vmcoreinfo_len)
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "missing"
    assert report.kernel.osrelease is None
    assert any("crash will lack vmcoreinfo" in w for w in report.warnings)
    with pytest.raises(InputError, match="vmcoreinfo"):
        assemble(folder, strict=True)


def test_vmcoreinfo_short(make_folder: MakeFolder, verify: Verify) -> None:
    base = kmemdump.build("arm64")
    s = base.with_file(2, (base.row(2).data or b"")[:200])
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "short"
    assert report.kernel.osrelease == s.osrelease  # the first line survived


def test_vmcoreinfo_found_by_content_when_id_is_lost(make_folder: MakeFolder,
                                                     verify: Verify) -> None:
    s = kmemdump.build("arm64").with_row(2, desc="md_Kvmcoreinfo", filename="md_Kvmcoreinfo.BIN")
    folder = make_folder(s)
    report = assemble(folder)
    verify(folder / "minidump.elf", s)
    assert report.kernel is not None and report.kernel.vmcoreinfo_file == "md_Kvmcoreinfo.BIN"


def test_corrupt_core_notes(arch: str, make_folder: MakeFolder, verify: Verify) -> None:
    s = kmemdump.build(arch, corrupt_notes=True)
    folder = make_folder(s)
    report = assemble(folder)  # default: built as is, with a loud warning
    verify(folder / "minidump.elf", s)
    assert any("--repair" in w for w in report.warnings)
    with pytest.raises(InputError, match="CORE notes") as e:
        assemble(folder, strict=True)
    assert "--repair" in (e.value.hint or "")
    report = assemble(folder, repair=True)
    assert report.kernel is not None and report.kernel.repairs
    verify(folder / "minidump.elf", s, repair=True)
    # The rebuilt notes are the kernel's, except the command line that nothing records.
    out = (folder / "minidump.elf").read_bytes()
    start = layout(s.arch.prstatus_size, s.vmcoreinfo_len).note_start
    notes = core_notes(s.arch.prstatus_size, b"")
    assert out[start : start + len(notes)] == notes
    clean = kmemdump.build(arch).expected()
    diff = [i for i, (a, b) in enumerate(zip(out, clean)) if a != b]
    psargs = start + len(notes) - PRPSINFO_SIZE + 56
    assert diff and psargs <= min(diff) and max(diff) < psargs + 80


def test_encrypted_minidump_is_explained(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64", encrypted=True))
    with pytest.raises(EncryptedDump, match="encrypted") as e:
        assemble(folder)
    assert e.value.exit_code == 10
    rep = inspect(folder)
    assert rep.encrypted and any("encrypted" in w for w in rep.warnings)


def test_zeroed_header_is_explained(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s.with_file(1, bytes(len(s.kelf))))
    with pytest.raises(EncryptedDump, match="all zeros"):
        assemble(folder)
    rep = inspect(folder)
    assert not rep.encrypted and any("all zeros" in w for w in rep.warnings)


def test_a_header_that_is_no_elf_and_not_encrypted(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s.with_file(1, b"just some text, not an ELF header at all\n" * 20))
    with pytest.raises(InputError, match="not a kernel minidump header") as e:
        assemble(folder)
    assert not isinstance(e.value, EncryptedDump)
    rep = inspect(folder)
    assert not rep.encrypted


def test_no_kernel_header_builds_only_group_elfs(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64").without(1)
    folder = make_folder(s)
    report = assemble(folder)
    assert report.kernel is None and report.output is None
    assert not (folder / "minidump.elf").exists()
    assert "kernel-unreferenced" in report.groups
    assert any("no md_KELF header" in w or "no kernel ELF" in w for w in report.warnings)
    loads = loads_of(folder / "minidump-kernel-unreferenced.elf")
    assert sorted((x["paddr"], x["data"]) for x in loads) == sorted(
        (r.base, r.data) for r in s.rows)


def test_header_listed_but_missing(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64").without_file(1))
    with pytest.raises(InputError, match="kernel ELF header"):
        assemble(folder)


def test_truncated_header(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s.with_file(1, s.kelf[:500]))
    with pytest.raises(InputError, match="does not fit"):
        assemble(folder)


def test_partial_download_in_manifest(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    doc = json.loads((folder / "manifest.json").read_text())
    for r in doc["regions"]:
        if r["filename"] == s.file_of(25):
            r["status"] = "partial"
    (folder / "manifest.json").write_text(json.dumps(doc))
    report = assemble(folder)
    assert any("'partial'" in w for w in report.warnings)
    # the file's bytes are not taken for the region: it is a hole, as if absent
    assert (folder / "minidump.elf").read_bytes() == s.without_file(25).expected()
    with pytest.raises(InputError, match="partial"):
        assemble(folder, strict=True)
