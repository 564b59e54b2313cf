"""The kmemdump / meminspect core-image header layout (docs/formats.md#the-core-image-header).

The first kernel region (``md_KELF<id>.BIN``) is an ELF64 core header: 201 program header
slots, zero padding, then the notes CORE/NT_PRSTATUS, CORE/NT_PRPSINFO and the VMCOREINFO
note header; the VMCOREINFO descriptor is the next region (id 2). The simulated device
(qdlpy.simulator.kmemdump_image) builds headers with these formulas; the assembler reads
them and its ``--repair`` path regenerates the two CORE notes with :func:`core_notes`.
"""

from __future__ import annotations

from .elf import EHDR_SIZE, PHDR_SIZE, align4, build_note

__all__ = [
    "NMAX", "PRSTATUS_SIZE", "PRPSINFO_SIZE", "NT_PRSTATUS", "NT_PRPSINFO",
    "VMCOREINFO_NOTE_HEADER", "VMCOREINFO_NOTE_NAME", "header_start", "note_len", "core_notes",
    "vmcoreinfo_note_header",
]

# program header slots: PT_NOTE + up to 200 PT_LOADs (docs/formats.md#h-n-and-the-kelf-length,
# MAX_ZONES)
NMAX = 201
# sizeof(struct elf_prstatus) per e_machine (docs/formats.md#h-n-and-the-kelf-length: arm64 392,
# x86_64 336).
PRSTATUS_SIZE: dict[int, int] = {183: 392, 62: 336}
# sizeof(struct elf_prpsinfo), 64-bit layout (docs/formats.md#h-n-and-the-kelf-length)
PRPSINFO_SIZE = 136
NT_PRSTATUS = 1
NT_PRPSINFO = 3
VMCOREINFO_NOTE_HEADER = 12 + 12  # {namesz, descsz, type} + "VMCOREINFO\0" padded to 12
VMCOREINFO_NOTE_NAME = b"VMCOREINFO\0\0"  # the name field as padded: the header's last 12 bytes


def header_start(p: int, s: int, v: int) -> int:
    """H: where the notes start, ``ALIGN4(64 + P + S + 11 + V + 56*NMAX)``
    (docs/formats.md#h-n-and-the-kelf-length)."""
    return align4(EHDR_SIZE + p + s + 11 + v + PHDR_SIZE * NMAX)


def note_len(p: int, s: int, v: int) -> int:
    """N: the PT_NOTE size, ``3*12 + 2*8 + 12 + ALIGN4(P) + ALIGN4(S) + V``
    (docs/formats.md#h-n-and-the-kelf-length)."""
    return 3 * 12 + 2 * 8 + 12 + align4(p) + align4(s) + v


def core_notes(p: int, s: int = PRPSINFO_SIZE, *, psargs: bytes = b"") -> bytes:
    """The CORE/NT_PRSTATUS (all zero) and CORE/NT_PRPSINFO notes as the kernel writes them:
    ``pr_sname='R'`` at +1, ``pr_fname="vmlinux"`` at +40, ``pr_psargs`` (79 chars + NUL)
    at +56 (docs/formats.md#the-note-segment)."""
    prpsinfo = bytearray(s)
    prpsinfo[1] = ord("R")
    prpsinfo[40:47] = b"vmlinux"
    args = psargs[:79]
    prpsinfo[56 : 56 + len(args)] = args
    return build_note(b"CORE", NT_PRSTATUS, bytes(p)) + build_note(b"CORE", NT_PRPSINFO,
                                                                   bytes(prpsinfo))


def vmcoreinfo_note_header(v: int) -> bytes:
    """The VMCOREINFO note header without its descriptor (the descriptor is region 2)."""
    return build_note(b"VMCOREINFO", 0, b"", descsz=v)
