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
        self._parts = sorted(((off, data) for off, data in parts if len(data)),
                             key=lambda t: t[0])
        self._starts = [off for off, _ in self._parts]
        whole = len(self._parts) == 1 and self._parts[0][0] == 0 and \
            len(self._parts[0][1]) >= length
        self._whole: Buffer | None = self._parts[0][1] if whole else None

    @classmethod
    def of(cls, data: Buffer) -> Blob:
        return cls(len(data), [(0, data)])

    @property
    def complete(self) -> bool:
        return self._whole is not None or (self.length == 0)

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
        """All bytes without a copy, when all are known (for struct.iter_unpack)."""
        if self._whole is not None:
            return self._whole[: self.length]
        return None
