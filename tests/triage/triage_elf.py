"""ELF cores for the triage tests, packed with plain ``struct`` (32/64-bit, either byte order).

Independent of qdlpy's ELF code: what vmcore-dmesg and qdlpy read must be a file a kernel
or a dump tool could have written.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Mapping, Sequence

EM_ARM, EM_X86_64, EM_AARCH64 = 40, 62, 183


@dataclasses.dataclass
class Seg:
    vaddr: int
    data: bytes
    paddr: int | None = None
    missing: bool = False  # p_filesz 0 (a region the dump lacks), p_memsz kept
    name: str | None = None  # a section header naming it (downstream-style cores)


def vmcoreinfo_text(keys: Mapping[str, int | str], *, symbols: Mapping[str, int],
                    release: str = "6.1.0-test") -> bytes:
    lines = [f"OSRELEASE={release}", "PAGESIZE=4096"]
    lines += [f"SYMBOL({k})={v:x}" for k, v in symbols.items()]
    lines += [f"{k}={v}" for k, v in keys.items()]
    return ("\n".join(lines) + "\n").encode()


def core(segs: Sequence[Seg], vmcoreinfo: bytes | None, *, bits: int = 64, endian: str = "<",
         machine: int = EM_AARCH64) -> bytes:
    """An ET_CORE file: PT_NOTE (VMCOREINFO) first, then one PT_LOAD per segment."""
    e = endian
    ehdr_fmt = e + ("16sHHIQQQIHHHHHH" if bits == 64 else "16sHHIIIIIHHHHHH")
    phdr_fmt = e + ("IIQQQQQQ" if bits == 64 else "IIIIIIII")
    shdr_fmt = e + ("IIQQQQIIQQ" if bits == 64 else "IIIIIIIIII")
    ehsize, phsize, shsize = (struct.calcsize(f) for f in (ehdr_fmt, phdr_fmt, shdr_fmt))
    note = b""
    if vmcoreinfo is not None:
        desc = vmcoreinfo + bytes(-len(vmcoreinfo) % 4)
        note = struct.pack(e + "III", 11, len(vmcoreinfo), 0) + b"VMCOREINFO\0\0" + desc
    phnum = 1 + len(segs)
    off = ehsize + phsize * phnum
    note_off = off
    off += len(note)
    body = bytearray(note)
    phdrs = []

    def phdr(ptype: int, offset: int, vaddr: int, paddr: int, filesz: int, memsz: int) -> bytes:
        if bits == 64:
            return struct.pack(phdr_fmt, ptype, 6, offset, vaddr, paddr, filesz, memsz, 0)
        return struct.pack(phdr_fmt, ptype, offset, vaddr, paddr, filesz, memsz, 6, 0)

    phdrs.append(phdr(4, note_off, 0, 0, len(note), 0))
    placed: list[tuple[Seg, int]] = []
    for s in segs:
        pad = -off % 8
        body += bytes(pad)
        off += pad
        pa = s.vaddr if s.paddr is None else s.paddr
        filesz = 0 if s.missing else len(s.data)
        phdrs.append(phdr(1, off, s.vaddr, pa, filesz, len(s.data)))
        placed.append((s, off))
        if not s.missing:
            body += s.data
            off += len(s.data)
    named = [(s, o) for s, o in placed if s.name]
    shoff = shnum = shstrndx = 0
    if named:
        strtab = bytearray(b"\0STR_TBL\0")
        shdrs = [struct.pack(shdr_fmt, *([0] * 10))]
        str_at = off
        shdrs.append(struct.pack(shdr_fmt, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0))
        for s, o in named:
            shdrs.append(struct.pack(shdr_fmt, len(strtab), 1, 1, s.vaddr, o,
                                     0 if s.missing else len(s.data), 0, 0, 0, 0))
            strtab += s.name.encode() + b"\0"  # type: ignore[union-attr]
        shdrs[1] = struct.pack(shdr_fmt, 1, 3, 0, 0, str_at, len(strtab), 0, 0, 0, 0)
        body += strtab
        off += len(strtab)
        pad = -off % 8
        body += bytes(pad)
        off += pad
        shoff, shnum, shstrndx = off, len(shdrs), 1
        body += b"".join(shdrs)
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if e == "<" else 2, 1]) + bytes(9)
    ehdr = struct.pack(ehdr_fmt, ident, 4, machine, 1, 0, ehsize, shoff, 0, ehsize, phsize,
                       phnum, shsize if shnum else 0, shnum, shstrndx)
    return ehdr + b"".join(phdrs) + bytes(body)


def elf_with_build_id(build_id: bytes, *, machine: int = EM_AARCH64) -> bytes:
    """A tiny ET_EXEC whose PT_NOTE holds NT_GNU_BUILD_ID (what a vmlinux carries)."""
    note = struct.pack("<III", 4, len(build_id), 3) + b"GNU\0" + build_id
    note += bytes(-len(note) % 4)
    ehsize, phsize = 64, 56
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", ident, 2, machine, 1, 0, ehsize, 0, 0, ehsize,
                       phsize, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, ehsize + phsize, 0, 0, len(note), len(note), 4)
    return ehdr + phdr + note
