"""The region-table parser: arbitrary bytes as a 64-bit or 32-bit table.

A 64-bit table that parses must build back to the same bytes (every field is kept raw).
"""

from __future__ import annotations

from fuzzcase import Input

from qdlpy.protocols.table import build_table, parse_table

NAME = "table"


def seeds() -> list[bytes]:
    entry = ((1).to_bytes(8, "little") + (0x8000_0000).to_bytes(8, "little")
             + (4096).to_bytes(8, "little") + b"md_KELF1".ljust(20, b"\0")
             + b"md_KELF1.BIN".ljust(20, b"\0"))
    short = ((1).to_bytes(4, "little") + (0x1000).to_bytes(4, "little")
             + (16).to_bytes(4, "little") + b"OCIMEM".ljust(20, b"\0")
             + b"OCIMEM.BIN".ljust(20, b"\0"))
    return [b"\x01" + entry * 3, b"\x00" + short * 2, b"\x01"]


def one_input(data: bytes) -> None:
    case = Input(data)
    is64 = case.flag()
    raw = case.rest()
    regions = parse_table(raw, is64=is64)
    if is64:
        assert build_table(regions, is64=True) == raw
