"""Every situation of minidump-format.md §8.3, with the default, --strict and --repair."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import InputError
from qdlpy.simulator import kmemdump_image as kimg

MakeFolder = Callable[..., Path]


def loads_of(path: Path) -> list[dict[str, int | bytes]]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        return [{"paddr": s["p_paddr"], "offset": s["p_offset"], "filesz": s["p_filesz"],
                 "memsz": s["p_memsz"], "data": s.data()}
                for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]


def test_missing_region_becomes_an_empty_pt_load(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build(arch)
    gone = s.load_for(20)  # nr_swapfiles
    folder = make_folder(s.without("md_Knr_swapf20.BIN"))
    report = assemble(folder)
    out = folder / "minidump.elf"
    k = report.kernel
    assert k is not None and [p.paddr for p in k.missing] == [gone.pa]
    assert any("missing" in w for w in report.warnings)
    loads = loads_of(out)
    assert out.stat().st_size == len(s.reference) - gone.filesz
    for ld, got in zip(s.loads, loads):
        assert got["paddr"] == ld.pa and got["memsz"] == ld.filesz
        assert got["offset"] != 0
        if ld is gone:
            assert got["filesz"] == 0
        else:
            assert got["data"] == ld.data  # later regions were not shifted off their headers
    with pytest.raises(InputError, match="--strict.*missing") as e:
        assemble(folder, strict=True)
    assert e.value.exit_code == 10


def test_region_listed_but_not_on_disk(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    folder = make_folder(s)
    (folder / "md_Kprb_data27.BIN").unlink()
    report = assemble(folder)
    assert report.kernel is not None
    [miss] = report.kernel.missing
    assert miss.filename == "md_Kprb_data27.BIN" and "not on disk" in miss.detail


def test_short_file_is_zero_padded(make_folder: MakeFolder) -> None:
    s = kimg.build("x86_64")
    rec = s.region("md_Kconfig3.BIN")
    folder = make_folder(s.with_file(rec.filename, rec.data[:1000]))
    report = assemble(folder)
    out = (folder / "minidump.elf").read_bytes()
    ld = s.load_for(3)
    start = len(s.reference) - sum(x.filesz for x in s.loads)
    assert len(out) == len(s.reference)
    assert out[start : start + ld.filesz] == rec.data[:1000] + bytes(ld.filesz - 1000)
    assert out[start + ld.filesz :] == s.reference[start + ld.filesz :]
    assert report.kernel is not None and report.kernel.placements[0].status == "padded"
    with pytest.raises(InputError, match="zero-padded"):
        assemble(folder, strict=True)


def test_long_file_is_truncated(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    rec = s.region("md_Kjiffies10.BIN")
    folder = make_folder(s.with_file(rec.filename, rec.data + b"\xff" * 100))
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert report.kernel is not None
    assert [p.status for p in report.kernel.placements if p.status != "ok"] == ["truncated"]
    with pytest.raises(InputError, match="truncated"):
        assemble(folder, strict=True)


def test_table_length_differs_but_file_is_right(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    rows = [dataclasses.replace(r, length=r.length + 4) if r.filename == "md_Kprb24.BIN" else r
            for r in s.table()]
    folder = make_folder(rows)
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert report.kernel is not None
    assert [p.status for p in report.kernel.placements if p.status != "ok"] == ["length-mismatch"]
    assemble(folder, strict=True)  # reported, not a repair: --strict accepts it


def test_misaligned_symbol(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build(arch, misaligned=True)
    folder = make_folder(s)
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert report.kernel is not None
    [p] = [p for p in report.kernel.placements if p.status != "ok"]
    assert p.status == "misaligned" and p.paddr & 3 == 2 and "dropped its first 2" in p.detail
    with pytest.raises(InputError, match="aligned"):
        assemble(folder, strict=True)


def test_duplicate_address_resolved_by_length(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    ld = s.load_for(50)
    twin = kimg.RegionRecord("md_Kunknown54", "md_Kunknown54.BIN", ld.pa, 64, b"\xaa" * 64,
                             region_id=54)
    folder = make_folder(s.plus(twin))
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert report.kernel is not None and report.kernel.unreferenced == ["md_Kunknown54.BIN"]
    side = folder / "minidump-kernel-unreferenced.elf"
    assert [(x["paddr"], x["data"]) for x in loads_of(side)] == [(ld.pa, b"\xaa" * 64)]


def test_duplicate_address_and_length(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    rec = s.region("md_Kunknown51.BIN")
    same = dataclasses.replace(rec, description="md_Kunknown55", filename="md_Kunknown55.BIN",
                               region_id=55)
    report = assemble(make_folder(s.plus(same)))
    assert any("same bytes" in w for w in report.warnings)
    other = dataclasses.replace(same, data=bytes(len(rec.data)))
    with pytest.raises(InputError, match="share its address") as e:
        assemble(make_folder(s.plus(other)))
    assert "md_Kunknown51.BIN" in e.value.message and "md_Kunknown55.BIN" in e.value.message


def test_unreferenced_kernel_region(make_folder: MakeFolder) -> None:
    s = kimg.build("x86_64")
    extra = kimg.RegionRecord("md_Kunknown60", "md_Kunknown60.BIN", 0x47000000, 256,
                              kimg.pattern(60, 256), region_id=60)
    folder = make_folder(s.plus(extra))
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert report.kernel is not None and report.kernel.unreferenced == ["md_Kunknown60.BIN"]
    assert any("registered but not in the ELF" in w for w in report.warnings)
    assert report.groups["kernel-unreferenced"] == ["md_Kunknown60.BIN"]
    side = folder / "minidump-kernel-unreferenced.elf"
    with open(side, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == "EM_X86_64"
        notes = [n for seg in elf.iter_segments() if seg["p_type"] == "PT_NOTE"
                 for n in seg.iter_notes()]
        assert [n["n_name"] for n in notes] == ["VMCOREINFO"]  # the kernel's, for crash


def test_vmcoreinfo_missing_keeps_offsets(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build(arch)
    folder = make_folder(s.without("md_Kvmcorein2.BIN"))
    report = assemble(folder)
    out = (folder / "minidump.elf").read_bytes()
    v = s.vmcoreinfo_descsz
    k = len(s.kelf)
    assert len(out) == len(s.reference)
    assert out[:k] == s.reference[:k] and out[k : k + v] == bytes(v)
    assert out[k + v :] == s.reference[k + v :]
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "missing"
    assert report.kernel.osrelease is None
    assert any("crash will lack vmcoreinfo" in w for w in report.warnings)
    with pytest.raises(InputError, match="vmcoreinfo"):
        assemble(folder, strict=True)


def test_vmcoreinfo_short(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    rec = s.region("md_Kvmcorein2.BIN")
    folder = make_folder(s.with_file(rec.filename, rec.data[:200]))
    report = assemble(folder)
    out = (folder / "minidump.elf").read_bytes()
    k, v = len(s.kelf), s.vmcoreinfo_descsz
    assert out[k : k + v] == rec.data[:200] + bytes(v - 200)
    assert out[k + v :] == s.reference[k + v :]
    assert report.kernel is not None and report.kernel.vmcoreinfo_status == "short"
    assert report.kernel.osrelease == s.osrelease  # the first line survived


def test_vmcoreinfo_found_by_content_when_id_is_lost(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    rows = [dataclasses.replace(r, description="md_Kvmcoreinfo", filename="md_Kvmcoreinfo.BIN")
            if r.region_id == 2 else r for r in s.table()]
    folder = make_folder(rows)
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert report.kernel is not None and report.kernel.vmcoreinfo_file == "md_Kvmcoreinfo.BIN"


def test_corrupt_core_notes(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build(arch, corrupt_notes=True)
    folder = make_folder(s)
    report = assemble(folder)  # default: built as is, with a loud warning
    assert any("--repair" in w for w in report.warnings)
    with pytest.raises(InputError, match="CORE notes") as e:
        assemble(folder, strict=True)
    assert "--repair" in (e.value.hint or "")
    report = assemble(folder, repair=True)
    assert report.kernel is not None and report.kernel.repairs
    out = (folder / "minidump.elf").read_bytes()
    assert len(out) == len(s.reference)
    diff = [i for i, (a, b) in enumerate(zip(out, s.reference)) if a != b]
    # only pr_psargs (the command line, not recoverable) differs from the clean reference
    assert diff and min(diff) > len(s.kelf) - 24 - 136 and max(diff) < len(s.kelf) - 24
    with open(folder / "minidump.elf", "rb") as f:
        elf = ELFFile(f)
        note_seg = next(seg for seg in elf.iter_segments() if seg["p_type"] == "PT_NOTE")
        names = [(n["n_name"], n["n_type"]) for n in note_seg.iter_notes()]
    assert [n for n, _ in names] == ["CORE", "CORE", "VMCOREINFO"]


def test_encrypted_minidump_is_explained(make_folder: MakeFolder) -> None:
    folder = make_folder(kimg.build("arm64", encrypted=True))
    with pytest.raises(InputError, match="encrypted") as e:
        assemble(folder)
    assert e.value.exit_code == 10
    rep = inspect(folder)
    assert rep.encrypted and any("encrypted" in w for w in rep.warnings)


def test_zeroed_header_is_explained(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    folder = make_folder(s.with_file("md_KELF1.BIN", bytes(len(s.kelf))))
    with pytest.raises(InputError, match="all zeros"):
        assemble(folder)


def test_no_kernel_header_builds_only_group_elfs(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    folder = make_folder(s.without("md_KELF1.BIN"))
    report = assemble(folder)
    assert report.kernel is None and report.output is None
    assert not (folder / "minidump.elf").exists()
    assert "kernel-unreferenced" in report.groups
    assert any("no md_KELF header" in w or "no kernel ELF" in w for w in report.warnings)
    loads = loads_of(folder / "minidump-kernel-unreferenced.elf")
    assert len(loads) == len(s.regions) - 1


def test_header_listed_but_missing(make_folder: MakeFolder) -> None:
    folder = make_folder(kimg.build("arm64"))
    (folder / "md_KELF1.BIN").unlink()
    with pytest.raises(InputError, match="kernel ELF header"):
        assemble(folder)


def test_truncated_header(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    folder = make_folder(s.with_file("md_KELF1.BIN", s.kelf[:500]))
    with pytest.raises(InputError, match="does not fit"):
        assemble(folder)


def test_partial_download_in_manifest(make_folder: MakeFolder) -> None:
    s = kimg.build("arm64")
    folder = make_folder(s)
    doc = json.loads((folder / "manifest.json").read_text())
    for r in doc["regions"]:
        if r["filename"] == "md_Kprb_desc25.BIN":
            r["status"] = "partial"
    (folder / "manifest.json").write_text(json.dumps(doc))
    report = assemble(folder)
    assert any("'partial'" in w for w in report.warnings)
    with pytest.raises(InputError, match="partial"):
        assemble(folder, strict=True)
