"""vmcore-dmesg's line format, byte for byte (docs/triage.md#output-format).

Each record is ``[%5lu.%06lu] `` (seconds, then microseconds cut, not rounded), the text
with every byte that is neither printable ASCII nor whitespace in the C locale written as
``\\xNN`` (lower-case hex; UTF-8 is escaped too, newlines and tabs inside a record are kept),
then one newline.
"""

from __future__ import annotations

import re

__all__ = ["escape", "stamp", "line"]

# C-locale isprint (0x20-0x7e) or isspace (0x09-0x0d, 0x20) bytes pass unchanged.
_UNPRINTABLE = re.compile(rb"[^\x09-\x0d\x20-\x7e]")


def _hex(m: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % m.group(0)[0]


def escape(text: bytes) -> bytes:
    return _UNPRINTABLE.sub(_hex, text)


def stamp(ts_nsec: int) -> bytes:
    seconds, rest = divmod(ts_nsec, 1_000_000_000)
    return b"[%5d.%06d] " % (seconds, rest // 1000)


def line(ts_nsec: int, text: bytes) -> bytes:
    return stamp(ts_nsec) + escape(text) + b"\n"
