"""``legacy32``: a 32-bit boot loader (MEMORY_DEBUG 0x09 with 52-byte entries).

Modem-class chips such as SDX55/SDX62 use the 32-bit memory-debug packets
(docs/protocol.md#entering-memory-debug-mode); the Quectel SDX62 example table is 39 x 52 bytes.
"""

from __future__ import annotations

from qdlpy.simulator.faults import Faults
from qdlpy.simulator.memory import address_pattern

from .common import SimRegion, memory_debug_personality
from .registry import ScenarioBuild


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    regions = [
        SimRegion("EBI1 CS0", "EBICS0.BIN", 0x8000_0000, 0x40_0000, generate=address_pattern),
        SimRegion("OCIMEM", "OCIMEM.BIN", 0x0862_0000, 0x2_0000, generate=address_pattern),
        SimRegion("Reset Status", "RST_STAT.BIN", 0x0C26_4000, 4, data=b"\x01\x00\x00\x20"),
        SimRegion("PMIC PON", "PMIC_PON.BIN", 0x0C26_5000, 8, data=bytes(range(8))),
        SimRegion("Code RAM", "CODERAM.BIN", 0x0020_0000, 0x8000, generate=address_pattern),
    ]
    personality, script = memory_debug_personality(regions, faults, is64=False)
    return ScenarioBuild(personality, script)
