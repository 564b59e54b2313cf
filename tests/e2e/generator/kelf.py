"""Step 3b: the kmemdump coreimage ELF header region (``md_KELF1.BIN``), byte for byte as
minidump-format.md §2.4 describes it:

    [Ehdr][201 phdr slots][zero padding up to H][CORE/NT_PRSTATUS][CORE/NT_PRPSINFO]
    [VMCOREINFO note header]  <- the region ends here; the V descriptor bytes are region 2

PT_LOAD offsets start at H + N and are contiguous in slot (= ascending id) order (§2.5).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence

from .arch import ArchSpec
from .errors import GeneratorError
from .regions import Region, align4

__all__ = ["KelfLayout", "layout", "build_kelf", "NMAX", "PRPSINFO_SIZE"]

NMAX = 201  # phdr slots (MAX_ZONES / MEMINSPECT_ID_MAX)
PRPSINFO_SIZE = 136  # sizeof(struct elf_prpsinfo), 64-bit (S)
EHDR_SIZE = 64
PHDR_SIZE = 56
NOTE_HDR = 12
ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
NT_PRSTATUS = 1
NT_PRPSINFO = 3
PF_RW = 6


@dataclasses.dataclass(frozen=True)
class KelfLayout:
    vmcoreinfo_len: int  # V = ALIGN4(vmcoreinfo_size)
    note_start: int  # H
    note_len: int  # N
    kelf_size: int  # H + N - V: size of md_KELF1.BIN = offset of the vmcoreinfo bytes
    first_load: int  # H + N: p_offset of the first PT_LOAD


def layout(arch: ArchSpec, vmcoreinfo_len: int) -> KelfLayout:
    p, s, v = arch.prstatus_size, PRPSINFO_SIZE, vmcoreinfo_len
    if v % 4:
        raise GeneratorError("kelf", f"vmcoreinfo length {v} is not ALIGN4")
    h = align4(EHDR_SIZE + p + s + 11 + v + PHDR_SIZE * NMAX)  # §2.4 "elfh_size"
    n = 3 * NOTE_HDR + 2 * 8 + 12 + align4(p) + align4(s) + v  # §2.4 "note_len"
    return KelfLayout(v, h, n, h + n - v, h + n)


def build_kelf(arch: ArchSpec, vmcoreinfo_len: int, regions: Sequence[Region],
               cmdline: str) -> tuple[bytes, KelfLayout]:
    """The KELF region for ``regions`` (PT_LOADs in the given order)."""
    lay = layout(arch, vmcoreinfo_len)
    if len(regions) + 1 > NMAX:
        raise GeneratorError("kelf", f"{len(regions)} regions do not fit {NMAX} phdr slots")
    buf = bytearray(lay.kelf_size)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # CLASS64, LSB, EV_CURRENT, OSABI 0
    struct.pack_into("<16sHHIQQQIHHHHHH", buf, 0, ident, ET_CORE, arch.e_machine, 1,
                     0, EHDR_SIZE, 0, 0, EHDR_SIZE, PHDR_SIZE, 1 + len(regions), 0, 0, 0)
    struct.pack_into("<IIQQQQQQ", buf, EHDR_SIZE, PT_NOTE, 0, lay.note_start, 0, 0,
                     lay.note_len, 0, 0)  # PT_NOTE p_memsz = 0 (§2.4)
    offset = lay.first_load
    for slot, r in enumerate(regions, start=1):
        size = align4(r.size)
        struct.pack_into("<IIQQQQQQ", buf, EHDR_SIZE + slot * PHDR_SIZE, PT_LOAD, PF_RW,
                         offset, r.va, r.pa, size, size, 0)
        offset += size

    pos = lay.note_start
    p, s = arch.prstatus_size, PRPSINFO_SIZE
    pos = _note(buf, pos, b"CORE\0", align4(p), NT_PRSTATUS)
    pos += align4(p)  # elf_prstatus: all zero (no registers)
    pos = _note(buf, pos, b"CORE\0", align4(s), NT_PRPSINFO)
    buf[pos + 1] = ord("R")  # pr_sname
    fname = b"vmlinux"
    buf[pos + 40: pos + 40 + len(fname)] = fname  # pr_fname[16]
    psargs = cmdline.encode()[:79]
    buf[pos + 56: pos + 56 + len(psargs)] = psargs  # pr_psargs[80], NUL-terminated
    pos += align4(s)
    pos = _note(buf, pos, b"VMCOREINFO\0", vmcoreinfo_len, 0)
    if pos != lay.kelf_size:
        raise GeneratorError("kelf", f"notes end at {pos}, expected {lay.kelf_size}")
    return bytes(buf), lay


def _note(buf: bytearray, pos: int, name: bytes, descsz: int, ntype: int) -> int:
    struct.pack_into("<III", buf, pos, len(name), descsz, ntype)
    pos += NOTE_HDR
    buf[pos: pos + len(name)] = name
    return pos + align4(len(name))
