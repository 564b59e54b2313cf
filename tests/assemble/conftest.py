"""Fixtures for the assembler tests.

Every expectation comes from outside qdlpy: the independent oracle (tests/oracle: region
sets, dump folders and the ELF a correct assembler builds, plain ``struct``) and external
readers (readelf, pyelftools, gdb, crash). Helpers are fixtures because pytest runs in
importlib mode (test files cannot import each other).
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from oracle.downstream import DownstreamSet
from oracle.folder import TableEntry, write_folder
from oracle.kelf import layout
from oracle.kmemdump import KernelSet
from oracle.regionset import RegionSet

IN_CI = os.environ.get("CI") == "true"

MakeFolder = Callable[..., Path]


@pytest.fixture(params=["arm64", "x86_64"])
def arch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_folder(tmp_path: Path) -> MakeFolder:
    """make_folder(set_or_entries, source="manifest", case="as-is", extras=True) -> folder;
    ``source`` is manifest, dump_info, load.cmm or none (region files only)."""
    counter = [0]

    def make(what: RegionSet | Sequence[TableEntry], *, source: str = "manifest",
             case: str = "as-is", extras: bool = True) -> Path:
        counter[0] += 1
        dest = tmp_path / f"dump{counter[0]}"
        if isinstance(what, RegionSet):
            return what.write(dest, source=source, case=case, extras=extras)
        return write_folder(dest, list(what), sources=() if source == "none" else (source,),
                            case=case)

    return make


def need_tool(name: str) -> str:
    """Path of an external tool; skipped outside CI when absent, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        package = {"readelf": "binutils", "vmcore-dmesg": "kexec-tools"}.get(name, name)
        msg = f"{name} is not installed (apt-get install {package})"
        if IN_CI:
            pytest.fail(f"CI must provide {name}: {msg}")
        pytest.skip(msg)
    return path


@pytest.fixture
def tool() -> Callable[[str], str]:
    return need_tool


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def inputs_snapshot() -> Callable[[Path], dict[str, bytes]]:
    return snapshot


# --- what external readers see in an ELF ---------------------------------------------------


@dataclasses.dataclass
class Segment:
    type: str
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    data: bytes | None = None  # None: the reader does not show segment bytes


@dataclasses.dataclass
class ElfView:
    """An ELF as one external reader reports it."""

    segments: list[Segment]
    notes: list[tuple[str, int]]  # (owner, type)
    vmcoreinfo: bytes | None  # the VMCOREINFO note's descriptor
    warnings: str = ""  # what the reader complained about


def pyelftools_view(data: bytes) -> ElfView:
    elf = ELFFile(io.BytesIO(data))
    segments, notes, vmcoreinfo = [], [], None
    for seg in elf.iter_segments():
        segments.append(Segment(seg["p_type"], seg["p_offset"], seg["p_vaddr"], seg["p_paddr"],
                                seg["p_filesz"], seg["p_memsz"], seg.data()))
        if seg["p_type"] == "PT_NOTE":
            for note in seg.iter_notes():
                ntype = note["n_type"]
                notes.append((note["n_name"], ntype if isinstance(ntype, int) else
                              {"NT_PRSTATUS": 1, "NT_PRPSINFO": 3}.get(ntype, -1)))
                if note["n_name"] == "VMCOREINFO":
                    desc = note["n_desc"]
                    vmcoreinfo = desc if isinstance(desc, bytes) else desc.encode("latin-1")
    return ElfView(segments, notes, vmcoreinfo)


_PHDR_LINE = re.compile(r"^\s+(?P<type>[A-Z_]+)\s+0x(?P<off>[0-9a-f]+)\s+0x(?P<va>[0-9a-f]+)\s+"
                        r"0x(?P<pa>[0-9a-f]+)\s+0x(?P<fs>[0-9a-f]+)\s+0x(?P<ms>[0-9a-f]+)")
_NOTE_LINE = re.compile(r"^\s+(?P<owner>\S+)\s+0x[0-9a-f]+\s+(?P<what>.*)$")


def readelf_view(path: Path) -> ElfView:
    """``readelf -l -n -W``: program headers and the note walk (with the VMCOREINFO
    descriptor it hex-dumps)."""
    proc = subprocess.run([need_tool("readelf"), "-l", "-n", "-W", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    segments, notes, vmcoreinfo = [], [], None
    for line in proc.stdout.splitlines():
        m = _PHDR_LINE.match(line)
        if m:
            off, va, pa, fs, ms = (int(m[k], 16) for k in ("off", "va", "pa", "fs", "ms"))
            segments.append(Segment("PT_" + m["type"], off, va, pa, fs, ms))
            continue
        n = _NOTE_LINE.match(line)
        if n and n["owner"] in ("CORE", "VMCOREINFO"):
            ntype = {"NT_PRSTATUS": 1, "NT_PRPSINFO": 3}.get(n["what"].split()[0], 0)
            notes.append((n["owner"], ntype))
            if n["owner"] == "VMCOREINFO" and "description data:" in line:
                hexes = line.split("description data:", 1)[1].split()
                vmcoreinfo = bytes(int(h, 16) for h in hexes)
    return ElfView(segments, notes, vmcoreinfo, proc.stderr)


Reader = Callable[[Path], ElfView]


@pytest.fixture
def readers() -> dict[str, Reader]:
    """name -> reader. readelf joins when installed (CI must have it); without it outside CI
    tests/assemble/test_tools.py says so with a skip."""
    out: dict[str, Reader] = {"pyelftools": lambda p: pyelftools_view(p.read_bytes())}
    if IN_CI or shutil.which("readelf"):
        out["readelf"] = readelf_view
    return out


Verify = Callable[..., None]


def _expected_view(kset: KernelSet, repair: bool) -> ElfView:
    """What every reader must see in the kernel ELF, from the oracle's model alone."""
    lay = layout(kset.arch.prstatus_size, kset.vmcoreinfo_len)
    segments = [Segment("PT_NOTE", lay.note_start, 0, 0, lay.note_len, 0)]
    segments += [Segment("PT_LOAD", p.offset, p.load.va, p.load.pa, len(p.data),
                         p.load.filesz, p.data) for p in kset.expected_loads()]
    corrupt = kset.corrupt_notes and not repair
    notes = [] if corrupt else [("CORE", 1), ("CORE", 3), ("VMCOREINFO", 0)]
    return ElfView(segments, notes, None if corrupt else kset.expected_vmcoreinfo())


def _compare(view: ElfView, want: ElfView, reader: str) -> None:
    assert [s.type for s in view.segments] == [s.type for s in want.segments], reader
    for got, exp in zip(view.segments, want.segments):
        assert (got.offset, got.vaddr, got.paddr, got.filesz, got.memsz) == (
            exp.offset, exp.vaddr, exp.paddr, exp.filesz, exp.memsz), (reader, exp)
        if got.type == "PT_LOAD" and got.data is not None:
            assert got.data == exp.data, (reader, exp)
    if want.notes:
        assert view.notes == want.notes, reader
        assert view.vmcoreinfo == want.vmcoreinfo, reader
        assert "Warning" not in view.warnings, (reader, view.warnings)
    else:  # corrupt CORE notes left as they are: no reader can walk to VMCOREINFO
        assert ("VMCOREINFO", 0) not in view.notes, reader
        assert reader != "readelf" or "invalid namesz" in view.warnings, view.warnings


@pytest.fixture
def verify(readers: dict[str, Reader]) -> Verify:
    """verify(elf_path, oracle_set, repair=False): the assembled bytes are the oracle's
    expected ELF, and readelf and pyelftools read the oracle's program headers, notes and
    VMCOREINFO text from it."""

    def check(path: Path, kset: KernelSet | DownstreamSet, *, repair: bool = False) -> None:
        data = path.read_bytes()
        if isinstance(kset, DownstreamSet):
            assert data == kset.expected()
            for name, read in readers.items():
                segs = read(path).segments
                assert [(s.paddr, s.filesz) for s in segs[1:]] == [
                    (r.pa, len(r.data)) for r in kset.regions], name
            return
        assert data == kset.expected(repair=repair)
        want = _expected_view(kset, repair)
        for name, read in readers.items():
            _compare(read(path), want, name)

    return check
