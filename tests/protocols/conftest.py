"""Shared fixtures for the sans-I/O Sahara tests (tests/protocols/).

Helpers live here rather than in an importable module because pytest runs in importlib
mode (pyproject.toml): test files cannot import each other, fixtures are the way to share.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from qdlpy.protocols.constants import Mode
from qdlpy.protocols.device import MemorySource, Personality
from qdlpy.protocols.table import Region, build_table

TABLE_ADDRESS = 0x1460_0000


class PatternMemory:
    """Device memory whose every 8-byte word is a function of its own address.

    A misplaced, duplicated or dropped byte changes the result, and no 16-byte window at a
    region start looks like an END_OF_IMAGE_TX (the high word is never 0x10 at the start
    of the test regions), so EOI detection cannot fire on it by accident.
    """

    def read(self, address: int, length: int) -> bytes:
        first = address // 8
        last = (address + length + 7) // 8
        words = b"".join(
            struct.pack("<Q", (w * 0x9E3779B97F4A7C15 + 0x0123456789ABCDEF) & (2**64 - 1))
            for w in range(first, last)
        )
        skip = address - first * 8
        return words[skip : skip + length]


# (base, length, description, filename): a small minidump-style table. The lengths cover
# a 16-byte region (plan_reads must split it 8 + 8), an odd length, a region larger than
# the test chunk size and a region that is restricted (served in 4 KiB transfers).
DUMP_REGIONS: list[tuple[int, int, str, str]] = [
    (0x8000_0000, 0x3000, "md_KELF1", "md_KELF1.BIN"),
    (0x8010_0000, 0x10, "md_Kvmcorein2", "md_Kvmcorein2.BIN"),
    (0x8020_0001, 0x1235, "md_Kconfig3", "md_Kconfig3.BIN"),
    (0x8030_0000, 0x9000, "MD_SHRDIMEM", "MD_SHRDIMEM.BIN"),
]
RESTRICTED = [(0x8030_0000, 0x8030_9000)]


def regions_of(spec: list[tuple[int, int, str, str]]) -> list[Region]:
    return [
        Region(position=i, base=b, length=n, save_pref=1, description=d, filename=f)
        for i, (b, n, d, f) in enumerate(spec)
    ]


def make_dump_personality(*, is64: bool = True, **overrides: object) -> Personality:
    regions = regions_of(DUMP_REGIONS)
    p = Personality(
        mode=Mode.MEMORY_DEBUG,
        is64=is64,
        table=build_table(regions, is64=is64),
        table_address=TABLE_ADDRESS,
        readable=[(r.base, r.end) for r in regions],
        restricted=list(RESTRICTED),
        memory=PatternMemory(),
        command_responses={0x01: struct.pack("<I", 0xC0FFEE42), 0x08: struct.pack("<3I", 1, 3, 8)},
    )
    for key, value in overrides.items():
        setattr(p, key, value)
    return p


@pytest.fixture
def pattern_memory() -> MemorySource:
    return PatternMemory()


@pytest.fixture(scope="session")
def dump_personality() -> Callable[..., Personality]:
    """Factory: a crash-dump device with the DUMP_REGIONS table (keyword overrides).

    Session-scoped because it is stateless (every call builds a fresh Personality), which
    also lets hypothesis tests use it.
    """
    return make_dump_personality


@pytest.fixture
def dump_regions() -> list[Region]:
    return regions_of(DUMP_REGIONS)
