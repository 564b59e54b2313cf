"""Kernel virtual -> physical address translation from VMCOREINFO and guest memory.

x86_64: kernel-image addresses by ``__START_KERNEL_map`` arithmetic, the direct map by
``page_offset_base``, anything else by a 4-level walk of ``init_top_pgt`` (QEMU runs with
``la57=off``). arm64: image addresses by ``kimage_voffset``, the linear map by
``PHYS_OFFSET`` and ``VA_BITS`` (docs/testing.md#cutting-the-region-set).
"""

from __future__ import annotations

from typing import Protocol

from .errors import GeneratorError
from .physmem import PhysMemory
from .symbols import Symbol
from .vmcoreinfo import VmcoreInfo

__all__ = ["AddressSpace", "make_address_space", "SYMBOLS_NEEDED"]

STEP = "translate"
START_KERNEL_MAP = 0xFFFFFFFF80000000  # x86_64 __START_KERNEL_map
DIRECT_MAP_SPAN = 1 << 46  # x86_64 4-level: 64 TiB direct map
PTE_ADDR = 0x000F_FFFF_FFFF_F000
SYMBOLS_NEEDED = ("_text", "_end", "page_offset_base")


class AddressSpace(Protocol):
    def pa(self, va: int) -> int: ...

    def facts(self) -> dict[str, int]: ...


def _sym(syms: dict[str, Symbol], name: str) -> Symbol:
    try:
        return syms[name]
    except KeyError:
        raise GeneratorError(STEP, f"vmlinux has no symbol {name}") from None


class X86_64Space:
    def __init__(self, mem: PhysMemory, info: VmcoreInfo, syms: dict[str, Symbol]) -> None:
        self.mem = mem
        self.koff = info.kerneloffset()
        self.phys_base = info.number("phys_base")
        self.text = _sym(syms, "_text").addr + self.koff
        self.end = _sym(syms, "_end").addr + self.koff
        base_symbol = _sym(syms, "page_offset_base").addr + self.koff
        self.page_offset_base = mem.u64(self._image_pa(base_symbol), "page_offset_base")
        self.cr3 = self._image_pa(info.symbol("init_top_pgt"))

    def _image_pa(self, va: int) -> int:
        return va - START_KERNEL_MAP + self.phys_base

    def pa(self, va: int) -> int:
        if self.text <= va < self.end:
            return self._image_pa(va)
        if self.page_offset_base <= va < self.page_offset_base + DIRECT_MAP_SPAN:
            return va - self.page_offset_base
        return self.walk(va)

    def walk(self, va: int) -> int:
        table = self.cr3
        for level, shift in (("PGD", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12)):
            entry = self.mem.u64(table + ((va >> shift) & 511) * 8, f"({level} of {va:#x})")
            if not entry & 1:
                raise GeneratorError(STEP, f"{va:#x} is not mapped ({level} entry {entry:#x})")
            if level in ("PUD", "PMD") and entry & 0x80:  # 1 GiB / 2 MiB page
                span = 1 << shift
                return (entry & PTE_ADDR & ~(span - 1)) | (va & (span - 1))
            table = entry & PTE_ADDR
        return table | (va & 0xFFF)

    def facts(self) -> dict[str, int]:
        return {"phys_base": self.phys_base, "kerneloffset": self.koff,
                "page_offset_base": self.page_offset_base}


class Arm64Space:
    def __init__(self, mem: PhysMemory, info: VmcoreInfo, syms: dict[str, Symbol]) -> None:
        self.koff = info.kerneloffset()
        self.kimage_voffset = info.number("kimage_voffset")
        self.phys_offset = info.number("PHYS_OFFSET")
        self.va_bits = info.number("VA_BITS")
        self.text = _sym(syms, "_text").addr + self.koff
        self.end = _sym(syms, "_end").addr + self.koff
        # arm64 (6.1): PAGE_OFFSET = -(1 << VA_BITS), PAGE_END = -(1 << (VA_BITS_MIN - 1))
        self.page_offset = (1 << 64) - (1 << self.va_bits)
        self.page_end = (1 << 64) - (1 << (min(self.va_bits, 48) - 1))

    def pa(self, va: int) -> int:
        if self.text <= va < self.end:
            return (va - self.kimage_voffset) & ((1 << 64) - 1)
        if self.page_offset <= va < self.page_end:
            return va - self.page_offset + self.phys_offset
        raise GeneratorError(STEP, f"{va:#x} is neither in the kernel image nor in the linear map")

    def facts(self) -> dict[str, int]:
        return {"kimage_voffset": self.kimage_voffset, "phys_offset": self.phys_offset,
                "va_bits": self.va_bits, "kerneloffset": self.koff}


def make_address_space(arch: str, mem: PhysMemory, info: VmcoreInfo,
                       syms: dict[str, Symbol]) -> AddressSpace:
    if arch == "x86_64":
        space = X86_64Space(mem, info, syms)
        # The arithmetic and the page tables must agree, or the layout assumption is wrong.
        probe = info.symbol("init_uts_ns")
        if space.walk(probe) != space.pa(probe):
            raise GeneratorError(STEP, f"page walk of {probe:#x} disagrees with __START_KERNEL_map")
        return space
    if arch == "arm64":
        return Arm64Space(mem, info, syms)
    raise GeneratorError(STEP, f"no address translation for {arch}")
