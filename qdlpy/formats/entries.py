"""One region as an address file describes it, and what the address-file readers share.

The region files of a dump carry no addresses; three text files do (``manifest.json``,
``dump_info.txt``, ``load.cmm``: :mod:`.manifest`, :mod:`.dumpinfo`, :mod:`.loadcmm`).
Each reader returns :class:`SourceEntry` rows; numbers that cannot be a 64-bit table field
become unknown (None) with a warning, never an exception.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

from qdlpy.errors import InputError

__all__ = ["SourceEntry", "EntryLike", "parse_int", "as_u64", "read_text", "MAX_TEXT"]

MAX_TEXT = 16 * 1024 * 1024  # address files are a few KiB; refuse to slurp anything huge
_MAX_U64 = (1 << 64) - 1  # table bases and lengths are 64-bit (ELF p_paddr / p_memsz too)


@dataclasses.dataclass(frozen=True)
class SourceEntry:
    """One region as an address source describes it (base/length None when unknown)."""

    filename: str
    description: str
    base: int | None
    length: int | None
    save_pref: int = 1
    status: str = "complete"
    sha256: str | None = None  # of the complete file, when the source records it (manifest)
    device_name: str | None = None  # the name the device's table gave, when not ``filename``


class EntryLike(Protocol):
    """Anything with the table-entry fields (protocols.table.Region, a manifest record...),
    as the writers of dump_info.txt and load.cmm need them."""

    @property
    def base(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def save_pref(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def filename(self) -> str: ...


def parse_int(token: str) -> int:
    """``0x``-prefixed hex or decimal, a trailing comma tolerated; ValueError otherwise."""
    token = token.strip().rstrip(",")
    if token.lower().startswith("0x"):
        return int(token, 16)
    return int(token, 10)


def as_u64(value: int | None, what: str, warnings: list[str] | None) -> int | None:
    """``value``, or None (unknown) with a warning when it cannot be a 64-bit table field."""
    if value is None or value <= _MAX_U64:
        return value
    if warnings is not None:
        warnings.append(f"{what} 0x{value:x} does not fit in 64 bits; ignored")
    return None


def read_text(path: Path) -> str:
    """A small text file, InputError when it cannot be read."""
    try:
        if path.stat().st_size > MAX_TEXT:
            raise InputError(f"{path} is over {MAX_TEXT} bytes; not an address file")
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
