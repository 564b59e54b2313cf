"""What a region set needs for readers that interpret kernel memory without a vmlinux:
a printk ring with known messages (vmcore-dmesg, makedumpfile --dump-dmesg) and, on
x86_64, the page tables makedumpfile walks to translate every virtual address.

Page tables (x86_64, 4 levels, 1 GiB pages): ``init_top_pgt`` (the PGD) maps the kernel
image window ``0xffffffff80000000`` (PGD slot 511, PUD slots 510/511, physical 0 and 1 GiB,
``phys_base`` 0), the first 4 GiB of the direct map ``0xffff888000000000`` (PGD slot 273)
and the vmemmap ``0xffffea0000000000`` (one 1 GiB page at physical 4 GiB). Entries are
``address | present | rw`` (0x3), 1 GiB leaves add PSE (0x80). makedumpfile translates
every virtual address through them, and needs a mem_map and struct pages even to print
the log (:func:`x86_64_memory`).
"""

from __future__ import annotations

import struct

from .printk import Message, Ring, build_ring

__all__ = ["MESSAGES", "MARKER", "ring_for", "x86_64_memory", "x86_64_vmcoreinfo",
           "START_KERNEL_MAP"]

MARKER = b"QDLPY-ORACLE-MARKER 7f3a hello from the oracle's printk ring"
MESSAGES = [
    Message(0, b"Booting Linux on physical CPU 0x0000000000 [0x411fd070]"),
    Message(1_500, b"Linux version 6.1.0-oracle (oracle@tests) #1 SMP PREEMPT"),
    Message(2_000_150_000, b"qcom_scm: download mode enabled (mini)"),
    Message(3_141_592_653, MARKER),
    Message(4_000_000_000, b"Kernel panic - not syncing: sysrq triggered crash", 0),
]
COUNT_BITS, SIZE_BITS = 7, 15  # 128 descriptors (3 KiB, 11 KiB of infos), 32 KiB of text
START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000
_DIRECT_MAP = 0xFFFF_8880_0000_0000
VMEMMAP = 0xFFFF_EA00_0000_0000  # struct page array (4-level paging)
_STRUCT_PAGES = 0x1_0000_0000  # where the vmemmap's 1 GiB page sits (physical)
_BLOCK = 512 * 64  # makedumpfile reads struct pages 512 at a time
_PRESENT_RW, _PSE = 0x3, 0x80


def ring_for(descs_va: int, infos_va: int, data_va: int) -> Ring:
    return build_ring(MESSAGES, count_bits=COUNT_BITS, size_bits=SIZE_BITS, descs_va=descs_va,
                      infos_va=infos_va, data_va=data_va)


def _index(va: int, shift: int) -> int:
    return (va >> shift) & 511


def _put(page: bytearray, slot: int, value: int) -> None:
    page[slot * 8 : slot * 8 + 8] = struct.pack("<Q", value)


def _blocks(ranges: list[tuple[int, int]]) -> set[int]:
    """The 512-page blocks of struct page that makedumpfile reads for these ranges."""
    out = set()
    for pa, size in ranges:
        for pfn in range(pa >> 12, ((pa + max(size, 1) - 1) >> 12) + 1):
            out.add(pfn // 512)
    return out


def x86_64_memory(ranges: list[tuple[int, int]], table_pa: int) -> list[tuple[str, int, bytes]]:
    """(label, physical address, contents) of the regions makedumpfile needs besides the
    kernel's own on x86_64, for regions at ``ranges`` ((pa, size) pairs):

    * the page tables from ``table_pa`` (4 KiB aligned): ``init_top_pgt`` and PUD pages
      for the kernel image window, the direct map and the vmemmap (1 GiB pages);
    * ``mem_map``, a variable holding the vmemmap base (a FLATMEM-style mem_map);
    * the zeroed struct pages of every page the dump covers, its own included, in the
      512-page blocks makedumpfile reads (so its page filter, ``-d``, sees them: all
      flags 0, so only zero-filled pages are excluded).
    """
    kernel_pud, direct_pud, vmemmap_pud = (table_pa + k * 0x1000 for k in (1, 2, 3))
    pgd, kpud, dpud, vpud = (bytearray(4096) for _ in range(4))
    _put(pgd, _index(START_KERNEL_MAP, 39), kernel_pud | _PRESENT_RW)
    _put(pgd, _index(_DIRECT_MAP, 39), direct_pud | _PRESENT_RW)
    _put(pgd, _index(VMEMMAP, 39), vmemmap_pud | _PRESENT_RW)
    for k in range(2):
        _put(kpud, _index(START_KERNEL_MAP, 30) + k, (k << 30) | _PRESENT_RW | _PSE)
    for k in range(4):
        _put(dpud, _index(_DIRECT_MAP, 30) + k, (k << 30) | _PRESENT_RW | _PSE)
    _put(vpud, _index(VMEMMAP, 30), _STRUCT_PAGES | _PRESENT_RW | _PSE)
    out = [("init_top_pgt", table_pa, bytes(pgd)), ("level3_kernel_pgt", kernel_pud, bytes(kpud)),
           ("level3_direct_pgt", direct_pud, bytes(dpud)),
           ("vmemmap_pud", vmemmap_pud, bytes(vpud)),
           ("mem_map", table_pa + 0x4000, struct.pack("<Q", VMEMMAP))]
    ranges = ranges + [(pa, len(data)) for _, pa, data in out]
    blocks: set[int] = set()
    while True:  # the struct pages' own pages need struct pages too (a fixed point)
        need = _blocks(ranges + [(_STRUCT_PAGES + b * _BLOCK, _BLOCK) for b in blocks])
        if need <= blocks:
            break
        blocks |= need
    out += [(f"struct_pages{k}", _STRUCT_PAGES + b * _BLOCK, bytes(_BLOCK))
            for k, b in enumerate(sorted(blocks))]
    return out


def x86_64_vmcoreinfo() -> list[str]:
    """The lines makedumpfile reads for those regions (struct page of Linux 6.1)."""
    return ["NUMBER(phys_base)=0", "SIZE(page)=64", "OFFSET(page.flags)=0",
            "OFFSET(page.lru)=8", "OFFSET(page.mapping)=24", "OFFSET(page.private)=40",
            "OFFSET(page._mapcount)=48", "OFFSET(page._refcount)=52",
            "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129"]
