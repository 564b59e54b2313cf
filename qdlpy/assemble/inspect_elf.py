"""Inspect an ELF core (assembled or not) without crash: PT_LOADs, notes, vmcoreinfo, holes.

Reads only the headers, the note segment and the section string table with bounded
``pread``s, so a multi-GiB full-dump ELF is inspected as fast as a minidump.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

from qdlpy.errors import InputError
from qdlpy.formats.elf import (
    EHDR_SIZE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHDR_SIZE,
    SHT_PROGBITS,
    SHT_STRTAB,
    Note,
    parse_ehdr,
    parse_phdrs,
    parse_shdrs,
    section_name,
    walk_notes,
)

from .report import InspectReport, KernelInfo, Placement
from .vmcoreinfo import kernel_facts, parse_vmcoreinfo

__all__ = ["inspect_elf"]

_MAX_NOTES = 16 * 1024 * 1024
_VMCOREINFO_HEADER_NAME = b"VMCOREINFO\0\0"
_MAX_TABLES = 64 * 1024 * 1024


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
    the note header sits right before the descriptor, which ends the segment (§2.4)."""
    at = blob.rfind(_VMCOREINFO_HEADER_NAME)
    while at >= 12:
        namesz, descsz, ntype = struct.unpack_from("<3I", blob, at - 12)
        if namesz == 11 and ntype == 0 and at + 12 + descsz == len(blob):
            return blob[at + 12 :]
        at = blob.rfind(_VMCOREINFO_HEADER_NAME, 0, at)
    return None


def inspect_elf(path: Path) -> InspectReport:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return _inspect(fd, path)
    except (OSError, OverflowError) as exc:
        raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    finally:
        os.close(fd)


def _inspect(fd: int, path: Path) -> InspectReport:
    size = os.fstat(fd).st_size
    head = _pread(fd, 0, EHDR_SIZE, size)
    eh = parse_ehdr(head, str(path))
    need = eh.phoff + eh.phnum * PHDR_SIZE if eh.phnum else EHDR_SIZE
    if need > _MAX_TABLES:
        raise InputError(f"{path}: header tables end at {need}; not a plausible core file")
    phdrs = parse_phdrs(_pread(fd, 0, need, size), eh, str(path))
    rep = InspectReport(str(path), "elf", file_size=size)
    # Section headers are optional in a core file: a broken table is reported, not fatal.
    shdrs = []
    if eh.shnum:
        send = eh.shoff + eh.shnum * SHDR_SIZE
        try:
            if send > _MAX_TABLES:
                raise InputError(f"section headers end at {send}")
            shdrs = parse_shdrs(_pread(fd, 0, send, size), eh, str(path))
        except InputError as exc:
            rep.warnings.append(f"section headers ignored: {exc.message}")

    # Section names by file offset (downstream headers and qdlpy's group ELFs carry them).
    names: dict[int, str] = {}
    if shdrs and 0 < eh.shstrndx < len(shdrs) and shdrs[eh.shstrndx].type == SHT_STRTAB:
        st = shdrs[eh.shstrndx]
        blob = _pread(fd, st.offset, min(st.size, _MAX_NOTES), size)
        local = dataclasses.replace(st, offset=0, size=len(blob))
        for sh in shdrs:
            if sh.type == SHT_PROGBITS:
                names.setdefault(sh.offset, section_name(blob, local, sh.name))

    has_note = bool(phdrs) and phdrs[0].type == PT_NOTE
    blob = b""
    notes: list[Note] = []
    if has_note:
        note = phdrs[0]
        blob = _pread(fd, note.offset, min(note.filesz, _MAX_NOTES), size)
        notes = walk_notes(blob + bytes(-len(blob) % 4), 0, len(blob))
        rep.notes = [f"{n.name.decode('ascii', errors='replace')}/{n.type}" for n in notes]
    stranded = None if any(n.name == b"VMCOREINFO" for n in notes) else _stranded_vmcoreinfo(blob)
    # kmemdump: PT_NOTE first, no sections, and its CORE/VMCOREINFO notes (readable or not);
    # any other core with a PT_NOTE is just "generic".
    kmem = has_note and not shdrs and (stranded is not None or any(
        n.name in (b"CORE", b"VMCOREINFO") for n in notes))
    style = "kmemdump" if kmem else "generic" if has_note else "downstream"
    info = KernelInfo(style, path.name, eh.machine, eh.machine_name)
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
    elif style == "kmemdump" and "VMCOREINFO/0" not in rep.notes:
        info.vmcoreinfo_status = "missing"
        rep.warnings.append("no VMCOREINFO note: crash works only with --minimal and "
                            "cannot detect KASLR")
    info.osrelease, info.kerneloffset, info.page_size = kernel_facts(info.vmcoreinfo)

    expected = 0
    for i, ph in enumerate(phdrs):
        if ph.type != PT_LOAD:
            continue
        end = ph.offset + ph.filesz
        expected = max(expected, end)
        status, detail = "ok", ""
        if ph.filesz == 0 and ph.memsz:
            status, detail = "missing", "p_filesz 0: reads as zeros"
        elif end > size:
            status, detail = "truncated-file", f"the file ends {end - size} bytes early"
        elif ph.filesz < ph.memsz:
            status, detail = "partial", f"last {ph.memsz - ph.filesz} bytes read as zeros"
        info.placements.append(Placement(i, names.get(ph.offset), ph.paddr, ph.vaddr,
                                         ph.offset, ph.filesz, ph.memsz, status, detail))
    rep.expected_size = expected
    missing = [p for p in info.placements if p.status == "missing"]
    if missing:
        rep.warnings.append(f"{len(missing)} PT_LOAD(s) have no bytes (missing regions)")
    if size < expected:
        rep.warnings.append(f"the file is {size} bytes, its PT_LOADs need {expected}: truncated "
                            "(crash needs --zero_excluded)")
    elif expected and size > expected and style != "downstream":
        rep.warnings.append(f"{size - expected} bytes after the last PT_LOAD")
    rep.kernel = info
    return rep
