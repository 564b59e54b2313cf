"""Third-party consumers accept the assembled ELF: readelf, pyelftools, gdb and crash."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from elftools.elf.elffile import ELFFile

from qdlpy.assemble import assemble
from qdlpy.simulator import kmemdump_image as kimg

MakeFolder = Callable[..., Path]
Tool = Callable[[str], str]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_readelf_parses_headers_and_notes(arch: str, make_folder: MakeFolder, tool: Tool) -> None:
    readelf = tool("readelf")
    s = kimg.build(arch)
    folder = make_folder(s)
    assemble(folder)
    proc = run(readelf, "-h", "-l", "-n", "-W", str(folder / "minidump.elf"))
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    assert "CORE (Core file)" in proc.stdout
    assert proc.stdout.count("  LOAD ") == len(s.loads)
    assert "NT_PRSTATUS" in proc.stdout and "VMCOREINFO" in proc.stdout
    # group ELFs carry section names
    proc = run(readelf, "-S", "-l", "-W", str(folder / "minidump-subsystems.elf"))
    assert proc.returncode == 0 and "md_ADSP_XYZ" in proc.stdout and "STR_TBL" in proc.stdout


def test_pyelftools_reads_every_region_at_its_address(arch: str, make_folder: MakeFolder) -> None:
    s = kimg.build(arch).shuffled(seed=5)
    folder = make_folder(s)
    assemble(folder)
    with open(folder / "minidump.elf", "rb") as f:
        elf = ELFFile(f)
        assert elf["e_type"] == "ET_CORE"
        segs = list(elf.iter_segments())
        assert segs[0]["p_type"] == "PT_NOTE"
        notes = list(segs[0].iter_notes())
        assert [n["n_name"] for n in notes] == ["CORE", "CORE", "VMCOREINFO"]
        assert bytes(notes[2]["n_desc"]).startswith(b"OSRELEASE=")
        by_pa = {seg["p_paddr"]: seg.data() for seg in segs[1:]}
    assert by_pa == {ld.pa: ld.data for ld in s.loads}


def _gdb_bytes(gdb: str, core: Path, addr: int, n: int = 8) -> bytes:
    proc = run(gdb, "-batch", "-nx", "-ex", f"x/{n}xb 0x{addr:x}", "-c", str(core))
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if re.match(r"^0x[0-9a-f]+.*:\s", ln)]
    assert line, proc.stdout + proc.stderr
    return bytes(int(b, 16) for b in line[-1].split(":", 1)[1].split())


def test_gdb_reads_regions_at_pt_load_vaddrs(arch: str, make_folder: MakeFolder,
                                             tool: Tool) -> None:
    gdb = tool("gdb-multiarch" if arch == "arm64" else "gdb")
    s = kimg.build(arch, reregister=17)  # PT_LOAD order != id order as well
    folder = make_folder(s.shuffled(seed=9))
    assemble(folder)
    core = folder / "minidump.elf"
    for ld in (s.load_for(11), s.load_for(17), s.loads[-2], s.load_for(3)):
        assert _gdb_bytes(gdb, core, ld.va) == ld.data[:8], ld.name
    banner = s.load_for(11)
    proc = run(gdb, "-batch", "-nx", "-ex", f"x/s 0x{banner.va:x}", "-c", str(core))
    assert f"Linux version {s.osrelease}" in proc.stdout


def test_gdb_sees_zeros_for_a_missing_region(make_folder: MakeFolder, tool: Tool) -> None:
    gdb = tool("gdb")
    s = kimg.build("x86_64")
    folder = make_folder(s.without("md_Kinit_uts21.BIN"))
    assemble(folder)
    core = folder / "minidump.elf"
    assert _gdb_bytes(gdb, core, s.load_for(21).va) == bytes(8)  # p_memsz kept: zeros
    nxt = s.load_for(22)
    assert _gdb_bytes(gdb, core, nxt.va) == nxt.data[:8]  # the next region is not shifted


def _crash_debug(crash: str, core: Path) -> str:
    proc = run(crash, "-d", "1", "--osrelease", str(core))
    return proc.stdout + proc.stderr


def test_crash_accepts_the_x86_64_minidump(make_folder: MakeFolder, tool: Tool) -> None:
    crash = tool("crash")
    s = kimg.build("x86_64")
    folder = make_folder(s.shuffled(seed=2))
    assemble(folder)
    core = folder / "minidump.elf"
    proc = run(crash, "--osrelease", str(core))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == s.osrelease
    debug = _crash_debug(crash, core)
    assert "KDUMP_ELF64" in debug
    first_data = len(s.kelf) + s.vmcoreinfo_descsz
    assert re.search(rf"header_size:\s+{first_data}\b", debug), debug[:2000]
    assert re.search(rf"num_pt_load_segments:\s+{len(s.loads)}\b", debug)


def test_crash_with_a_missing_region_and_after_repair(make_folder: MakeFolder,
                                                      tool: Tool) -> None:
    crash = tool("crash")
    s = kimg.build("x86_64")
    folder = make_folder(s.without("md_Knr_swapf20.BIN"))
    assemble(folder)
    proc = run(crash, "--osrelease", str(folder / "minidump.elf"))
    assert proc.stdout.strip() == s.osrelease
    debug = _crash_debug(crash, folder / "minidump.elf")
    assert "may be truncated" not in debug  # the file is exactly as long as its headers say

    bad = kimg.build("x86_64", corrupt_notes=True)
    folder = make_folder(bad)
    assemble(folder)  # unrepaired: crash cannot walk to VMCOREINFO
    assert run(crash, "--osrelease", str(folder / "minidump.elf")).stdout.strip() != bad.osrelease
    assemble(folder, repair=True)
    assert run(crash, "--osrelease", str(folder / "minidump.elf")).stdout.strip() == bad.osrelease
