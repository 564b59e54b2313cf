"""Building blocks shared by the memory-debug scenarios: regions -> table + memory."""

from __future__ import annotations

import dataclasses
import fnmatch

from qdlpy.formats.loadcmm import write_load_cmm
from qdlpy.protocols.constants import Mode, SavePref
from qdlpy.protocols.device import Personality
from qdlpy.protocols.table import Region, build_table
from qdlpy.simulator.faults import Faults
from qdlpy.simulator.memory import Generator, Span, SparseMemory

# Where simulated firmware keeps its own things (table, load.cmm): an IMEM-like window
# that no scenario uses for regions.
TABLE_ADDRESS = 0x146B_F000
SCRIPT_ADDRESS = 0x146C_0000


@dataclasses.dataclass(frozen=True)
class SimRegion:
    """One region a simulated device offers."""

    description: str
    filename: str
    base: int
    length: int
    data: bytes | None = None
    generate: Generator | None = None
    save_pref: int = SavePref.OPTIONAL_SAVE

    def span(self) -> Span:
        return Span(self.base, self.length, self.data, self.generate)


def memory_debug_personality(
    regions: list[SimRegion],
    faults: Faults,
    *,
    is64: bool = True,
    with_load_cmm: bool = True,
) -> tuple[Personality, bytes | None]:
    """A crash-dump device offering ``regions`` (plus load.cmm last, as XBL does,
    docs/formats.md#table-order)."""
    regions = list(regions)
    script: bytes | None = None
    if with_load_cmm:
        script = write_load_cmm(regions).encode()
        regions.append(SimRegion("CMM Script", "load.cmm", SCRIPT_ADDRESS, len(script),
                                 data=script, save_pref=SavePref.MANDATORY))
    entries = [
        Region(position=i, base=r.base, length=r.length, save_pref=r.save_pref,
               description=r.description, filename=r.filename)
        for i, r in enumerate(regions)
    ]
    table = build_table(entries, is64=is64)
    restricted = [
        (r.base, r.base + r.length) for r in regions
        if any(fnmatch.fnmatch(r.filename, pat) or pat == hex(r.base) for pat in faults.restricted)
    ]
    personality = Personality(
        mode=Mode.MEMORY_DEBUG,
        is64=is64,
        table=table,
        table_address=TABLE_ADDRESS,
        readable=[(r.base, r.base + r.length) for r in regions if r.length],
        restricted=restricted,
        memory=SparseMemory([r.span() for r in regions if r.length]),
    )
    return personality, script
