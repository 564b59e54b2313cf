"""``qdlpy.pull()`` against a scripted device that answers with mutated bytes.

The device is the simulator's (a small table of fuzzed names, bases and lengths, or the
x86_64 kmemdump region set); between it and the host sits a transport that applies the
case's script to the device's transfers: pass, flip a byte, cut, extend, replace, drop,
duplicate. pull() then must end with a result or a QdlpyError, and never write outside
its output folder.
"""

from __future__ import annotations

import functools
from pathlib import Path

from fuzzcase import Input
from fuzzwork import scratch

from qdlpy.dump import pull
from qdlpy.protocols.constants import Mode
from qdlpy.protocols.device import Personality
from qdlpy.protocols.table import Region, build_table
from qdlpy.simulator.faults import Faults
from qdlpy.simulator.memory import Span, SparseMemory, address_pattern
from qdlpy.simulator.model import DeviceModel, SimIdentity
from qdlpy.simulator.scenarios.common import TABLE_ADDRESS, SimRegion, memory_debug_personality
from qdlpy.simulator.scenarios.kmemdump import kernel_set
from qdlpy.transport.sim import SimTransport

NAME = "pull"
_CHUNKS = (4096, 4100, 65536, 1 << 20)


class ScriptedTransport(SimTransport):
    """A simulated device whose answers pass through the case's mutation script."""

    def __init__(self, model: DeviceModel, case: Input) -> None:
        super().__init__("fuzz", model=model)
        self.case = case

    def read(self, size: int, timeout: float) -> bytes:
        data = super().read(size, timeout)
        if not self.case.remaining:
            return data
        return self._mutate(data)

    def _mutate(self, data: bytes) -> bytes:
        case = self.case
        op = case.int_in(0, 7)
        if op == 1 and data:
            at = case.int_in(0, len(data) - 1)
            return data[:at] + bytes([data[at] ^ (case.uint(1) or 1)]) + data[at + 1 :]
        if op == 2:
            return data[: case.int_in(0, len(data))]
        if op == 3:
            return data + case.blob(64)
        if op == 4:
            return case.blob(128)
        if op == 5:
            return b""
        if op == 6:
            return data + data
        if op == 7 and len(data) >= 8:  # a plausible header with a fuzzed length / command
            return case.take(4).ljust(4, b"\0") + data[4:8] + data[8:]
        return data


@functools.lru_cache(maxsize=1)
def _kmemdump() -> Personality:
    kset = kernel_set({"arch": "x86_64"})
    regions = [SimRegion(r.description, r.filename, r.base, r.length, data=r.data,
                         save_pref=r.save_pref) for r in kset.table(with_load_cmm=False)]
    personality, _ = memory_debug_personality(regions, Faults())
    return personality


def _small(case: Input) -> Personality:
    regions = []
    for i in range(case.int_in(1, 4)):
        base = case.choice((0x1000_0000 + i * 0x10_0000, case.uint(8)))
        length = case.choice((0x100, 0x1000, 16, 0, case.int_in(0, 1 << 16)))
        regions.append(Region(position=i, base=base, length=length, save_pref=1,
                              description="", filename="", raw_description=case.take(20),
                              raw_filename=case.take(20)))
    spans = [Span(r.base, r.length, generate=address_pattern) for r in regions
             if r.length and r.base + r.length <= 1 << 64]
    return Personality(mode=Mode.MEMORY_DEBUG, is64=True, table=build_table(regions, is64=True),
                       table_address=TABLE_ADDRESS,
                       readable=[(s.base, s.end) for s in spans], memory=SparseMemory(spans))


def seeds() -> list[bytes]:
    return [b"\x00" + bytes(8), b"\x01\x00" + bytes(64), b"\x00\x01\x02" + b"\x01\x05" * 8,
            b"\x01\x01\x01" + b"\x00" * 40 + b"\x03\x04"]


def _outside(root: Path, out: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if not p.is_relative_to(out)]


def one_input(data: bytes) -> None:
    case = Input(data)
    personality = _kmemdump() if case.flag() else _small(case)
    opts = {
        "chunk_size": case.choice(_CHUNKS),
        "elf": case.flag(),
        "keep_going": case.flag(),
        "after": case.choice(("none", "reset")),
        "regions": case.choice(((), ("md_KELF*", "md_Kvmcore*", "md_Klinux*"), ("*.bin",))),
    }
    model = DeviceModel(personality, Faults(), identity=SimIdentity("fuzz"))
    with scratch() as root:
        out = root / "out"
        try:
            pull(ScriptedTransport(model, case), output=out, timeout=0.2, io_timeout=0.2,
                 hello_timeout=0.05, **opts)  # type: ignore[arg-type]
        finally:
            stray = _outside(root, out)
            assert not stray, f"pull wrote outside its folder: {stray}"
