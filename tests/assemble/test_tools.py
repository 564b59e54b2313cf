"""Third-party consumers read every assembled ELF variant as the oracle says they must:
readelf and pyelftools (program headers, the note walk, the VMCOREINFO text), gdb (region
bytes at PT_LOAD addresses) and crash (x86_64)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump
from oracle.kmemdump import KernelSet

from qdlpy.assemble import assemble

MakeFolder = Callable[..., Path]
Tool = Callable[[str], str]
Verify = Callable[..., None]


def _cut(s: KernelSet, region_id: int, n: int) -> KernelSet:
    return s.with_file(region_id, (s.row(region_id).data or b"")[:n])


# name -> (the damaged set for an arch, address source, --repair)
VARIANTS: dict[str, Callable[[str], tuple[KernelSet, str, bool]]] = {
    "plain": lambda a: (kmemdump.build(a), "manifest", False),
    "shuffled-dump_info": lambda a: (kmemdump.build(a).shuffled(7), "dump_info", False),
    "shuffled-load.cmm": lambda a: (kmemdump.build(a).shuffled(8), "load.cmm", False),
    "heuristic": lambda a: (kmemdump.build(a), "none", False),
    "reregistered": lambda a: (kmemdump.build(a, reregister=17), "manifest", False),
    "misaligned": lambda a: (kmemdump.build(a, misaligned=True), "manifest", False),
    "meminspect": lambda a: (kmemdump.build(a, numbering="meminspect"), "manifest", False),
    "long-names": lambda a: (kmemdump.build(a, long_names=True), "dump_info", False),
    "missing-region": lambda a: (kmemdump.build(a).without(20), "manifest", False),
    "missing-first-and-last": lambda a: (kmemdump.build(a).without(3).without(53),
                                         "manifest", False),
    "listed-without-file": lambda a: (kmemdump.build(a).without_file(27), "manifest", False),
    "missing-vmcoreinfo": lambda a: (kmemdump.build(a).without(2), "manifest", False),
    "short-vmcoreinfo": lambda a: (_cut(kmemdump.build(a), 2, 100), "manifest", False),
    "short-file": lambda a: (_cut(kmemdump.build(a), 3, 1000), "manifest", False),
    "long-file": lambda a: (kmemdump.build(a).with_file(10, bytes(300)), "manifest", False),
    "header-short": lambda a: (_cut(kmemdump.build(a), 1, -4), "none", False),
    "corrupt-notes": lambda a: (kmemdump.build(a, corrupt_notes=True), "manifest", False),
    "corrupt-notes-repaired": lambda a: (kmemdump.build(a, corrupt_notes=True), "manifest",
                                         True),
}


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_readers_see_the_oracle_elf(arch: str, variant: str, make_folder: MakeFolder,
                                    verify: Verify, tool: Tool) -> None:
    tool("readelf")  # verify() uses it whenever installed; say so when it is not
    s, source, repair = VARIANTS[variant](arch)
    folder = make_folder(s, source=source)
    assemble(folder, repair=repair)
    verify(folder / "minidump.elf", s, repair=repair)


def test_readelf_file_header_and_group_sections(arch: str, make_folder: MakeFolder,
                                                tool: Tool) -> None:
    s = kmemdump.build(arch)
    folder = make_folder(s)
    assemble(folder)
    proc = run(tool("readelf"), "-h", "-W", str(folder / "minidump.elf"))
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    assert "CORE (Core file)" in proc.stdout
    assert {"arm64": "AArch64", "x86_64": "X86-64"}[arch] in proc.stdout
    assert f"Number of program headers:         {1 + len(s.loads)}" in proc.stdout
    proc = run(tool("readelf"), "-S", "-l", "-W", str(folder / "minidump-subsystems.elf"))
    assert proc.returncode == 0 and "md_ADSP_XYZ" in proc.stdout and "STR_TBL" in proc.stdout


def _gdb_bytes(gdb: str, core: Path, addr: int, n: int = 8) -> bytes:
    proc = run(gdb, "-batch", "-nx", "-ex", f"x/{n}xb 0x{addr:x}", "-c", str(core))
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if re.match(r"^0x[0-9a-f]+.*:\s", ln)]
    assert line, proc.stdout + proc.stderr
    return bytes(int(b, 16) for b in line[-1].split(":", 1)[1].split())


def test_gdb_reads_regions_at_pt_load_vaddrs(arch: str, make_folder: MakeFolder,
                                             tool: Tool) -> None:
    gdb = tool("gdb-multiarch" if arch == "arm64" else "gdb")
    s = kmemdump.build(arch, reregister=17)  # PT_LOAD order != id order as well
    folder = make_folder(s.shuffled(seed=9))
    assemble(folder)
    core = folder / "minidump.elf"
    for ld in (s.load(11), s.load(17), s.loads[-2], s.load(3)):
        assert _gdb_bytes(gdb, core, ld.va) == ld.data[:8], ld.label
    banner = s.load(11)
    proc = run(gdb, "-batch", "-nx", "-ex", f"x/s 0x{banner.va:x}", "-c", str(core))
    assert f"Linux version {s.osrelease}" in proc.stdout


def test_gdb_sees_zeros_for_a_missing_region(make_folder: MakeFolder, tool: Tool) -> None:
    gdb = tool("gdb")
    s = kmemdump.build("x86_64").without(21)
    folder = make_folder(s)
    assemble(folder)
    core = folder / "minidump.elf"
    assert _gdb_bytes(gdb, core, s.load(21).va) == bytes(8)  # p_memsz kept: zeros
    nxt = s.load(22)
    assert _gdb_bytes(gdb, core, nxt.va) == nxt.data[:8]  # the next region is not shifted


def _crash_debug(crash: str, core: Path) -> str:
    proc = run(crash, "-d", "1", "--osrelease", str(core))
    return proc.stdout + proc.stderr


def test_crash_accepts_the_x86_64_minidump(make_folder: MakeFolder, tool: Tool) -> None:
    crash = tool("crash")
    s = kmemdump.build("x86_64")
    folder = make_folder(s.shuffled(seed=2))
    assemble(folder)
    core = folder / "minidump.elf"
    proc = run(crash, "--osrelease", str(core))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == s.osrelease
    debug = _crash_debug(crash, core)
    assert "KDUMP_ELF64" in debug
    assert re.search(rf"header_size:\s+{s.data_start}\b", debug), debug[:2000]
    assert re.search(rf"num_pt_load_segments:\s+{len(s.loads)}\b", debug)


def test_crash_with_a_missing_region_and_after_repair(make_folder: MakeFolder,
                                                      tool: Tool) -> None:
    crash = tool("crash")
    s = kmemdump.build("x86_64").without(20)
    folder = make_folder(s)
    assemble(folder)
    proc = run(crash, "--osrelease", str(folder / "minidump.elf"))
    assert proc.stdout.strip() == s.osrelease
    debug = _crash_debug(crash, folder / "minidump.elf")
    assert "may be truncated" not in debug  # the file is exactly as long as its headers say

    bad = kmemdump.build("x86_64", corrupt_notes=True)
    folder = make_folder(bad)
    assemble(folder)  # unrepaired: crash cannot walk to VMCOREINFO
    assert run(crash, "--osrelease", str(folder / "minidump.elf")).stdout.strip() != bad.osrelease
    assemble(folder, repair=True)
    assert run(crash, "--osrelease", str(folder / "minidump.elf")).stdout.strip() == bad.osrelease
