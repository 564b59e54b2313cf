"""Kernel addresses -> bytes of an ELF core, refusing holes and other segments' bytes.

A read is served from the PT_LOADs whose ``[p_vaddr, p_vaddr + p_filesz)`` cover it (several
only when their address ranges touch), and only from bytes the source really holds: a
missing region (``p_filesz`` 0, or a hole in an in-memory assembly) is reported as missing,
never read as zeros or as the bytes that follow in the file (vmcore-dmesg uses ``p_memsz``
and would). When no PT_LOAD has the virtual address (full dumps carry ``p_vaddr = p_paddr``),
an optional translation to a physical address is tried against ``p_paddr``.
"""

from __future__ import annotations

import bisect
import dataclasses
import struct

from .blob import Blob, Buffer
from .elfcore import ElfCore
from .translate import Translate

__all__ = ["Memory"]


@dataclasses.dataclass(frozen=True)
class _Run:
    start: int  # address
    end: int
    offset: int  # file offset of ``start``


class _Map:
    def __init__(self, runs: list[_Run]) -> None:
        self.runs = sorted(runs, key=lambda r: r.start)
        self.starts = [r.start for r in self.runs]

    def index(self, addr: int) -> int:
        i = bisect.bisect_right(self.starts, addr) - 1
        return i if i >= 0 and addr < self.runs[i].end else -1

    def spans(self, addr: int, size: int) -> list[tuple[int, int, int]]:
        """``(offset in the request, length, file offset)`` of every covered piece."""
        out: list[tuple[int, int, int]] = []
        end = addr + size
        i = max(0, bisect.bisect_right(self.starts, addr) - 1)
        while i < len(self.runs) and self.runs[i].start < end:
            r = self.runs[i]
            a, b = max(addr, r.start), min(end, r.end)
            if a < b:
                if out and out[-1][0] + out[-1][1] > a - addr:  # overlapping PT_LOADs: first wins
                    a = addr + out[-1][0] + out[-1][1]
                if a < b:
                    out.append((a - addr, b - a, r.offset + a - r.start))
            i += 1
        return out


class Memory:
    """Byte-order- and word-size-aware reads of kernel memory in an :class:`ElfCore`."""

    def __init__(self, core: ElfCore, translate: Translate | None = None) -> None:
        self.core = core
        self.endian = core.endian
        self.word = core.word
        self.translate = translate
        virt: list[_Run] = []
        phys: list[_Run] = []
        for seg in core.segments:
            for lo, hi in core.readable(seg):
                virt.append(_Run(seg.vaddr + lo, seg.vaddr + hi, seg.offset + lo))
                phys.append(_Run(seg.paddr + lo, seg.paddr + hi, seg.offset + lo))
        self._virt, self._phys = _Map(virt), _Map(phys)

    def _spans(self, va: int, size: int) -> list[tuple[int, int, int]]:
        spans = self._virt.spans(va, size)
        if not spans and self.translate is not None:
            for pa in self.translate(va):
                spans = self._phys.spans(pa, size)
                if spans:
                    break
        return spans

    def blob(self, va: int, size: int) -> Blob:
        """The bytes of ``[va, va + size)`` the dump holds (none, some or all)."""
        parts: list[tuple[int, Buffer]] = [
            (at, self.core.source.view(off, n)) for at, n, off in self._spans(va, size)]
        return Blob(size, parts)

    def read(self, va: int, size: int) -> bytes | None:
        """``size`` bytes at ``va`` when every one is in the dump, else None."""
        spans = self._spans(va, size)
        if sum(n for _, n, _ in spans) != size:
            return None
        return b"".join(self.core.source.read(off, n) for _, n, off in spans)

    def present(self, va: int, size: int) -> int:
        """How many of the bytes at ``[va, va + size)`` the dump holds."""
        return sum(n for _, n, _ in self._spans(va, size))

    def unpack(self, fmt: str, va: int) -> tuple[int, ...] | None:
        raw = self.read(va, struct.calcsize(self.endian + fmt))
        return None if raw is None else struct.unpack(self.endian + fmt, raw)

    def word_at(self, va: int) -> int | None:
        got = self.unpack("I" if self.word == 4 else "Q", va)
        return None if got is None else got[0]

    def u32_at(self, va: int) -> int | None:
        got = self.unpack("I", va)
        return None if got is None else got[0]

    def s32_at(self, va: int) -> int | None:
        got = self.unpack("i", va)
        return None if got is None else got[0]
