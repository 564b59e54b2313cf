"""ELF64 little-endian structures: what the assembler, inspect and the simulator need.

Only what a core file needs: the file header, program headers, section headers and
4-byte aligned notes. Parsing is bounded and never trusts a count or an offset from the
file (the bytes come from a crashed device); building is plain ``struct`` packing.
Field layouts are the ELF64 gABI ones; the values a kmemdump header uses are in
docs/formats.md#the-core-image-header.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from qdlpy.errors import InputError

__all__ = [
    "ELFMAG", "EHDR_SIZE", "PHDR_SIZE", "SHDR_SIZE", "ET_CORE", "PT_LOAD", "PT_NOTE",
    "PF_R", "PF_W", "PF_X", "SHT_PROGBITS", "SHT_STRTAB", "SHF_WRITE", "EM_NAMES",
    "Ehdr", "Phdr", "Shdr", "Note", "align4", "parse_ehdr", "parse_phdrs", "parse_shdrs",
    "build_ehdr", "build_phdr", "build_shdr", "build_note", "walk_notes", "section_name",
]

ELFMAG = b"\x7fELF"
EHDR_SIZE = 64
PHDR_SIZE = 56
SHDR_SIZE = 64
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4
SHT_PROGBITS = 1
SHT_STRTAB = 3
SHF_WRITE = 1

# e_machine values qdlpy names in reports (gABI registry).
EM_NAMES: dict[int, str] = {0: "none", 3: "i386", 40: "arm", 62: "x86_64", 164: "hexagon",
                            183: "aarch64", 243: "riscv"}

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_NHDR = struct.Struct("<III")
assert _EHDR.size == EHDR_SIZE and _PHDR.size == PHDR_SIZE and _SHDR.size == SHDR_SIZE


def align4(n: int) -> int:
    return (n + 3) & ~3


@dataclasses.dataclass
class Ehdr:
    ident: bytes
    type: int
    machine: int
    version: int
    entry: int
    phoff: int
    shoff: int
    flags: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int
    shstrndx: int

    @property
    def machine_name(self) -> str:
        return EM_NAMES.get(self.machine, f"em{self.machine}")


@dataclasses.dataclass
class Phdr:
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int

    def pack(self) -> bytes:
        return _PHDR.pack(self.type, self.flags, self.offset, self.vaddr, self.paddr,
                          self.filesz, self.memsz, self.align)


@dataclasses.dataclass
class Shdr:
    name: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int = 0
    info: int = 0
    addralign: int = 0
    entsize: int = 0

    def pack(self) -> bytes:
        return _SHDR.pack(self.name, self.type, self.flags, self.addr, self.offset, self.size,
                          self.link, self.info, self.addralign, self.entsize)


@dataclasses.dataclass
class Note:
    name: bytes  # without the trailing NUL
    type: int
    offset: int  # of the 12-byte note header in the file
    desc_offset: int
    descsz: int


def parse_ehdr(data: bytes, what: str) -> Ehdr:
    """The ELF64 LE header of ``data``; InputError when it is not one."""
    if len(data) < EHDR_SIZE:
        raise InputError(f"{what} is {len(data)} bytes, too short for an ELF header")
    if data[:4] != ELFMAG:
        raise InputError(f"{what} does not start with the ELF magic")
    if data[4] != 2 or data[5] != 1:
        raise InputError(f"{what} is not a 64-bit little-endian ELF (class {data[4]}, "
                         f"data {data[5]})")
    return Ehdr(*_EHDR.unpack_from(data, 0))


def parse_phdrs(data: bytes, eh: Ehdr, what: str) -> list[Phdr]:
    """All program headers, which must lie inside ``data``."""
    rows = _table(data, what, "program header table", "e_phentsize",
                  (eh.phoff, eh.phnum, eh.phentsize), _PHDR)
    return [Phdr(*row) for row in rows]


def parse_shdrs(data: bytes, eh: Ehdr, what: str) -> list[Shdr]:
    """All section headers, which must lie inside ``data``."""
    rows = _table(data, what, "section header table", "e_shentsize",
                  (eh.shoff, eh.shnum, eh.shentsize), _SHDR)
    return [Shdr(*row) for row in rows]


def _table(data: bytes, what: str, name: str, entsize_field: str,
           where: tuple[int, int, int], layout: struct.Struct) -> list[tuple[Any, ...]]:
    """The ``(offset, count, entry size)`` table of ``layout`` entries, all inside ``data``;
    InputError naming ``what`` when the header's numbers cannot be true."""
    offset, count, entsize = where
    if count == 0:
        return []
    if entsize != layout.size:
        raise InputError(f"{what}: {entsize_field} is {entsize}, not {layout.size}")
    if offset < EHDR_SIZE or offset + count * layout.size > len(data):
        raise InputError(f"{what}: the {name} ({count} entries at {offset}) does not fit in "
                         f"its {len(data)} bytes")
    return [layout.unpack_from(data, offset + k * layout.size) for k in range(count)]


def section_name(data: bytes, strtab: Shdr, index: int) -> str:
    """Name at ``index`` of a string table section, bounded by the section and the data."""
    start = strtab.offset + index
    stop = min(strtab.offset + strtab.size, len(data))
    if index < 0 or start >= stop:
        return ""
    end = data.find(b"\0", start, stop)
    return data[start : end if end >= 0 else stop].decode("ascii", errors="replace")


def walk_notes(data: bytes, start: int, stop: int, *, limit: int = 64) -> list[Note]:
    """Notes from ``start``; a descriptor may run past ``stop`` (the kmemdump header ends
    right before the VMCOREINFO descriptor, docs/formats.md#the-note-segment), a note header may
    not. Stops at the first header that does not fit or looks impossible."""
    notes: list[Note] = []
    pos = start
    while pos + _NHDR.size <= stop and len(notes) < limit:
        namesz, descsz, ntype = _NHDR.unpack_from(data, pos)
        name_off = pos + _NHDR.size
        if namesz == 0 or namesz > 64 or name_off + namesz > stop:
            break
        raw_name = data[name_off : name_off + namesz]
        if raw_name[-1:] != b"\0":
            break
        desc_off = name_off + align4(namesz)
        notes.append(Note(raw_name[:-1], ntype, pos, desc_off, descsz))
        pos = desc_off + align4(descsz)
    return notes


def build_ehdr(*, machine: int, phnum: int, shnum: int = 0, shoff: int = 0, shstrndx: int = 0,
               phoff: int = EHDR_SIZE, etype: int = ET_CORE, osabi: int = 0) -> bytes:
    ident = ELFMAG + bytes([2, 1, 1, osabi]) + bytes(8)
    return _EHDR.pack(ident, etype, machine, 1, 0, phoff if phnum else 0, shoff, 0, EHDR_SIZE,
                      PHDR_SIZE, phnum, SHDR_SIZE if shnum else 0, shnum, shstrndx)


def build_phdr(**fields: int) -> bytes:
    return Phdr(**{"type": 0, "flags": 0, "offset": 0, "vaddr": 0, "paddr": 0, "filesz": 0,
                   "memsz": 0, "align": 0, **fields}).pack()


def build_shdr(**fields: int) -> bytes:
    return Shdr(**{"name": 0, "type": 0, "flags": 0, "addr": 0, "offset": 0, "size": 0,
                   **fields}).pack()


def build_note(name: bytes, ntype: int, desc: bytes, *, descsz: int | None = None) -> bytes:
    """One note; ``descsz`` overrides the header value (kmemdump writes the VMCOREINFO note
    header while its descriptor lives in another region)."""
    n = name + b"\0"
    header = _NHDR.pack(len(n), len(desc) if descsz is None else descsz, ntype)
    return header + n.ljust(align4(len(n)), b"\0") + desc.ljust(align4(len(desc)), b"\0")
