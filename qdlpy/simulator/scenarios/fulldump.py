"""``fulldump``: a full ramdump (DDR + on-chip memories), DDR generated in constant memory.

Names and layout follow XBL's full-dump table (docs/formats.md#full-dumps,
docs/protocol.md#region-table-formats): DDR per chip select in parts of at most 2 GiB, OCIMEM,
CODERAM, then load.cmm. ``size`` (default 64M) is the DDR size.
"""

from __future__ import annotations

from qdlpy.simulator.faults import Faults
from qdlpy.simulator.memory import address_pattern
from qdlpy.units import parse_size

from .common import SimRegion, memory_debug_personality
from .registry import ScenarioBuild

DDR_BASE = 0x8000_0000
DDR_PART = 2 << 30  # XBL splits DDR in parts of at most 2 GiB


def ocimem_contents(length: int) -> bytes:
    return bytes((i * 31 + 7) & 0xFF for i in range(length))


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    size = parse_size(params.pop("size", "64M"))
    regions = []
    part = 0
    offset = 0
    while offset < size:
        n = min(DDR_PART, size - offset)
        regions.append(SimRegion(f" DDR CS0 part{part} Memory", f"DDRCS0_{part}.BIN",
                                 DDR_BASE + offset, n, generate=address_pattern))
        offset += n
        part += 1
    regions.append(SimRegion("OCIMEM", "OCIMEM.BIN", 0x1468_0000, 0x3_0000,
                             data=ocimem_contents(0x3_0000)))
    regions.append(SimRegion("RPM Code RAM region", "CODERAM.BIN", 0x0020_0000, 0x2_8000,
                             generate=address_pattern))
    personality, script = memory_debug_personality(regions, faults)
    return ScenarioBuild(personality, script)
