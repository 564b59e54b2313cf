"""The kmemdump / meminspect core-image header region (``md_KELF1.BIN``), byte for byte.

Layout, with ``P = sizeof(struct elf_prstatus)`` (arm64 392, x86_64 336),
``S = sizeof(struct elf_prpsinfo)`` = 136, ``V`` = the vmcoreinfo size rounded up to 4 and
201 program header slots::

    [Ehdr][201 phdr slots: PT_NOTE, PT_LOADs, zeros][zero padding up to H]
    [CORE/NT_PRSTATUS: P zero bytes][CORE/NT_PRPSINFO: S bytes]
    [VMCOREINFO note header, descsz V]   <- the region ends here: the V descriptor bytes
                                             are the vmcoreinfo region (id 2)

    H = ALIGN4(64 + P + S + 11 + V + 56 * 201)      where the notes start
    N = 3 * 12 + 2 * 8 + 12 + ALIGN4(P) + ALIGN4(S) + V   the PT_NOTE size

The region is ``H + N - V`` bytes; PT_LOAD offsets start at ``H + N`` and are contiguous in
slot order; PT_NOTE has ``p_memsz`` 0; PT_LOADs have flags R|W and ``p_filesz = p_memsz``.
NT_PRPSINFO holds ``pr_sname = 'R'`` at +1, ``pr_fname = "vmlinux"`` at +40 and the command
line (79 characters and a NUL) at +56.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .elf64 import (
    EHDR_SIZE,
    NOTE_HEADER_SIZE,
    PF_RW,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    align4,
    ehdr,
    note_header,
    phdr,
)

__all__ = ["NMAX", "PRPSINFO_SIZE", "KelfLayout", "Slot", "layout", "core_notes", "build_kelf",
           "set_load"]

NMAX = 201
PRPSINFO_SIZE = 136
NT_PRSTATUS, NT_PRPSINFO = 1, 3


@dataclasses.dataclass(frozen=True)
class KelfLayout:
    vmcoreinfo_len: int  # V
    note_start: int  # H
    note_len: int  # N
    kelf_size: int  # H + N - V: the region's size = offset of the vmcoreinfo bytes
    first_load: int  # H + N: p_offset of the first PT_LOAD


@dataclasses.dataclass(frozen=True)
class Slot:
    """One PT_LOAD as the kernel appends it."""

    pa: int
    va: int
    filesz: int  # the registered size rounded up to 4


def layout(prstatus_size: int, vmcoreinfo_len: int) -> KelfLayout:
    p, s, v = prstatus_size, PRPSINFO_SIZE, vmcoreinfo_len
    if v % 4:
        raise ValueError(f"vmcoreinfo length {v} is not a multiple of 4")
    h = align4(EHDR_SIZE + p + s + 11 + v + PHDR_SIZE * NMAX)
    n = 3 * NOTE_HEADER_SIZE + 2 * 8 + 12 + align4(p) + align4(s) + v
    return KelfLayout(v, h, n, h + n - v, h + n)


def core_notes(prstatus_size: int, psargs: bytes) -> bytes:
    """The CORE/NT_PRSTATUS and CORE/NT_PRPSINFO notes the kernel writes."""
    prpsinfo = bytearray(PRPSINFO_SIZE)
    prpsinfo[1] = ord("R")
    prpsinfo[40:47] = b"vmlinux"
    prpsinfo[56 : 56 + min(len(psargs), 79)] = psargs[:79]
    return (note_header(b"CORE", prstatus_size, NT_PRSTATUS) + bytes(align4(prstatus_size))
            + note_header(b"CORE", PRPSINFO_SIZE, NT_PRPSINFO) + bytes(prpsinfo))


def build_kelf(machine: int, prstatus_size: int, vmcoreinfo_len: int, slots: Sequence[Slot],
               psargs: bytes) -> bytes:
    """The header region for PT_LOADs ``slots`` (in slot order); ValueError when impossible."""
    lay = layout(prstatus_size, vmcoreinfo_len)
    if len(slots) + 1 > NMAX:
        raise ValueError(f"{len(slots)} PT_LOADs do not fit {NMAX} program header slots")
    buf = bytearray(lay.kelf_size)
    buf[:EHDR_SIZE] = ehdr(machine, 1 + len(slots))
    buf[EHDR_SIZE : EHDR_SIZE + PHDR_SIZE] = phdr(PT_NOTE, lay.note_start, lay.note_len, memsz=0)
    offset = lay.first_load
    for index, slot in enumerate(slots, start=1):
        set_load(buf, index, offset=offset, slot=slot)
        offset += slot.filesz
    notes = core_notes(prstatus_size, psargs) + note_header(b"VMCOREINFO", vmcoreinfo_len, 0)
    if lay.note_start + len(notes) != lay.kelf_size:
        raise ValueError(f"notes end at {lay.note_start + len(notes)}, not {lay.kelf_size}")
    buf[lay.note_start :] = notes
    return bytes(buf)


def set_load(buf: bytearray, index: int, *, offset: int, slot: Slot,
             filesz: int | None = None, flags: int = PF_RW) -> None:
    """Write program header ``index`` as a PT_LOAD for ``slot`` at file ``offset``;
    ``filesz`` overrides the file size (``p_memsz`` stays the slot's), ``flags`` the R|W
    flags (an assembler marks a hole with 0)."""
    at = EHDR_SIZE + index * PHDR_SIZE
    buf[at : at + PHDR_SIZE] = phdr(PT_LOAD, offset, slot.filesz if filesz is None else filesz,
                                    flags=flags, vaddr=slot.va, paddr=slot.pa, memsz=slot.filesz)

