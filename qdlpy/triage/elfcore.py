"""An ELF core reader for triage: 32- and 64-bit, little- and big-endian.

The assembler's ELF code writes and reads the 64-bit little-endian minidumps qdlpy builds;
triage must also read what other tools made (32-bit ARM cores, big-endian cores, QEMU and
kdump vmcores), so it parses the header itself, with the byte order and word size the
header declares. Every count and offset comes from a crashed device or an unknown tool:
tables must fit in the file, notes are walked with bounds, and a segment's bytes are only
ever read inside its own ``p_filesz``.
"""

from __future__ import annotations

import dataclasses
import struct

from qdlpy.errors import InputError

from .source import Hole, Source

__all__ = ["ElfCore", "Segment", "Note", "EM_NAMES", "parse_notes"]

PT_LOAD, PT_NOTE = 1, 4
SHT_PROGBITS, SHT_STRTAB = 1, 3
EM_386 = 3
EM_NAMES: dict[int, str] = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390",
                            40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"}
_MAX_TABLE = 16 * 1024 * 1024  # program/section header tables, a string table
_MAX_NOTES = 64 * 1024 * 1024  # one PT_NOTE segment
_MAX_NOTE_COUNT = 4096

# (header, program header, section header) layouts per class, without the byte order.
_LAYOUT = {
    1: ("16sHHIIIIIHHHHHH", "IIIIIIII", "IIIIIIIIII"),
    2: ("16sHHIQQQIHHHHHH", "IIQQQQQQ", "IIQQQQIIQQ"),
}


@dataclasses.dataclass(frozen=True)
class Segment:
    """One PT_LOAD: ``filesz`` bytes at ``offset`` are memory at ``vaddr``/``paddr``."""

    index: int
    vaddr: int
    paddr: int
    offset: int
    filesz: int
    memsz: int
    name: str | None = None  # from a section header at the same offset (downstream, groups)


@dataclasses.dataclass(frozen=True)
class Note:
    name: bytes
    type: int
    desc: bytes


def parse_notes(blob: bytes, endian: str, *, limit: int = _MAX_NOTE_COUNT) -> list[Note]:
    """Notes of one PT_NOTE segment; stops at the first header that does not fit."""
    notes: list[Note] = []
    pos, end = 0, len(blob)
    while pos + 12 <= end and len(notes) < limit:
        namesz, descsz, ntype = struct.unpack_from(endian + "III", blob, pos)
        name_at = pos + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        nxt = desc_at + ((descsz + 3) & ~3)
        if nxt > end + 3 or desc_at + descsz > end:  # the last descriptor may lack padding
            break
        notes.append(Note(blob[name_at : name_at + namesz].rstrip(b"\0"), ntype,
                          blob[desc_at : desc_at + descsz]))
        pos = nxt
    return notes


class ElfCore:
    """The program headers, notes and section names of an ELF core in a :class:`Source`."""

    def __init__(self, source: Source, what: str) -> None:
        self.source = source
        self.what = what
        ident = self._read(0, 16, "the ELF identification")
        if ident[:4] != b"\x7fELF":
            raise InputError(f"{what} is not an ELF file (first bytes {ident[:8].hex()})")
        if ident[4] not in _LAYOUT or ident[5] not in (1, 2):
            raise InputError(f"{what}: unknown ELF class {ident[4]} or byte order {ident[5]}")
        self.bits = 32 if ident[4] == 1 else 64
        self.endian = "<" if ident[5] == 1 else ">"
        ehdr_fmt, phdr_fmt, shdr_fmt = (self.endian + f for f in _LAYOUT[ident[4]])
        ehdr = struct.unpack(ehdr_fmt, self._read(0, struct.calcsize(ehdr_fmt), "the ELF header"))
        (_, self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize,
         shnum, shstrndx) = ehdr
        # vmcore-dmesg's rule: the class gives the word size, except i386 (always 32-bit).
        self.word = 4 if self.bits == 32 or self.machine == EM_386 else 8
        self.machine_name = EM_NAMES.get(self.machine, f"em{self.machine}")
        self.segments: list[Segment] = []
        self.notes: list[Note] = []
        self.note_blobs: list[bytes] = []  # raw PT_NOTE contents (what is readable of them)
        self.warnings: list[str] = []
        phdrs = self._table(phoff, phnum, phentsize, phdr_fmt, "program header")
        names = self._section_names(shoff, shnum, shentsize, shdr_fmt, shstrndx)
        for i, ph in enumerate(phdrs):
            if self.bits == 64:
                p_type, _, offset, vaddr, paddr, filesz, memsz, _ = ph
            else:
                p_type, offset, vaddr, paddr, filesz, memsz, _, _ = ph
            if p_type == PT_LOAD:
                self.segments.append(Segment(i, vaddr, paddr, offset, filesz, memsz,
                                             names.get(offset) if filesz else None))
            elif p_type == PT_NOTE:
                self._add_notes(offset, filesz)

    # --- parsing helpers ------------------------------------------------------------------

    def _read(self, offset: int, length: int, what: str) -> bytes:
        try:
            return self.source.read(offset, length)
        except Hole:
            raise InputError(f"{self.what}: {what} ({length} bytes at offset {offset}) is not "
                             "in the file: truncated or not an ELF core") from None

    def _table(self, off: int, num: int, entsize: int, fmt: str,
               what: str) -> list[tuple[int, ...]]:
        if num == 0:
            return []
        size = struct.calcsize(fmt)
        if entsize != size:
            raise InputError(f"{self.what}: {what} entries are {entsize} bytes, not {size}")
        if num * size > _MAX_TABLE:
            raise InputError(f"{self.what}: {num} {what}s: not a plausible core file")
        raw = self._read(off, num * size, f"the {what} table")
        return [struct.unpack_from(fmt, raw, i * size) for i in range(num)]

    def _section_names(self, shoff: int, shnum: int, shentsize: int, fmt: str,
                       shstrndx: int) -> dict[int, str]:
        """File offset -> section name of PROGBITS sections (optional: a broken table only
        loses the names)."""
        if not shnum:
            return {}
        try:
            shdrs = self._table(shoff, shnum, shentsize, fmt, "section header")
        except InputError as exc:
            self.warnings.append(f"section headers ignored: {exc.message}")
            return {}
        if not 0 < shstrndx < len(shdrs) or shdrs[shstrndx][1] != SHT_STRTAB:
            return {}
        st_off, st_size = shdrs[shstrndx][4], shdrs[shstrndx][5]  # same slots in both classes
        try:
            strtab = self.source.read(st_off, min(st_size, _MAX_TABLE))
        except Hole:
            return {}
        out: dict[int, str] = {}
        for sh in shdrs:
            if sh[1] != SHT_PROGBITS or sh[0] >= len(strtab):
                continue
            end = strtab.find(b"\0", sh[0])
            name = strtab[sh[0] : end if end >= 0 else len(strtab)]
            out.setdefault(sh[4], name.decode("ascii", errors="replace"))
        return out

    def _add_notes(self, offset: int, size: int) -> None:
        if size > _MAX_NOTES:
            self.warnings.append(f"a PT_NOTE of {size} bytes was ignored (not plausible)")
            return
        try:
            blob = self.source.read(offset, size)
        except Hole:
            # kmemdump's note segment ends in the VMCOREINFO descriptor, which is the next
            # region: with that region missing only a prefix is readable.
            blob = self._readable_prefix(offset, size)
            self.warnings.append(f"the PT_NOTE segment is cut at {len(blob)} of {size} bytes")
        self.note_blobs.append(blob)
        self.notes.extend(parse_notes(blob, self.endian))

    def _readable_prefix(self, offset: int, size: int) -> bytes:
        for start, end in self.source.extents():
            if start <= offset < end:
                return self.source.read(offset, min(size, end - offset))
        return b""

    # --- what readers use -----------------------------------------------------------------

    def vmcoreinfo(self) -> bytes | None:
        """The descriptor of the first VMCOREINFO note (type 0), if any."""
        for n in self.notes:
            if n.name == b"VMCOREINFO" and n.type == 0 and n.desc.strip(b"\0"):
                return n.desc
        return None

    def readable(self, seg: Segment) -> list[tuple[int, int]]:
        """``(start, end)`` offsets inside ``seg`` whose bytes the source holds."""
        out: list[tuple[int, int]] = []
        lo, hi = seg.offset, seg.offset + seg.filesz
        for start, end in self.source.extents():
            a, b = max(lo, start), min(hi, end)
            if a < b:
                out.append((a - lo, b - lo))
        return out
