"""Reading guest physical memory out of QEMU's ``dump-guest-memory`` ELF (paging=false)."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from types import TracebackType

from .errors import GeneratorError

__all__ = ["PhysMemory"]

PT_LOAD = 1


class PhysMemory:
    """Physical address -> bytes, through the dump's PT_LOADs (p_paddr)."""

    def __init__(self, path: Path) -> None:
        self._f = path.open("rb")
        self._m = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        if self._m[:4] != b"\x7fELF" or self._m[4] != 2:
            raise GeneratorError("cut", f"{path} is not an ELF64 memory dump")
        phoff, = struct.unpack_from("<Q", self._m, 32)
        phentsize, phnum = struct.unpack_from("<HH", self._m, 54)
        self.segments: list[tuple[int, int, int]] = []  # (paddr, size, file offset)
        for i in range(phnum):
            p_type, _flags, off, _va, pa, filesz, _memsz, _align = struct.unpack_from(
                "<IIQQQQQQ", self._m, phoff + i * phentsize)
            if p_type == PT_LOAD and filesz:
                self.segments.append((pa, filesz, off))
        if not self.segments:
            raise GeneratorError("cut", f"{path} has no PT_LOAD with data")

    def read(self, pa: int, size: int, what: str = "") -> bytes:
        for base, length, off in self.segments:
            if base <= pa and pa + size <= base + length:
                return bytes(self._m[off + pa - base: off + pa - base + size])
        raise GeneratorError("cut", f"physical range {pa:#x}+{size:#x} {what} is not in the dump")

    def u64(self, pa: int, what: str = "") -> int:
        v: int = struct.unpack("<Q", self.read(pa, 8, what))[0]
        return v

    def ram_ranges(self) -> list[tuple[int, int]]:
        return [(base, base + length) for base, length, _ in self.segments]

    def close(self) -> None:
        self._m.close()
        self._f.close()

    def __enter__(self) -> PhysMemory:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
