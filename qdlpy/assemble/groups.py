"""One generic ELF per group of non-kernel regions (docs/formats.md#group-elfs).

Groups: ``subsystems`` (other ``md_`` regions: modem, ADSP...), ``firmware`` (XBL's ``MD_``
items), ``fulldump`` (DDRCS*, OCIMEM...), ``kernel-unreferenced`` (``md_K`` regions no PT_LOAD
uses). The table does not say which subsystem a region belongs to, so no finer split is
claimed. Layout, for every consumer: PT_NOTE first (crash skips phdr[0] and needs
e_phnum >= 2; it carries VMCOREINFO when the kernel's is known), one PT_LOAD per region with
``p_paddr = p_vaddr = address``, and section headers naming the regions (``STR_TBL``) for
name-based tools; region data starts page aligned, in table order.
"""

from __future__ import annotations

from pathlib import Path

from qdlpy.formats.elf import (
    EHDR_SIZE,
    PF_R,
    PF_W,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHDR_SIZE,
    SHF_WRITE,
    SHT_PROGBITS,
    SHT_STRTAB,
    build_ehdr,
    build_note,
    build_phdr,
    build_shdr,
)

from .classify import RegionKind
from .folder import Entry
from .holes import HOLE_FLAGS
from .report import Hole
from .writer import OutputPlan, Piece

__all__ = ["GROUPS", "group_of", "plan_group", "group_path"]

GROUPS = ("subsystems", "firmware", "fulldump", "kernel-unreferenced")
# One PT_LOAD and one section per region, plus PT_NOTE and the null + STR_TBL sections:
# e_shnum = regions + 2 must stay below SHN_LORESERVE (0xff00), else it would need the
# extended numbering (the real count in section 0's sh_size). e_phnum = regions + 1 is then
# far from PN_XNUM (0xffff).
_MAX_REGIONS = 0xFF00 - 3


def group_of(e: Entry) -> str | None:
    return {RegionKind.SUBSYSTEM: "subsystems", RegionKind.FIRMWARE: "firmware",
            RegionKind.FULLDUMP: "fulldump"}.get(e.cls.kind)


def group_path(kernel_output: Path, group: str) -> Path:
    """``minidump.elf`` -> ``minidump-subsystems.elf`` beside it."""
    return kernel_output.with_name(f"{kernel_output.stem}-{group}.elf")


def _usable(group: str, entries: list[Entry],
            warnings: list[str]) -> tuple[list[Entry], int]:
    """The entries that get a PT_LOAD (with bytes, or a hole) and how many have bytes."""
    out: list[Entry] = []
    with_bytes = 0
    for e in entries:
        if e.base is None:
            warnings.append(f"{group}: {e.label} has no known address; left out of the ELF")
        elif e.path is None and e.length:
            # docs/formats.md#missing-regions: a hole, as in the kernel ELF
            warnings.append(f"{group}: {e.label} is {e.hole or 'listed but not on disk'}: a "
                            "hole in the ELF (reads as zeros)")
            out.append(e)
        elif e.path is None:
            warnings.append(f"{group}: {e.label} is listed but not on disk; left out")
        elif not e.size:
            warnings.append(f"{group}: {e.label} is empty; left out")
        else:
            out.append(e)
            with_bytes += 1
    if len(out) > _MAX_REGIONS:
        warnings.append(f"{group}: only the first {_MAX_REGIONS} of {len(out)} regions fit")
        out = out[:_MAX_REGIONS]
    return out, with_bytes


def plan_group(group: str, entries: list[Entry], path: Path, *, machine: int,
               vmcoreinfo: bytes | None, warnings: list[str]) -> OutputPlan | None:
    """The plan of one group ELF, or None when no region of the group has bytes."""
    usable, with_bytes = _usable(group, entries, warnings)
    if not with_bytes:
        return None

    strtab = bytearray(b"\0STR_TBL\0")
    name_at: list[int] = []
    for e in usable:
        name_at.append(len(strtab))
        label = (e.description.strip() or e.filename).encode("ascii", errors="replace")
        strtab += label.replace(b"\0", b"") + b"\0"
    note = build_note(b"VMCOREINFO", 0, vmcoreinfo) if vmcoreinfo else b""

    n = len(usable)
    phoff = EHDR_SIZE
    shoff = phoff + PHDR_SIZE * (n + 1)
    str_off = shoff + SHDR_SIZE * (n + 2)
    note_off = str_off + len(strtab)
    note_off += -note_off % 4
    data_off = note_off + len(note)
    data_off += -data_off % 4096

    phdrs = [build_phdr(type=PT_NOTE, offset=note_off, filesz=len(note))]
    shdrs = [build_shdr(), build_shdr(name=1, type=SHT_STRTAB, offset=str_off, size=len(strtab))]
    pieces: list[Piece] = []
    holes: list[Hole] = []
    off = data_off
    for e, name in zip(usable, name_at):
        assert e.base is not None
        if e.path is None:  # a hole: zeros over its whole length, flags 0
            size = memsz = e.length or 0
            flags = HOLE_FLAGS
            holes.append(Hole(str(path), group, len(phdrs), e.filename, e.base, size,
                              e.hole or "listed but not on disk"))
        else:
            size = e.size or 0
            memsz = max(size, e.length or 0)
            flags = PF_R | PF_W
            pieces.append(Piece(off, size, path=e.path))
            if e.length is not None and e.length != size:
                warnings.append(f"{group}: {e.label} is {size} bytes, the table says {e.length}")
        phdrs.append(build_phdr(type=PT_LOAD, flags=flags, offset=off, vaddr=e.base,
                                paddr=e.base, filesz=size, memsz=memsz))
        shdrs.append(build_shdr(name=name, type=SHT_PROGBITS, flags=SHF_WRITE, addr=e.base,
                                offset=off, size=size))
        off += max(size, memsz)  # the zero tail is reserved too (docs/formats.md#missing-regions)
    head = (build_ehdr(machine=machine, phnum=n + 1, shnum=n + 2, shoff=shoff, shstrndx=1)
            + b"".join(phdrs) + b"".join(shdrs) + bytes(strtab))
    head = head.ljust(note_off, b"\0") + note
    pieces.insert(0, Piece(0, len(head), data=head))
    return OutputPlan(path, group, off, pieces, regions=n, holes=holes)
