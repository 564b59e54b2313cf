"""A downstream (msm_minidump) ``md_KELF_HEADER`` set and the ELF a correct assembler builds.

The header region is one buffer: the ELF header, section headers (NULL, ``STR_TBL``,
``minidump_table``, ``linux_banner``, then one per region), program headers (PT_LOAD 0 is
the copy of ``linux_banner`` inside the buffer, then one per region), the string table and
the banner. Region ``k`` is section ``4 + k`` and PT_LOAD ``1 + k``, with ``p_vaddr`` =
``sh_addr`` = its virtual address, ``p_paddr`` its physical one, and file offsets contiguous
from the end of the buffer. A name registered twice gets seq_num 1 the second time.

The expected ELF is the header region followed by every region's bytes at its offset; a
missing region is a hole: zeros there, and its PT_LOAD's flags 0 (the mark of a hole).
"""

from __future__ import annotations

import dataclasses

from .elf64 import (
    EHDR_SIZE,
    PF_RW,
    PHDR_SIZE,
    PT_LOAD,
    SHDR_SIZE,
    SHF_WRITE,
    SHT_PROGBITS,
    SHT_STRTAB,
    ehdr,
    phdr,
    shdr,
)
from .extras import minidump_extras, pattern
from .folder import TableEntry
from .kmemdump import ARCHES, Arch
from .naming import firmware_name
from .regionset import RegionSet

__all__ = ["DownstreamSet", "build_downstream", "HEADER_ID"]

HEADER_ID = 1000  # the oracle's key of the header region (it has no kernel id)
_REGIONS: tuple[tuple[str, int], ...] = (
    ("KLOGBUF", 16384), ("KDMESG", 4096), ("KRUNQUEUE", 3328), ("KTASK_STACK", 16384),
    ("KTASK_STACK", 16384), ("KWDOGDATA", 1024), ("KMODULES", 2048),
)


@dataclasses.dataclass(frozen=True)
class DsRegion:
    key: int  # the oracle's region_id for this row
    name: str  # section name
    pa: int
    va: int
    offset: int  # in the ELF
    data: bytes


@dataclasses.dataclass(frozen=True)
class DownstreamSet(RegionSet):
    arch: Arch
    osrelease: str
    header: bytes
    regions: tuple[DsRegion, ...]
    style: str = "downstream"

    @property
    def machine(self) -> int:
        return self.arch.machine

    def region(self, name: str, occurrence: int = 0) -> DsRegion:
        return [r for r in self.regions if r.name == name][occurrence]

    def expected(self) -> bytes:
        files = self.files()
        header = bytearray(self.header)
        parts = []
        for k, r in enumerate(self.regions):
            data = files.get(r.key)
            size = len(r.data)
            parts.append(bytes(size) if data is None else data[:size].ljust(size, b"\0"))
            if data is None:  # p_flags of PT_LOAD 1 + k
                at = self.phoff + (1 + k) * PHDR_SIZE + 4
                header[at : at + 4] = bytes(4)
        return bytes(header) + b"".join(parts)

    @property
    def phoff(self) -> int:
        return int.from_bytes(self.header[32:40], "little")


def _string_table(names: list[str]) -> tuple[bytes, list[int]]:
    table, at = bytearray(b"\0STR_TBL\0"), []
    for name in names:
        at.append(len(table))
        table += name.encode() + b"\0"
    return bytes(table), at


def build_downstream(arch: str = "arm64") -> DownstreamSet:
    model = ARCHES[arch]
    release = f"5.4.0-oracle-{arch}"
    banner = f"Linux version {release} (oracle@tests) #1 SMP PREEMPT\n\0".encode()
    strtab, name_at = _string_table(["minidump_table", "linux_banner",
                                     *(name for name, _ in _REGIONS)])
    nsec, nload = 4 + len(_REGIONS), 1 + len(_REGIONS)
    phoff = EHDR_SIZE + SHDR_SIZE * nsec
    str_off = phoff + PHDR_SIZE * nload
    banner_off = str_off + len(strtab)
    header_len = banner_off + len(banner)
    banner_pa = model.image_pool
    sections = [shdr(0, 0), shdr(1, SHT_STRTAB, offset=str_off, size=len(strtab)),
                shdr(name_at[0], SHT_PROGBITS, flags=SHF_WRITE,
                     addr=model.va_linear(model.dynamic_pool + 0x8000)),
                shdr(name_at[1], SHT_PROGBITS, flags=SHF_WRITE, addr=model.va_image(banner_pa),
                     offset=banner_off, size=len(banner))]
    loads = [phdr(PT_LOAD, banner_off, len(banner), flags=PF_RW,
                  vaddr=model.va_image(banner_pa), paddr=banner_pa)]
    regions: list[DsRegion] = []
    rows: list[TableEntry] = []
    offset, pa = header_len, model.dynamic_pool + 0x100000
    seen: dict[str, int] = {}
    for k, (name, size) in enumerate(_REGIONS):
        va, data = model.va_linear(pa), pattern(300 + k, size)
        sections.append(shdr(name_at[2 + k], SHT_PROGBITS, flags=SHF_WRITE, addr=va,
                             offset=offset, size=size))
        loads.append(phdr(PT_LOAD, offset, size, flags=PF_RW, vaddr=va, paddr=pa))
        regions.append(DsRegion(k, name, pa, va, offset, data))
        seen[name] = seen.get(name, -1) + 1
        desc, fname = firmware_name(name, seen[name])
        rows.append(TableEntry(pa, desc, fname, data, region_id=k))
        offset += size
        pa += (size + 0xFFF) // 0x1000 * 0x1000
    header = (ehdr(model.machine, nload, phoff=phoff, shoff=EHDR_SIZE, shnum=nsec, shstrndx=1)
              + b"".join(sections) + b"".join(loads) + strtab + banner)
    assert len(header) == header_len
    desc, fname = firmware_name("KELF_HEADER")
    head_row = TableEntry(model.dynamic_pool, desc, fname, header, region_id=HEADER_ID)
    return DownstreamSet((head_row, *rows), tuple(minidump_extras()), model, release, header,
                         tuple(regions))
