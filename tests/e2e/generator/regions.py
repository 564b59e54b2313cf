"""Step 3a: which kernel memory becomes which kmemdump region, read from the guest dump.

Ids and name strings are kmemdump v2's (docs/formats.md#region-ids); regions the kernel series
does not register but crash needs on x86_64 get dynamic ids from 50 (docs/formats.md#region-ids, gap
at 48/49), named "unknown" like the Qualcomm backend names every id past its table.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct

from oracle.naming import kernel_region_name

from .addrspace import AddressSpace
from .errors import GeneratorError
from .physmem import PhysMemory
from .symbols import Symbol
from .vmcoreinfo import VmcoreInfo

__all__ = ["Region", "collect_regions", "align4", "symbol_names", "firmware_names",
           "ID_ELF", "ID_VMCOREINFO", "DYNAMIC_ID_START"]

STEP = "regions"
ID_ELF = 1
ID_VMCOREINFO = 2
DYNAMIC_ID_START = 50  # kmemdump v2 KMEMDUMP_ID_NO_ID (docs/formats.md#region-ids)

# (id, Qualcomm backend name string, kernel symbol, required) - docs/formats.md#region-ids
STATIC_REGIONS: tuple[tuple[int, str, str, bool], ...] = (
    (5, "totalram", "_totalram_pages", False),
    (6, "cpu_possible", "__cpu_possible_mask", True),
    (7, "cpu_present", "__cpu_present_mask", True),
    (8, "cpu_online", "__cpu_online_mask", True),
    (9, "cpu_active", "__cpu_active_mask", True),
    (10, "jiffies", "jiffies_64", True),
    (11, "linux_banner", "linux_banner", True),
    (12, "nr_threads", "nr_threads", False),
    (13, "nr_irqs", "nr_irqs", False),
    (14, "tainted_mask", "tainted_mask", False),
    (15, "taint_flags", "taint_flags", False),
    (16, "mem_section", "mem_section", False),
    (17, "node_data", "node_data", False),
    (18, "node_states", "node_states", False),
    (19, "__per_cpu_offset", "__per_cpu_offset", False),
    (20, "nr_swapfiles", "nr_swapfiles", False),
    (21, "init_uts_ns", "init_uts_ns", True),
    (22, "printk_rb_static", "printk_rb_static", False),
    (23, "printk_rb_dynamic", "printk_rb_dynamic", True),
    (24, "prb", "prb", True),
    (29, "high_memory", "high_memory", False),
)
PRB_IDS = {"prb_descs": 25, "prb_infos": 26, "prb_data": 27}
# crash reads these three at start-up on x86_64
# (docs/testing.md#what-the-tools-need-from-a-minidump)
X86_64_EXTRAS = ("page_offset_base", "vmalloc_base", "vmemmap_base")


def align4(n: int) -> int:
    return (n + 3) & ~3


def firmware_names(label: str, region_id: int) -> tuple[str, str]:
    """(desc, filename) as boot firmware writes them for a kernel region (the naming rule
    is the default tier oracle's: tests/oracle/naming.py)."""
    return kernel_region_name(label, region_id)


@dataclasses.dataclass(frozen=True)
class Region:
    id: int
    label: str  # the backend's name string ("ELF", "vmcoreinfo", "prb_descs", "unknown")
    symbol: str | None  # what it holds, for humans and reports
    va: int  # kernel virtual address (0 for the KELF header, which is not a PT_LOAD)
    pa: int  # physical address: the Sahara table address
    size: int  # registered size before ALIGN4
    data: bytes  # ALIGN4(size) bytes, as the device would send them

    @property
    def desc(self) -> str:
        return firmware_names(self.label, self.id)[0]

    @property
    def filename(self) -> str:
        return firmware_names(self.label, self.id)[1]


def symbol_names(arch: str) -> list[str]:
    names = [s for _, _, s, _ in STATIC_REGIONS]
    names += ["vmcoreinfo_data", "vmcoreinfo_size"]
    if arch == "x86_64":
        names += list(X86_64_EXTRAS)
    return names


class _Reader:
    def __init__(self, mem: PhysMemory, space: AddressSpace, koff: int) -> None:
        self.mem, self.space, self.koff = mem, space, koff

    def region(self, region_id: int, label: str, symbol: str, va: int, size: int) -> Region:
        if size <= 0:
            raise GeneratorError(STEP, f"{symbol}: size {size} (no st_size in vmlinux?)")
        pa = self.space.pa(va)
        length = align4(size)
        if pa % 4:
            raise GeneratorError(STEP, f"{symbol} at PA {pa:#x} is not 4-byte aligned")
        if self.space.pa(va + length - 1) != pa + length - 1:
            raise GeneratorError(
                STEP, f"{symbol} ({va:#x}+{length:#x}) is not physically contiguous")
        return Region(region_id, label, symbol, va, pa, size, self.mem.read(pa, length, symbol))

    def u64_at(self, va: int, what: str) -> int:
        return self.mem.u64(self.space.pa(va), what)

    def u32_at(self, va: int, what: str) -> int:
        v: int = struct.unpack("<I", self.mem.read(self.space.pa(va), 4, what))[0]
        return v


def collect_regions(
    arch: str,
    mem: PhysMemory,
    space: AddressSpace,
    info: VmcoreInfo,
    syms: dict[str, Symbol],
    note_desc: bytes,
) -> tuple[Region, list[Region]]:
    """(vmcoreinfo region, data regions sorted by id) read from guest memory."""
    koff = info.kerneloffset()
    rd = _Reader(mem, space, koff)
    regions: list[Region] = []
    for rid, label, name, required in STATIC_REGIONS:
        sym = syms.get(name)
        if sym is None or sym.size == 0:
            if required:
                raise GeneratorError(STEP, f"vmlinux has no sized symbol {name} (region {rid})")
            continue
        regions.append(rd.region(rid, label, name, sym.addr + koff, sym.size))

    regions += _printk_rings(rd, info, syms, koff)

    if arch == "x86_64":
        for i, name in enumerate(X86_64_EXTRAS):
            sym = syms.get(name)
            if sym is None:
                raise GeneratorError(
                    STEP, f"vmlinux has no symbol {name} (needed by crash on x86_64)"
                )
            regions.append(rd.region(DYNAMIC_ID_START + i, "unknown", name, sym.addr + koff, 8))

    vmci = _vmcoreinfo_region(rd, syms, koff, note_desc)
    regions.sort(key=lambda r: r.id)
    _check_no_overlap([vmci, *regions])
    return vmci, regions


def _printk_rings(
    rd: _Reader, info: VmcoreInfo, syms: dict[str, Symbol], koff: int
) -> list[Region]:
    """prb_descs/infos/data: what printk_rb_dynamic points to, sized by VMCOREINFO's own
    OFFSET/SIZE entries (no DWARF needed)."""
    dyn = syms["printk_rb_dynamic"].addr + koff
    prb = rd.u64_at(syms["prb"].addr + koff, "prb")
    if prb != dyn:
        raise GeneratorError(
            STEP,
            f"prb = {prb:#x}, not printk_rb_dynamic ({dyn:#x}): the kernel "
            "must boot with log_buf_len= so the ring is allocated at run time",
        )
    desc_ring = dyn + info.offset("printk_ringbuffer.desc_ring")
    count_bits = rd.u32_at(desc_ring + info.offset("prb_desc_ring.count_bits"), "count_bits")
    descs = rd.u64_at(desc_ring + info.offset("prb_desc_ring.descs"), "descs")
    infos = rd.u64_at(desc_ring + info.offset("prb_desc_ring.infos"), "infos")
    text_ring = dyn + info.offset("printk_ringbuffer.text_data_ring")
    size_bits = rd.u32_at(text_ring + info.offset("prb_data_ring.size_bits"), "size_bits")
    data = rd.u64_at(text_ring + info.offset("prb_data_ring.data"), "data")
    if not (0 < count_bits < 32 and 0 < size_bits < 32):
        raise GeneratorError(
            STEP, f"implausible ring sizes: count_bits={count_bits}, size_bits={size_bits}"
        )
    return [
        rd.region(
            PRB_IDS["prb_descs"],
            "prb_descs",
            "prb_descs",
            descs,
            info.size("prb_desc") << count_bits,
        ),
        rd.region(
            PRB_IDS["prb_infos"],
            "prb_infos",
            "prb_infos",
            infos,
            info.size("printk_info") << count_bits,
        ),
        rd.region(PRB_IDS["prb_data"], "prb_data", "prb_data", data, 1 << size_bits),
    ]


def _vmcoreinfo_region(rd: _Reader, syms: dict[str, Symbol], koff: int, note_desc: bytes) -> Region:
    """Region 2 = the vmcoreinfo_data buffer (what kmemdump registers,
    docs/formats.md#the-vmcoreinfo-region), ALIGN4."""
    for name in ("vmcoreinfo_data", "vmcoreinfo_size"):
        if name not in syms:
            raise GeneratorError(STEP, f"vmlinux has no symbol {name}")
    va = rd.u64_at(syms["vmcoreinfo_data"].addr + koff, "vmcoreinfo_data")
    size = rd.u64_at(syms["vmcoreinfo_size"].addr + koff, "vmcoreinfo_size")
    region = rd.region(ID_VMCOREINFO, "vmcoreinfo", "vmcoreinfo_data", va, size)
    if region.data[:size] != note_desc[:size] or len(note_desc) != size:
        raise GeneratorError(STEP, "vmcoreinfo_data differs from the VMCOREINFO note")
    if not region.data.startswith(b"OSRELEASE="):
        raise GeneratorError(
            STEP, f"vmcoreinfo does not start with OSRELEASE=: {region.data[:40]!r}"
        )
    return region


def _check_no_overlap(regions: list[Region]) -> None:
    spans = sorted((r.pa, r.pa + len(r.data), r.desc) for r in regions)
    for (a0, a1, an), (b0, _b1, bn) in itertools.pairwise(spans):
        if b0 < a1:
            raise GeneratorError(STEP, f"regions {an} and {bn} overlap ({a0:#x}-{a1:#x}, {b0:#x})")
