"""The VMCOREINFO text: ``KEY=value`` lines (docs/formats.md#the-vmcoreinfo-region)."""

from __future__ import annotations

import struct

from .errors import GeneratorError

__all__ = ["VmcoreInfo", "parse_note"]

NOTE_NAME = b"VMCOREINFO\0"


class VmcoreInfo:
    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.values[key] = value

    def get(self, key: str) -> str:
        try:
            return self.values[key]
        except KeyError:
            raise GeneratorError("vmcoreinfo", f"VMCOREINFO has no {key}") from None

    def number(self, name: str) -> int:
        """``NUMBER(name)``: decimal, or hex with 0x (kimage_voffset is printed in hex)."""
        return int(self.get(f"NUMBER({name})"), 0)

    def offset(self, member: str) -> int:
        return int(self.get(f"OFFSET({member})"))

    def size(self, struct_name: str) -> int:
        return int(self.get(f"SIZE({struct_name})"))

    def symbol(self, name: str) -> int:
        return int(self.get(f"SYMBOL({name})"), 16)

    def kerneloffset(self) -> int:
        return int(self.values.get("KERNELOFFSET", "0"), 16)


def parse_note(note: bytes) -> bytes:
    """The descriptor of the VMCOREINFO ELF note the kernel keeps at vmcoreinfo_note."""
    namesz, descsz, _type = struct.unpack_from("<III", note, 0)
    name_end = 12 + namesz
    if note[12:name_end] != NOTE_NAME:
        raise GeneratorError("vmcoreinfo",
                             f"no VMCOREINFO note at the printed address: {note[:32]!r}")
    start = 12 + ((namesz + 3) & ~3)
    return note[start:start + descsz]
