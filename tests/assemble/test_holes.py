"""A missing region reads as missing (zeros) in every consumer, never as its neighbour.

The representation (docs/formats.md#missing-regions): the hole's PT_LOAD keeps its offset
and sizes, the file holds zeros over ``[p_offset, p_offset + p_memsz)`` and its flags are 0.
Each consumer is run on the same oracle region sets (tests/oracle, with a real printk ring
and on x86_64 the page tables makedumpfile walks): vmcore-dmesg and makedumpfile read by
``p_memsz``, gdb falls back to the executable for a PT_LOAD without file bytes, drgn and
pyelftools read by ``p_filesz``. crash needs a real vmlinux: tests/e2e/test_holes.py.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from oracle import kmemdump, printk, readers
from oracle.downstream import build_downstream
from oracle.execfile import build_exec
from oracle.kmemdump import KernelSet

from qdlpy.assemble import assemble
from qdlpy.cli.main import main

MakeFolder = Callable[..., Path]
Tool = Callable[[str], str]
PRB_DATA = "prb_data"  # the printk text ring: every dmesg reader needs it


def _id(s: KernelSet, label: str) -> int:
    return next(ld.region_id for ld in s.loads if ld.label == label)


def run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False)


def _segments(path: Path) -> list[tuple[str, int, int, int, int, int, int]]:
    """(type, flags, offset, paddr, vaddr, filesz, memsz) as pyelftools reads them."""
    with open(path, "rb") as f:
        elf = ELFFile(io.BytesIO(f.read()))
        return [(s["p_type"], s["p_flags"], s["p_offset"], s["p_paddr"], s["p_vaddr"],
                 s["p_filesz"], s["p_memsz"]) for s in elf.iter_segments()]


def assert_no_overlap(path: Path) -> None:
    """No PT_LOAD's [p_offset, p_offset + max(p_filesz, p_memsz)) covers another
    segment's file bytes, and the file holds every such range."""
    segs = _segments(path)
    size = path.stat().st_size
    for i, (kind, _, off, pa, _, filesz, memsz) in enumerate(segs):
        if kind != "PT_LOAD":
            continue
        lo, hi = off, off + max(filesz, memsz)
        assert hi <= size, f"{path.name}: PT_LOAD {i} (0x{pa:x}) reads past the end of the file"
        for j, (_, _, o2, pa2, _, f2, _) in enumerate(segs):
            if j != i and f2 and o2 < hi and lo < o2 + f2:
                raise AssertionError(f"{path.name}: PT_LOAD {i} (0x{pa:x}) covers the bytes of "
                                     f"segment {j} (0x{pa2:x})")


def _variants(arch: str) -> dict[str, KernelSet]:
    s = kmemdump.build(arch)
    return {"middle": s.without(20), "first": s.without(3), "last": s.without(53),
            "listed-without-file": s.without_file(27), "several": s.without(3).without(27)
            .without(53)}


@pytest.mark.parametrize("variant", ["middle", "first", "last", "listed-without-file",
                                     "several"])
def test_no_pt_load_covers_another_ones_bytes(arch: str, variant: str,
                                              make_folder: MakeFolder) -> None:
    s = _variants(arch)[variant]
    folder = make_folder(s)
    report = assemble(folder)
    elf = folder / "minidump.elf"
    assert elf.read_bytes() == s.expected()
    assert_no_overlap(elf)
    holes = {ld.pa for ld in s.holes()}
    for kind, flags, _off, pa, _va, filesz, memsz in _segments(elf):
        if kind == "PT_LOAD":
            assert (flags == 0) == (pa in holes), hex(pa)  # 0 marks a hole, only a hole
            if pa in holes:
                assert filesz == memsz > 0
    listed = {int(h["paddr"], 16) for h in report.to_dict()["holes"]}
    assert listed == holes


def test_downstream_and_group_holes(make_folder: MakeFolder) -> None:
    ds = build_downstream("arm64").without(2)
    folder = make_folder(ds)
    assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == ds.expected()
    assert_no_overlap(folder / "minidump.elf")
    s = kmemdump.build("arm64")
    gone, kept = s.extras[1], s.extras[2]  # the boot loader's MD_ items: the firmware group
    folder = make_folder(s)
    (folder / gone.filename).unlink()  # listed, not on disk
    report = assemble(folder)
    elf = folder / "minidump-firmware.elf"
    assert_no_overlap(elf)
    loads = {g[3]: g for g in _segments(elf) if g[0] == "PT_LOAD"}
    _, flags, off, _, _, filesz, memsz = loads[gone.base]
    assert flags == 0 and filesz == memsz == len(gone.data or b"")
    with open(elf, "rb") as f:
        f.seek(off)
        assert f.read(filesz) == bytes(filesz)
        f.seek(loads[kept.base][2])
        assert f.read(len(kept.data or b"")) == kept.data
    assert any(h["filename"] == gone.filename and h["elf"] == str(elf) and h["kind"] == "firmware"
               for h in report.to_dict()["holes"])


def test_inspect_reads_the_hole_mark_back(make_folder: MakeFolder,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    s = kmemdump.build("x86_64").without(20)
    folder = make_folder(s)
    assemble(folder)
    elf = folder / "minidump.elf"
    (folder / "manifest.json").unlink()  # the ELF alone says it
    assert main(["inspect", str(elf), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    missing = doc["kernel"]["missing"]
    assert [int(m["paddr"], 16) for m in missing] == [s.load(20).pa]


# --- dmesg readers: vmcore-dmesg (kexec-tools) and makedumpfile ------------------------------


def _dmesg_for(s: KernelSet) -> str:
    """What a dmesg reader prints: the messages, or NULs where the text ring is a hole."""
    if any(ld.label == PRB_DATA for ld in s.holes()):
        return printk.dmesg_text(readers.MESSAGES,
                                 text_of=[bytes(len(m.text)) for m in readers.MESSAGES])
    return printk.dmesg_text(readers.MESSAGES)


@pytest.mark.parametrize("hole", [None, PRB_DATA])
def test_vmcore_dmesg(arch: str, hole: str | None, make_folder: MakeFolder,
                      tool: Tool) -> None:
    s = kmemdump.build(arch, for_readers=True)
    if hole:
        s = s.without(_id(s, hole))
    folder = make_folder(s)
    assemble(folder)
    proc = run(tool("vmcore-dmesg"), str(folder / "minidump.elf"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _dmesg_for(s)


@pytest.mark.parametrize("hole", [None, PRB_DATA])
def test_makedumpfile_dump_dmesg(hole: str | None, make_folder: MakeFolder, tool: Tool,
                                 tmp_path: Path) -> None:
    s = kmemdump.build("x86_64", for_readers=True)  # Debian's makedumpfile reads x86_64
    if hole:
        s = s.without(_id(s, hole))
    folder = make_folder(s)
    assemble(folder)
    out = tmp_path / "dmesg.txt"
    proc = run(tool("makedumpfile"), "--dump-dmesg", str(folder / "minidump.elf"), str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_text(errors="replace") == _dmesg_for(s)


def _read_phys(path: Path, pa: int, n: int) -> bytes | None:
    """``n`` bytes at physical ``pa`` from the PT_LOAD that starts there (makedumpfile's
    filtered ELF has one per input PT_LOAD, widened to page boundaries, and only the bytes
    of its own input PT_LOAD are right), zeros past its p_filesz; None when none does."""
    data = path.read_bytes()
    for kind, _, off, start, _, filesz, memsz in _segments(path):
        if kind == "PT_LOAD" and start == pa and max(filesz, memsz):
            return data[off : off + min(n, filesz)].ljust(min(n, max(filesz, memsz)), b"\0")
    return None


def test_makedumpfile_filter_leaves_the_hole_out(make_folder: MakeFolder, tool: Tool,
                                                 tmp_path: Path) -> None:
    full = kmemdump.build("x86_64", for_readers=True)
    s = full.without(_id(full, PRB_DATA))
    folder = make_folder(s)
    assemble(folder)
    out = tmp_path / "filtered.elf"
    proc = run(tool("makedumpfile"), "-d", "31", "-E", str(folder / "minidump.elf"), str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gone = full.load(_id(full, PRB_DATA))
    seen = _read_phys(out, gone.pa, 4096)
    assert seen is None or seen == bytes(len(seen)), seen[:32]
    for label in ("prb_infos", "printk_rb_dynamic", "init_uts_ns"):
        ld = full.load(_id(full, label))
        assert _read_phys(out, ld.pa, 32) == ld.data[:32], label


# --- gdb and drgn ----------------------------------------------------------------------------


def _gdb_bytes(gdb: str, exe: Path, core: Path, va: int) -> bytes:
    proc = run(gdb, "-batch", "-nx", str(exe), "-c", str(core), "-ex", f"x/16xb 0x{va:x}")
    lines = [ln for ln in proc.stdout.splitlines() if re.match(r"^0x[0-9a-f]+.*:\s", ln)]
    assert lines, proc.stdout + proc.stderr
    return bytes(int(b, 16) for ln in lines for b in ln.split(":", 1)[1].split())


def test_gdb_reads_zeros_not_the_executables_data(arch: str, make_folder: MakeFolder,
                                                  tool: Tool, tmp_path: Path) -> None:
    """With a vmlinux loaded, gdb reads a PT_LOAD without file bytes from the vmlinux's
    link-time data; a hole must read as zeros instead."""
    gdb = tool("gdb-multiarch" if arch == "arm64" else "gdb")
    s = kmemdump.build(arch).without(21)
    folder = make_folder(s)
    assemble(folder)
    gone = s.load(21)
    exe = tmp_path / "vmlinux"
    exe.write_bytes(build_exec(s.machine, gone.va, b"LINK-TIME-DATA!!" * 4))
    assert _gdb_bytes(gdb, exe, folder / "minidump.elf", gone.va) == bytes(16)
    nxt = s.load(22)
    assert _gdb_bytes(gdb, exe, folder / "minidump.elf", nxt.va) == nxt.data[:16]


def test_drgn_reads_zeros(arch: str, make_folder: MakeFolder) -> None:
    drgn = pytest.importorskip("drgn", reason="drgn is in the test extra (pip install drgn)")
    s = kmemdump.build(arch, for_readers=True)
    s = s.without(_id(s, PRB_DATA))
    folder = make_folder(s)
    assemble(folder)
    prog = drgn.Program()
    prog.set_core_dump(str(folder / "minidump.elf"))
    gone = next(ld for ld in s.holes())
    assert prog.read(gone.pa, 64, True) == bytes(64)
    for label in ("prb_infos", "prb_descs"):
        ld = s.load(_id(s, label))
        assert prog.read(ld.pa, 64, True) == ld.data[:64], label


def test_pyelftools_reads_zeros(make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64").without(27)
    folder = make_folder(s)
    assemble(folder)
    with open(folder / "minidump.elf", "rb") as f:
        elf = ELFFile(f)
        seg = next(g for g in elf.iter_segments() if g["p_type"] == "PT_LOAD"
                   and g["p_paddr"] == s.load(27).pa)
        assert seg["p_flags"] == 0 and seg.data() == bytes(s.load(27).filesz)


def test_a_zero_tail_that_would_cover_a_neighbour_moves_to_the_end(
        make_folder: MakeFolder) -> None:
    """A header PT_LOAD with p_memsz > p_filesz (not what kmemdump writes, but possible in a
    damaged header): its zero tail must not read its neighbour's bytes, so it moves."""
    s = kmemdump.build("x86_64")
    slot = [ld.region_id for ld in s.loads].index(20) + 1  # program header of region 20
    kelf = bytearray(s.kelf)
    at = 64 + slot * 56 + 40  # p_memsz
    filesz = s.load(20).filesz
    kelf[at : at + 8] = (filesz + 4096).to_bytes(8, "little")
    folder = make_folder(s.with_row(1, data=bytes(kelf)))
    report = assemble(folder)
    elf = folder / "minidump.elf"
    assert_no_overlap(elf)
    seg = next(g for g in _segments(elf) if g[0] == "PT_LOAD" and g[3] == s.load(20).pa)
    assert seg[6] == filesz + 4096 and seg[2] >= max(g[2] + g[5] for g in _segments(elf)
                                                     if g[3] != s.load(20).pa)
    data = elf.read_bytes()
    assert data[seg[2] : seg[2] + filesz] == s.load(20).data
    assert data[seg[2] + filesz : seg[2] + filesz + 4096] == bytes(4096)
    assert report.kernel is not None and not report.kernel.missing
