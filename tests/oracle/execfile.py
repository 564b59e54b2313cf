"""A minimal executable (``ET_EXEC``) whose ``.data`` section holds given bytes at a given
virtual address: what a debugger falls back to for an address a core file has no bytes
for. gdb reads a core's PT_LOAD without file bytes from the executable first, so a
vmlinux's link-time data would show through a hole that is not filled in the core.

Layout: ELF header, one PT_LOAD, the section bytes at offset 0x1000, then the section
headers (NULL, ``.data``, ``.shstrtab``).
"""

from __future__ import annotations

import struct

from .elf64 import (
    EHDR_SIZE,
    PF_RW,
    PHDR_SIZE,
    PT_LOAD,
    SHDR_SIZE,
    SHF_WRITE,
    SHT_PROGBITS,
    SHT_STRTAB,
    phdr,
    shdr,
)

__all__ = ["build_exec"]

_ET_EXEC = 2
_SHF_ALLOC = 2
_DATA_OFFSET = 0x1000


def build_exec(machine: int, va: int, data: bytes) -> bytes:
    names = b"\0.data\0.shstrtab\0"
    str_off = _DATA_OFFSET + len(data)
    shoff = (str_off + len(names) + 7) // 8 * 8
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    head = struct.pack("<16sHHIQQQIHHHHHH", ident, _ET_EXEC, machine, 1, va, EHDR_SIZE, shoff,
                       0, EHDR_SIZE, PHDR_SIZE, 1, SHDR_SIZE, 3, 2)
    head += phdr(PT_LOAD, _DATA_OFFSET, len(data), flags=PF_RW, vaddr=va, paddr=va)
    body = head.ljust(_DATA_OFFSET, b"\0") + data + names
    body = body.ljust(shoff, b"\0")
    return body + shdr(0, 0) + shdr(1, SHT_PROGBITS, flags=_SHF_ALLOC | SHF_WRITE, addr=va,
                                     offset=_DATA_OFFSET, size=len(data)) + shdr(
        7, SHT_STRTAB, offset=str_off, size=len(names))
