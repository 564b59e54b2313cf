"""How a region with no usable bytes appears in an ELF: a hole (docs/formats.md#missing-regions).

A hole's PT_LOAD keeps its address, ``p_memsz`` and its own file offset; ``p_filesz``
becomes ``p_memsz`` and the file holds zeros there (a sparse range, no disk space), and
``p_flags`` becomes 0, the mark qdlpy inspect reads back. Every consumer, whether it reads
by ``p_filesz`` (crash, gdb, drgn, pyelftools) or by ``p_memsz`` (kexec-tools'
vmcore-dmesg, makedumpfile), then reads zeros at the region's addresses, never another
region's bytes, and gdb never falls back to the vmlinux file's initial data.

The rule behind it: no PT_LOAD's ``[p_offset, p_offset + max(p_filesz, p_memsz))`` may
overlap another PT_LOAD's data. :func:`reserve` enforces it for every ELF qdlpy writes: a
PT_LOAD whose zero tail would cover a neighbour moves to the end of the file.
"""

from __future__ import annotations

import bisect
import dataclasses

from qdlpy.formats.elf import Phdr

from .writer import Piece

__all__ = ["HOLE_FLAGS", "hole", "is_hole", "reserve", "Laid"]

HOLE_FLAGS = 0  # no PF_R, no PF_W: no bytes of this region were dumped
_ALIGN = 8


def hole(ph: Phdr) -> Phdr:
    """The PT_LOAD of a region with no usable bytes (see the module docstring)."""
    return dataclasses.replace(ph, flags=HOLE_FLAGS, filesz=max(ph.filesz, ph.memsz))


def is_hole(ph: Phdr) -> bool:
    return ph.flags == HOLE_FLAGS and ph.filesz > 0


@dataclasses.dataclass
class Laid:
    """One PT_LOAD as it will be written, with the piece that carries its bytes (None for
    a hole or for bytes that are part of the header)."""

    index: int
    phdr: Phdr
    piece: Piece | None = None

    @property
    def reserved(self) -> int:
        return max(self.phdr.filesz, self.phdr.memsz)


def reserve(loads: list[Laid], end: int) -> int:
    """Move every PT_LOAD whose reserved range overlaps another PT_LOAD's data to the end of
    the file (its piece with it); the file size, at least ``end``. Changes ``loads``."""
    with_data = sorted((ld.phdr.offset, ld.phdr.offset + ld.phdr.filesz, id(ld))
                       for ld in loads if ld.phdr.filesz)
    starts = [s for s, _, _ in with_data]
    moving = [ld for ld in loads if ld.reserved > ld.phdr.filesz
              and _covers_another(ld, with_data, starts)]
    moved = {id(ld) for ld in moving}
    end = max([end, *(ld.phdr.offset + ld.reserved for ld in loads if id(ld) not in moved)])
    for ld in moving:
        end += -end % _ALIGN
        ld.phdr.offset = end
        if ld.piece is not None:
            ld.piece.offset = end
        end += ld.reserved
    return end


def _covers_another(ld: Laid, with_data: list[tuple[int, int, int]], starts: list[int]) -> bool:
    lo, hi = ld.phdr.offset, ld.phdr.offset + ld.reserved
    i = bisect.bisect_left(starts, lo)
    for start, stop, owner in with_data[max(0, i - 1) : i + 2]:
        if owner != id(ld) and start < hi and lo < stop:
            return True
    return False
