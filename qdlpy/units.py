"""Sizes as people write them (``512K``, ``256M``, ``0x1000``), for options and knobs."""

from __future__ import annotations

import re

from qdlpy.errors import InvalidArgument

__all__ = ["parse_size"]


_SIZE = re.compile(r"^(?P<num>0x[0-9a-f]+|\d+)\s*(?P<unit>[kmgt]?)(?:i?b)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """'4096', '0x1000', '512K', '256M', '4GiB' -> bytes (binary units; hex is plain bytes)."""
    m = _SIZE.match(text.strip())
    if m is None or (m.group("num").lower().startswith("0x") and m.group("unit")):
        raise InvalidArgument(f"not a size: {text!r} (use e.g. 4096, 0x1000, 512K, 256M, 4G)")
    return int(m.group("num"), 0) * _UNITS[m.group("unit").lower()]
