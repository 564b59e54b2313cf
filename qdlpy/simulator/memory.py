"""Simulated device memory: a set of regions, each backed by bytes or by a generator."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable

Generator = Callable[[int, int], bytes]  # (address, length) -> bytes


@dataclasses.dataclass(frozen=True)
class Span:
    base: int
    length: int
    data: bytes | None = None  # literal contents, or
    generate: Generator | None = None  # contents computed on demand (constant memory)

    @property
    def end(self) -> int:
        return self.base + self.length

    def read(self, address: int, length: int) -> bytes:
        off = address - self.base
        if self.data is not None:
            return self.data[off : off + length].ljust(length, b"\0")
        assert self.generate is not None
        return self.generate(address, length)


class SparseMemory:
    """Physical memory made of spans; unmapped bytes read as zero."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = sorted(spans, key=lambda s: s.base)
        self._bases = [s.base for s in self.spans]

    def read(self, address: int, length: int) -> bytes:
        i = bisect.bisect_right(self._bases, address) - 1
        if i >= 0:
            s = self.spans[i]
            if address + length <= s.end:  # the common case: inside one span
                return s.read(address, length)
        out = bytearray(length)
        for s in self.spans:
            lo, hi = max(s.base, address), min(s.end, address + length)
            if lo < hi:
                out[lo - address : hi - address] = s.read(lo, hi - lo)
        return bytes(out)


PAGE = 4096
_PATTERN = bytes((i * 7 + (i >> 8) * 13) & 0xFF for i in range(PAGE * 2))


def address_pattern(address: int, length: int) -> bytes:
    """Deterministic contents for generated memory, in constant memory.

    Every 4 KiB page starts with its own 8-byte address, so a chunk written at the wrong
    offset (even a whole number of pages off) is caught by comparing with this function.
    """
    out = bytearray()
    a = address
    end = address + length
    while a < end:
        page = a - (a % PAGE)
        page_end = min(page + PAGE, end)
        block = bytearray(_PATTERN[(page >> 12) % PAGE : (page >> 12) % PAGE + PAGE])
        block[0:8] = page.to_bytes(8, "little")
        out += block[a - page : page_end - page]
        a = page_end
    return bytes(out)
