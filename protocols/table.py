"""The memory-debug region table: bounded, tolerant decoding of untrusted bytes.

Entry layouts (docs/protocol.md#region-table-formats):

* 64-bit, 64 bytes (with MEMORY_DEBUG_64): save_pref u64, mem_base u64, length u64,
  description[20], filename[20].
* 32-bit, 52 bytes (with MEMORY_DEBUG): save_pref u32, mem_base u32, length u32,
  description[20], filename[20].

Strings are not guaranteed to be NUL-terminated and come from a crashed device: they are
cut at the first NUL or at 20 bytes and decoded as ASCII with replacement, never rejected
here (file-name safety is the output layer's job; the raw bytes are kept for the manifest).
"""

from __future__ import annotations

import dataclasses

from construct import Bytes, ConstructError, Int32ul, Int64ul, Struct

from .constants import ENTRY_SIZE_32, ENTRY_SIZE_64, MAX_TABLE_SIZE
from .errors import TableError
from .naming import RegionName, parse_region_name

__all__ = ["Region", "parse_table", "build_table", "entry_size", "ENTRY64", "ENTRY32"]

STRING_FIELD = 20

ENTRY64 = Struct(
    "save_pref" / Int64ul,
    "mem_base" / Int64ul,
    "length" / Int64ul,
    "description" / Bytes(STRING_FIELD),
    "filename" / Bytes(STRING_FIELD),
)
ENTRY32 = Struct(
    "save_pref" / Int32ul,
    "mem_base" / Int32ul,
    "length" / Int32ul,
    "description" / Bytes(STRING_FIELD),
    "filename" / Bytes(STRING_FIELD),
)
assert ENTRY64.sizeof() == ENTRY_SIZE_64 and ENTRY32.sizeof() == ENTRY_SIZE_32


def decode_field(raw: bytes) -> str:
    """Bounded, tolerant decode of a 20-byte device string."""
    return raw.split(b"\0", 1)[0].decode("ascii", errors="replace")


@dataclasses.dataclass(frozen=True)
class Region:
    """One entry of the device's region table."""

    position: int  # index in the table as served
    base: int  # physical address
    length: int
    save_pref: int
    description: str
    filename: str
    raw_description: bytes = b""
    raw_filename: bytes = b""

    @property
    def end(self) -> int:
        return self.base + self.length

    @property
    def name(self) -> RegionName:
        """Parsed name: from the file name (XBL derives it from the description and caps it
        later, docs/formats.md#how-boot-firmware-names-regions), else the description ("CMM Script"
        is only recognisable by file name)."""
        return parse_region_name(self.filename or self.description)

    def to_dict(self) -> dict[str, object]:
        n = self.name
        return {
            "position": self.position,
            "description": self.description,
            "filename": self.filename,
            "base": f"0x{self.base:x}",
            "length": self.length,
            "save_pref": self.save_pref,
            "kind": n.kind.value,
            "region_id": n.id,
            "raw_description": self.raw_description.hex(),
            "raw_filename": self.raw_filename.hex(),
        }


def entry_size(is64: bool) -> int:
    return ENTRY_SIZE_64 if is64 else ENTRY_SIZE_32


def parse_table(data: bytes, *, is64: bool) -> list[Region]:
    """Decode a region table; raise TableError if it is not a whole, bounded table."""
    size = entry_size(is64)
    if not data:
        raise TableError("the device's region table is empty")
    if len(data) > MAX_TABLE_SIZE:
        raise TableError(
            f"the device's region table is {len(data)} bytes, over the {MAX_TABLE_SIZE}-byte cap"
        )
    if len(data) % size:
        raise TableError(
            f"the device's region table is {len(data)} bytes, not a whole number of "
            f"{size}-byte {'64' if is64 else '32'}-bit entries"
        )
    schema = ENTRY64 if is64 else ENTRY32
    regions = []
    for i in range(len(data) // size):
        try:
            e = schema.parse(data[i * size : (i + 1) * size])
        except ConstructError as exc:  # cannot happen for a whole entry; keep the promise anyway
            raise TableError(f"table entry {i} cannot be decoded: {exc}") from exc
        regions.append(
            Region(
                position=i,
                base=e.mem_base,
                length=e.length,
                # Some 32-bit firmware declares save_pref as a byte plus padding
                # (docs/protocol.md#region-table-formats).
                save_pref=e.save_pref if is64 else e.save_pref & 0xFF,
                description=decode_field(e.description),
                filename=decode_field(e.filename),
                raw_description=bytes(e.description),
                raw_filename=bytes(e.filename),
            )
        )
    return regions


def _field(text: str, raw: bytes) -> bytes:
    if raw:
        return raw.ljust(STRING_FIELD, b"\0")[:STRING_FIELD]
    return text.encode("ascii", errors="replace")[:STRING_FIELD].ljust(STRING_FIELD, b"\0")


def build_table(regions: list[Region], *, is64: bool) -> bytes:
    """Encode regions as the device would serve them (raw strings win when present)."""
    schema = ENTRY64 if is64 else ENTRY32
    return b"".join(
        schema.build(
            {
                "save_pref": r.save_pref,
                "mem_base": r.base,
                "length": r.length,
                "description": _field(r.description, r.raw_description),
                "filename": _field(r.filename, r.raw_filename),
            }
        )
        for r in regions
    )
