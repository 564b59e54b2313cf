"""Where a dump's bytes come from: an ELF file on disk, or an assembly plan held in memory.

A :class:`Source` is a sparse byte string: ``extents`` say which offsets hold real bytes and
``read`` refuses anything else (raising :class:`Hole`). For a file every offset up to its size
is real; for a plan (``qdlpy.assemble``'s list of pieces: header bytes plus ranges of region
files) only the pieces are, so the zero fill an assembled file would carry for a short or
missing region is a hole here, never bytes to print. Files are mapped, not read, so a
multi-GiB core costs no memory until a page is touched.
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from qdlpy.errors import InputError

__all__ = ["Hole", "Source", "FileSource", "PieceSpec", "PlanSource", "BytesSource", "map_file"]


class Hole(Exception):
    """A read touched bytes the source does not hold (internal; readers turn it into a
    MissingRegion naming what they wanted)."""


class Source(Protocol):
    size: int

    def extents(self) -> list[tuple[int, int]]:
        """Sorted, disjoint ``(start, end)`` ranges that hold real bytes."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``, or :class:`Hole`."""
        ...

    def view(self, offset: int, length: int) -> memoryview:
        """Like ``read`` but without a copy where the bytes are mapped."""
        ...

    def close(self) -> None: ...


def map_file(path: Path) -> tuple[mmap.mmap | bytes, int]:
    """A read-only mapping of ``path`` (``b""`` for an empty file) and its size."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return b"", 0
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ), size
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot map {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    finally:
        os.close(fd)


class FileSource:
    """A whole file: every byte up to its size is real."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data, self.size = map_file(path)

    def extents(self) -> list[tuple[int, int]]:
        return [(0, self.size)] if self.size else []

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise Hole(offset, length)
        return bytes(self._data[offset : offset + length])

    def view(self, offset: int, length: int) -> memoryview:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise Hole(offset, length)
        return memoryview(self._data)[offset : offset + length]

    def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            with contextlib.suppress(BufferError):
                self._data.close()


class PieceSpec(Protocol):
    """What the assembler's plan pieces look like (``qdlpy.assemble.writer.Piece``)."""

    offset: int
    length: int
    data: bytes | None
    path: Path | None
    src_offset: int


class _Piece:
    __slots__ = ("base", "buf", "end", "start")

    def __init__(self, start: int, end: int, buf: mmap.mmap | bytes, base: int) -> None:
        self.start, self.end, self.buf, self.base = start, end, buf, base


class PlanSource:
    """The file an assembly plan would write, without writing it: pieces only, no fill."""

    def __init__(self, pieces: Sequence[PieceSpec], size: int) -> None:
        self.size = size
        self._maps: list[mmap.mmap] = []
        parts: list[_Piece] = []
        for p in sorted(pieces, key=lambda q: q.offset):
            if p.data is not None:
                buf: mmap.mmap | bytes = p.data
                avail = min(p.length, len(p.data))
                base = 0
            elif p.path is not None:
                buf, fsize = map_file(p.path)
                if isinstance(buf, mmap.mmap):
                    self._maps.append(buf)
                avail = max(0, min(p.length, fsize - p.src_offset))  # the file may be short
                base = p.src_offset
            else:
                continue
            if avail > 0:
                parts.append(_Piece(p.offset, p.offset + avail, buf, base))
        self._parts = parts
        self._starts = [q.start for q in parts]

    def extents(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for q in self._parts:
            if out and out[-1][1] >= q.start:
                out[-1] = (out[-1][0], max(out[-1][1], q.end))
            else:
                out.append((q.start, q.end))
        return out

    def read(self, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        out = bytearray()
        pos, end = offset, offset + length
        i = bisect.bisect_right(self._starts, pos) - 1
        while pos < end:
            if i < 0 or i >= len(self._parts) or not self._parts[i].start <= pos < \
                    self._parts[i].end:
                raise Hole(offset, length)
            q = self._parts[i]
            take = min(end, q.end) - pos
            at = q.base + pos - q.start
            out += q.buf[at : at + take]
            pos += take
            i += 1
        return bytes(out)

    def view(self, offset: int, length: int) -> memoryview:
        i = bisect.bisect_right(self._starts, offset) - 1
        if 0 <= i < len(self._parts):
            q = self._parts[i]
            if q.start <= offset and offset + length <= q.end:
                at = q.base + offset - q.start
                return memoryview(q.buf)[at : at + length]
        return memoryview(self.read(offset, length))

    def close(self) -> None:
        for m in self._maps:
            with contextlib.suppress(BufferError):
                m.close()
        self._maps.clear()


class BytesSource:
    """An ELF image held in memory (fuzz harnesses, tests)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.size = len(data)

    def extents(self) -> list[tuple[int, int]]:
        return [(0, self.size)] if self.size else []

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise Hole(offset, length)
        return self._data[offset : offset + length]

    def view(self, offset: int, length: int) -> memoryview:
        return memoryview(self.read(offset, length))

    def close(self) -> None:
        return None
