"""Kernel virtual -> physical addresses from VMCOREINFO alone, for cores without usable
``p_vaddr`` (full dumps carry ``p_vaddr = p_paddr``).

arm64: the kernel image is at ``va - kimage_voffset``; the linear map starts at
``PAGE_OFFSET`` (``NUMBER(PAGE_OFFSET)``, else ``-(1 << VA_BITS)`` as since 5.4, else the
older ``-(1 << (VA_BITS - 1))``) and maps ``PHYS_OFFSET``. x86_64: the kernel image at
``__START_KERNEL_map`` maps ``phys_base``; its direct map is randomised and not in
VMCOREINFO, so it is not translated. Candidates are tried in order; a read succeeds only
where a PT_LOAD's ``p_paddr`` range really holds the bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from .elfcore import ElfCore
from .errors import CorruptLog, MissingKey
from .vmcoreinfo import Vmcoreinfo

__all__ = ["translator", "Translate"]

Translate = Callable[[int], list[int]]
_EM_AARCH64, _EM_X86_64 = 183, 62
_START_KERNEL_MAP = 0xFFFFFFFF80000000
_U64 = (1 << 64) - 1


def _arm64(vi: Vmcoreinfo) -> Translate | None:
    try:
        voff = vi.number("kimage_voffset") & _U64
        phys = vi.number("PHYS_OFFSET") & _U64
        va_bits = vi.number("VA_BITS")
    except (MissingKey, CorruptLog):
        return None
    if not 36 <= va_bits <= 52:
        return None
    offsets = [(-(1 << va_bits)) & _U64, (-(1 << (va_bits - 1))) & _U64]
    if "NUMBER(PAGE_OFFSET)" in vi:
        try:
            offsets.insert(0, vi.number("PAGE_OFFSET") & _U64)
        except CorruptLog:
            pass

    def translate(va: int) -> list[int]:
        out = [(va - voff) & _U64]
        out += [va - base + phys for base in offsets if va >= base]
        return out

    return translate


def _x86_64(vi: Vmcoreinfo) -> Translate | None:
    try:
        phys_base = vi.number("phys_base")
    except (MissingKey, CorruptLog):
        phys_base = 0

    def translate(va: int) -> list[int]:
        return [va - _START_KERNEL_MAP + phys_base] if va >= _START_KERNEL_MAP else []

    return translate


def translator(core: ElfCore, vi: Vmcoreinfo | None) -> Translate | None:
    if vi is None:
        return None
    if core.machine == _EM_AARCH64:
        return _arm64(vi)
    if core.machine == _EM_X86_64:
        return _x86_64(vi)
    return None
