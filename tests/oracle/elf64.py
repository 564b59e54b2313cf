"""ELF64 little-endian packing, field by field as the gABI lays them out."""

from __future__ import annotations

import struct

__all__ = ["EHDR_SIZE", "PHDR_SIZE", "SHDR_SIZE", "NOTE_HEADER_SIZE", "ET_CORE", "PT_LOAD",
           "PT_NOTE", "PF_RW", "SHT_PROGBITS", "SHT_STRTAB", "SHF_WRITE", "align4", "ehdr",
           "phdr", "shdr", "note_header", "PHDR_FORMAT"]

EHDR_SIZE, PHDR_SIZE, SHDR_SIZE, NOTE_HEADER_SIZE = 64, 56, 64, 12
ET_CORE = 4
PT_LOAD, PT_NOTE = 1, 4
PF_RW = 4 | 2  # PF_R | PF_W
SHT_PROGBITS, SHT_STRTAB = 1, 3
SHF_WRITE = 1
PHDR_FORMAT = "<IIQQQQQQ"  # type, flags, offset, vaddr, paddr, filesz, memsz, align


def align4(n: int) -> int:
    return (n + 3) // 4 * 4


def ehdr(machine: int, phnum: int, *, phoff: int = EHDR_SIZE, shoff: int = 0, shnum: int = 0,
         shstrndx: int = 0) -> bytes:
    """An ET_CORE file header: ELFCLASS64, ELFDATA2LSB, EV_CURRENT, OS ABI 0."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return struct.pack("<16sHHIQQQIHHHHHH", ident, ET_CORE, machine, 1, 0,
                       phoff if phnum else 0, shoff, 0, EHDR_SIZE, PHDR_SIZE, phnum,
                       SHDR_SIZE if shnum else 0, shnum, shstrndx)


def phdr(ptype: int, offset: int, filesz: int, *, flags: int = 0, vaddr: int = 0,
         paddr: int = 0, memsz: int | None = None) -> bytes:
    """A program header; ``memsz`` defaults to ``filesz``."""
    return struct.pack(PHDR_FORMAT, ptype, flags, offset, vaddr, paddr, filesz,
                       filesz if memsz is None else memsz, 0)


def shdr(name: int, stype: int, *, flags: int = 0, addr: int = 0, offset: int = 0,
         size: int = 0) -> bytes:
    """A section header (link, info, addralign, entsize are 0)."""
    return struct.pack("<IIQQQQIIQQ", name, stype, flags, addr, offset, size, 0, 0, 0, 0)


def note_header(name: bytes, descsz: int, ntype: int) -> bytes:
    """``{namesz, descsz, type}`` and the NUL-terminated name padded to 4 bytes; the
    descriptor (padded to 4 as well) follows it."""
    raw = name + b"\0"
    return struct.pack("<III", len(raw), descsz, ntype) + raw.ljust(align4(len(raw)), b"\0")
