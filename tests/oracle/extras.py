"""Table items besides the kernel's: another subsystem's region, boot firmware's own ``MD_``
items (listed after the kernel's, before load.cmm) and a small full-dump table."""

from __future__ import annotations

from .folder import TableEntry
from .naming import firmware_name

__all__ = ["minidump_extras", "fulldump_entries", "pattern"]


def pattern(seed: int, n: int) -> bytes:
    """Deterministic bytes that differ per seed and per 256-byte block, so a region placed
    at the wrong offset, or another region's bytes, never compare equal."""
    block = bytes((seed * 29 + i * 3 + (i >> 8) * 17) & 0xFF for i in range(4096))
    return (block * (n // 4096 + 1))[:n]


def minidump_extras() -> list[TableEntry]:
    """An ADSP region (firmware adds only ``md_``) and two firmware items."""
    adsp_desc, adsp_file = firmware_name("ADSP_XYZ")
    return [
        TableEntry(0x8B80_0000, adsp_desc, adsp_file, pattern(201, 8192)),
        TableEntry(0x8600_0000, "MD_SMEMINFO", "MD_SMEMINFO.BIN", bytes(range(64))),
        TableEntry(0x0C26_4000, "MD_RST_STAT", "MD_RST_STAT.BIN", b"\x01\x00\x00\x20"),
    ]


def fulldump_entries() -> list[TableEntry]:
    """A DDR chip-select part (its description starts with a space, as firmware writes
    it), on-chip memory and a PMIC status blob."""
    return [
        TableEntry(0x8000_0000, " DDR CS0 part0 Memory", "DDRCS0_0.BIN", pattern(210, 65536)),
        TableEntry(0x1468_0000, "OCIMEM", "OCIMEM.BIN", pattern(211, 4096)),
        TableEntry(0x0C23_0000, "PMIC_PON", "PMIC_PON.BIN", b"PONPON\0\0"),
    ]
