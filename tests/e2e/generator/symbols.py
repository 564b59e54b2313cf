"""Kernel symbols (address and size) from the vmlinux symbol table, read with pyelftools."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from .errors import GeneratorError

__all__ = ["Symbol", "read_symbols"]


@dataclasses.dataclass(frozen=True)
class Symbol:
    name: str
    addr: int  # link-time address (add KERNELOFFSET for the runtime address)
    size: int


def read_symbols(vmlinux: Path, wanted: Iterable[str]) -> dict[str, Symbol]:
    """The wanted names that exist in ``.symtab`` (the first definition with a size wins,
    so an alias without size such as ``jiffies`` never shadows ``jiffies_64``)."""
    want = set(wanted)
    found: dict[str, Symbol] = {}
    with vmlinux.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise GeneratorError("symbols", f"{vmlinux} has no .symtab")
        for sym in symtab.iter_symbols():
            name = sym.name
            if name in want and sym["st_shndx"] != "SHN_UNDEF":
                old = found.get(name)
                if old is None or (old.size == 0 and sym["st_size"]):
                    found[name] = Symbol(name, int(sym["st_value"]), int(sym["st_size"]))
    return found
