"""VMCOREINFO for readers: typed keys, and errors that name the missing key.

The descriptor is ``KEY=value`` lines (docs/triage.md#vmcoreinfo). ``SYMBOL(x)`` is a hex
kernel virtual address; ``SIZE(x)``, ``OFFSET(s.m)`` and ``LENGTH(x)`` are decimal;
``NUMBER(x)`` is decimal or ``0x`` hex and may be negative. As in vmcore-dmesg, a key given
twice keeps its last value. Sizes and offsets are bounded: a value no kernel structure can
have means a damaged descriptor, not a multi-GiB read.
"""

from __future__ import annotations

from .errors import CorruptLog, MissingKey

__all__ = ["Vmcoreinfo", "MAX_STRUCT"]

MAX_STRUCT = 1 << 20  # no structure the readers use is near a MiB


class Vmcoreinfo:
    """Parsed VMCOREINFO text."""

    def __init__(self, raw: bytes) -> None:
        text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace")
        self.keys: dict[str, str] = {}
        for line in text.split("\n"):
            key, sep, value = line.partition("=")
            if sep and key:
                self.keys[key] = value.strip()

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def get(self, key: str) -> str | None:
        return self.keys.get(key)

    @property
    def osrelease(self) -> str | None:
        return self.keys.get("OSRELEASE")

    @property
    def build_id(self) -> str | None:
        value = self.keys.get("BUILD-ID", "").lower()
        return value if value and all(c in "0123456789abcdef" for c in value) else None

    def _number(self, key: str, base: int) -> int:
        text = self.keys.get(key)
        if text is None:
            raise MissingKey(f"VMCOREINFO has no {key}")
        try:
            return int(text, base)
        except ValueError:
            raise CorruptLog(f"VMCOREINFO {key}={text!r} is not a number") from None

    def symbol(self, name: str) -> int:
        return self._number(f"SYMBOL({name})", 16)

    def has_symbol(self, name: str) -> bool:
        return f"SYMBOL({name})" in self.keys

    def size(self, name: str) -> int:
        return self._bounded(f"SIZE({name})")

    def offset(self, member: str) -> int:
        return self._bounded(f"OFFSET({member})")

    def number(self, name: str) -> int:
        return self._number(f"NUMBER({name})", 0)

    def _bounded(self, key: str) -> int:
        value = self._number(key, 10)
        if not 0 <= value < MAX_STRUCT:
            raise CorruptLog(f"VMCOREINFO {key}={value} is not a plausible structure size or "
                             "offset")
        return value
