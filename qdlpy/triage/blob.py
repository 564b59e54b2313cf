"""A range of kernel memory that may be only partly in the dump.

Readers ask a :class:`Blob` for a record's bytes and get ``None`` when any of them is
missing, so a partly dumped array yields exactly the records it holds whole.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

__all__ = ["Blob", "Buffer"]

Buffer = bytes | memoryview


class Blob:
    """``length`` bytes of which ``parts`` (disjoint ``(offset, bytes)``) are known. Parts
    may be memoryviews of a mapped file: ``get`` copies only what it returns."""

    def __init__(self, length: int, parts: Sequence[tuple[int, Buffer]]) -> None:
        self.length = length
        self._parts: list[tuple[int, Buffer]] = []
        for off, data in sorted(((o, d) for o, d in parts if len(d)), key=lambda t: t[0]):
            last = self._parts[-1] if self._parts else None
            if last is not None and last[0] + len(last[1]) == off:
                # Touching parts (two PT_LOADs back to back) are one run of memory: a record
                # across the seam is whole.
                self._parts[-1] = (last[0], bytes(last[1]) + bytes(data))
            else:
                self._parts.append((off, data))
        self._starts = [off for off, _ in self._parts]
        whole = len(self._parts) == 1 and self._parts[0][0] == 0 and \
            len(self._parts[0][1]) >= length
        self._whole: Buffer | None = self._parts[0][1] if whole else None

    @classmethod
    def of(cls, data: Buffer) -> Blob:
        return cls(len(data), [(0, data)])

    @property
    def present(self) -> int:
        """How many of the ``length`` bytes are known."""
        return sum(max(0, min(len(d), self.length - off)) for off, d in self._parts)

    def ranges(self) -> list[tuple[int, int]]:
        return [(off, min(off + len(d), self.length)) for off, d in self._parts
                if off < self.length]

    def get(self, offset: int, size: int) -> bytes | None:
        """``size`` bytes at ``offset`` when all are known, else None."""
        if offset < 0 or size < 0 or offset + size > self.length:
            return None
        if self._whole is not None:
            return bytes(self._whole[offset : offset + size])
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return None
        start, data = self._parts[i]
        if offset + size > start + len(data):
            return None
        return bytes(data[offset - start : offset - start + size])

    def buffer(self) -> Buffer | None:
        """All bytes without a copy, when all are known (the readers' fast path)."""
        if self._whole is not None:
            return self._whole[: self.length]
        return None
