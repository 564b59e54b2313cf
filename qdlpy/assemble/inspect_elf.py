"""Inspect an ELF core (assembled or not) without crash: PT_LOADs, notes, vmcoreinfo, holes.

Reads only the headers, the note segment and the section string table with bounded
``pread``s, so a multi-GiB full-dump ELF is inspected as fast as a minidump.
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
from pathlib import Path

from qdlpy.errors import InputError
from qdlpy.formats.coreimage import VMCOREINFO_NOTE_NAME
from qdlpy.formats.elf import (
    EHDR_SIZE,
    ET_CORE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHDR_SIZE,
    SHT_PROGBITS,
    SHT_STRTAB,
    Ehdr,
    Note,
    Phdr,
    Shdr,
    parse_ehdr,
    parse_phdrs,
    parse_shdrs,
    section_name,
    walk_notes,
)

from .holes import is_hole
from .report import InspectReport, KernelInfo, Placement
from .vmcoreinfo import kernel_facts, parse_vmcoreinfo

__all__ = ["inspect_elf"]

_MAX_NOTES = 16 * 1024 * 1024
_MAX_TABLES = 64 * 1024 * 1024
_BANNER = re.compile(rb"Linux version (\S+)")


def _pread(fd: int, offset: int, n: int, size: int) -> bytes:
    """Up to ``n`` bytes at ``offset``, never past ``size`` (the file's): a hostile offset
    near 2**64 would not fit off_t (OverflowError) and reads nothing anyway."""
    if offset < 0 or offset >= size:
        return b""
    n = min(n, size - offset)
    out = bytearray()
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), offset + len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _stranded_vmcoreinfo(blob: bytes) -> bytes | None:
    """The VMCOREINFO descriptor of a kmemdump note segment whose CORE notes are corrupt:
    the note header sits right before the descriptor, which ends the segment
    (docs/formats.md#the-note-segment)."""
    at = blob.rfind(VMCOREINFO_NOTE_NAME)
    while at >= 12:
        namesz, descsz, ntype = struct.unpack_from("<3I", blob, at - 12)
        if namesz == 11 and ntype == 0 and at + 12 + descsz == len(blob):
            return blob[at + 12 :]
        at = blob.rfind(VMCOREINFO_NOTE_NAME, 0, at)
    return None


def inspect_elf(path: Path, *, hint: str | None = None) -> InspectReport:
    """The report for one ELF file. ``hint``: the hint of the InputError raised when the
    file is not a readable ELF core (None: the default)."""
    try:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            return _inspect(fd, path)
        except (OSError, OverflowError) as exc:
            raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                             ) from exc
        finally:
            os.close(fd)
    except InputError as exc:
        if hint is not None:
            exc.hint = hint
        raise


# e_type values a user may hand us by mistake (gABI): said by name in the error.
_ET_NAMES = {0: "with no type", 1: "relocatable object", 2: "executable",
             3: "shared object or position-independent executable"}


@dataclasses.dataclass
class _Tables:
    eh: Ehdr
    phdrs: list[Phdr]
    shdrs: list[Shdr]


def _tables(fd: int, size: int, path: Path, rep: InspectReport) -> _Tables:
    """File, program and section headers; a broken section table is reported, not fatal
    (section headers are optional in a core file)."""
    eh = parse_ehdr(_pread(fd, 0, EHDR_SIZE, size), str(path))
    if eh.type != ET_CORE:
        kind = _ET_NAMES.get(eh.type, f"of type {eh.type}")
        raise InputError(f"{path} is an ELF {kind}, not a core file (e_type {eh.type}, a core "
                         f"is {ET_CORE}): there is no dumped memory in it")
    need = eh.phoff + eh.phnum * PHDR_SIZE if eh.phnum else EHDR_SIZE
    if need > _MAX_TABLES:
        raise InputError(f"{path}: header tables end at {need}; not a plausible core file")
    phdrs = parse_phdrs(_pread(fd, 0, need, size), eh, str(path))
    shdrs: list[Shdr] = []
    if eh.shnum:
        send = eh.shoff + eh.shnum * SHDR_SIZE
        try:
            if send > _MAX_TABLES:
                raise InputError(f"section headers end at {send}")
            shdrs = parse_shdrs(_pread(fd, 0, send, size), eh, str(path))
        except InputError as exc:
            rep.warnings.append(f"section headers ignored: {exc.message}")
    return _Tables(eh, phdrs, shdrs)


def _section_names(fd: int, size: int, t: _Tables) -> dict[int, str]:
    """Section names by file offset (downstream headers and qdlpy's group ELFs carry them)."""
    names: dict[int, str] = {}
    if not t.shdrs or not 0 < t.eh.shstrndx < len(t.shdrs):
        return names
    st = t.shdrs[t.eh.shstrndx]
    if st.type != SHT_STRTAB:
        return names
    blob = _pread(fd, st.offset, min(st.size, _MAX_NOTES), size)
    local = dataclasses.replace(st, offset=0, size=len(blob))
    for sh in t.shdrs:
        if sh.type == SHT_PROGBITS:
            names.setdefault(sh.offset, section_name(blob, local, sh.name))
    return names


def _note_segment(fd: int, size: int, phdrs: list[Phdr]) -> tuple[bytes, list[Note]]:
    """The first program header's notes, when it is a PT_NOTE."""
    if not phdrs or phdrs[0].type != PT_NOTE:
        return b"", []
    note = phdrs[0]
    blob = _pread(fd, note.offset, min(note.filesz, _MAX_NOTES), size)
    return blob, walk_notes(blob + bytes(-len(blob) % 4), 0, len(blob))


def _style(phdrs: list[Phdr], shdrs: list[Shdr], notes: list[Note],
           stranded: bytes | None) -> str:
    """kmemdump: PT_NOTE first, no sections, and its CORE/VMCOREINFO notes (readable or
    not); any other core with a PT_NOTE is just "generic"."""
    if not phdrs or phdrs[0].type != PT_NOTE:
        return "downstream"
    if not shdrs and (stranded is not None or any(
            n.name in (b"CORE", b"VMCOREINFO") for n in notes)):
        return "kmemdump"
    return "generic"


def _vmcoreinfo(info: KernelInfo, rep: InspectReport, blob: bytes, notes: list[Note],
                stranded: bytes | None) -> None:
    for n in notes:
        if n.name == b"VMCOREINFO":
            desc = blob[n.desc_offset : n.desc_offset + n.descsz]
            info.vmcoreinfo = parse_vmcoreinfo(desc)
            info.vmcoreinfo_status = "ok" if len(desc) == n.descsz else "short"
            if not desc.strip(b"\0"):
                info.vmcoreinfo_status = "missing"
                rep.warnings.append("the VMCOREINFO note is all zeros (region id 2 was "
                                    "missing when this ELF was assembled)")
    if stranded is not None:
        info.vmcoreinfo = parse_vmcoreinfo(stranded)
        info.vmcoreinfo_status = "unreadable"
        rep.warnings.append("the CORE notes before VMCOREINFO are corrupt: crash and readelf "
                            "cannot reach vmcoreinfo (shown here from its fixed place); "
                            "re-assemble the dump folder with `qdlpy assemble DIR --repair`")
    elif info.style == "kmemdump" and "VMCOREINFO/0" not in rep.notes:
        info.vmcoreinfo_status = "missing"
        rep.warnings.append("no VMCOREINFO note: crash works only with --minimal and "
                            "cannot detect KASLR")
    info.osrelease, info.kerneloffset, info.page_size = kernel_facts(info.vmcoreinfo)


def _banner_release(fd: int, size: int, t: _Tables, names: dict[int, str]) -> str | None:
    """The release in a linux_banner section (downstream headers carry it, not VMCOREINFO)."""
    banner = next((sh for sh in t.shdrs if sh.type == SHT_PROGBITS
                   and names.get(sh.offset) == "linux_banner"), None)
    if banner is None:
        return None
    hit = _BANNER.search(_pread(fd, banner.offset, min(banner.size, 1024), size))
    return hit.group(1).decode("ascii", errors="replace") if hit else None


def _placements(info: KernelInfo, phdrs: list[Phdr], names: dict[int, str],
                size: int) -> tuple[int, int]:
    """One placement per PT_LOAD; returns (the size the PT_LOADs need, the end of the last
    range a PT_LOAD may read by p_memsz)."""
    expected = reach = 0
    for i, ph in enumerate(phdrs):
        if ph.type != PT_LOAD:
            continue
        end = ph.offset + ph.filesz
        expected = max(expected, end)
        reach = max(reach, ph.offset + max(ph.filesz, ph.memsz))
        status, detail = "ok", ""
        if is_hole(ph):  # docs/formats.md#missing-regions
            status, detail = "missing", "a hole (p_flags 0): not dumped, reads as zeros"
        elif ph.filesz == 0 and ph.memsz:
            status, detail = "missing", "p_filesz 0: reads as zeros"
        elif end > size:
            status, detail = "truncated-file", f"the file ends {end - size} bytes early"
        elif ph.filesz < ph.memsz:
            status, detail = "partial", f"last {ph.memsz - ph.filesz} bytes read as zeros"
        info.placements.append(Placement(i, names.get(ph.offset), ph.paddr, ph.vaddr,
                                         ph.offset, ph.filesz, ph.memsz, status, detail))
    return expected, reach


def _size_warnings(rep: InspectReport, info: KernelInfo, size: int, expected: int,
                   reach: int) -> None:
    if info.missing:
        rep.warnings.append(f"{len(info.missing)} PT_LOAD(s) have no bytes (missing regions)")
    if size < expected:
        rep.warnings.append(f"the file is {size} bytes, its PT_LOADs need {expected}: truncated "
                            "(crash needs --zero_excluded)")
    elif expected and size > max(expected, reach) and info.style != "downstream":
        rep.warnings.append(f"{size - max(expected, reach)} bytes after the last PT_LOAD")


def _inspect(fd: int, path: Path) -> InspectReport:
    size = os.fstat(fd).st_size
    rep = InspectReport(str(path), "elf", file_size=size)
    t = _tables(fd, size, path, rep)
    names = _section_names(fd, size, t)
    blob, notes = _note_segment(fd, size, t.phdrs)
    rep.notes = [f"{n.name.decode('ascii', errors='replace')}/{n.type}" for n in notes]
    stranded = None if any(n.name == b"VMCOREINFO" for n in notes) else _stranded_vmcoreinfo(blob)
    info = KernelInfo(_style(t.phdrs, t.shdrs, notes, stranded), path.name, t.eh.machine,
                      t.eh.machine_name)
    _vmcoreinfo(info, rep, blob, notes, stranded)
    info.osrelease = info.osrelease or _banner_release(fd, size, t, names)
    rep.expected_size, reach = _placements(info, t.phdrs, names, size)
    _size_warnings(rep, info, size, rep.expected_size, reach)
    rep.kernel = info
    return rep
