"""Taint flags: from the ``tainted_mask``/``taint_flags`` regions, else from the log.

``tainted_mask`` is an unsigned long whose bit *n* is taint flag *n*; ``taint_flags`` is the
kernel's table of ``{char c_true; char c_false; bool module;}`` (3 bytes; 16 from 6.10, which
added a description pointer) giving each bit's letter. Without the regions, the letters of
the last ``Tainted:`` line in the log are used (both the ``Tainted: G        W  O`` and the
6.12+ ``Tainted: [W]=WARN, [O]=OOT_MODULE`` forms).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .records import Record
from .target import Dump

__all__ = ["Taint", "read_taint", "FLAGS"]

# Bit -> (letter, name), Documentation/admin-guide/tainted-kernels.rst.
FLAGS: list[tuple[str, str]] = [
    ("P", "PROPRIETARY_MODULE"), ("F", "FORCED_MODULE"), ("S", "CPU_OUT_OF_SPEC"),
    ("R", "FORCED_RMMOD"), ("M", "MACHINE_CHECK"), ("B", "BAD_PAGE"), ("U", "USER"),
    ("D", "DIE"), ("A", "OVERRIDDEN_ACPI_TABLE"), ("W", "WARN"), ("C", "CRAP"),
    ("I", "FIRMWARE_WORKAROUND"), ("O", "OOT_MODULE"), ("E", "UNSIGNED_MODULE"),
    ("L", "SOFTLOCKUP"), ("K", "LIVEPATCH"), ("X", "AUX"), ("T", "RANDSTRUCT"), ("N", "TEST"),
    ("J", "FWCTL"),
]
_BY_LETTER = {letter: (bit, name) for bit, (letter, name) in enumerate(FLAGS)}
_OLD_FORM = re.compile(r"Tainted: ([A-Z ]+?)\s+\d")
_NEW_FORM = re.compile(r"Tainted: ((?:\[[A-Z]\]=\w+(?:, )?)+)")
_NOT_TAINTED = re.compile(r"\bNot tainted\b")


@dataclasses.dataclass
class Taint:
    mask: int | None  # None when only the log's letters are known
    letters: str  # set flags' letters in bit order ("" = not tainted)
    names: list[str]
    source: str  # "tainted_mask region", "the log", ...

    def to_dict(self) -> dict[str, Any]:
        return {"mask": None if self.mask is None else f"0x{self.mask:x}",
                "letters": self.letters, "flags": list(self.names), "source": self.source}


def _letters_table(dump: Dump) -> list[str] | None:
    reg = dump.region("taint_flags")
    raw = reg.blob.get(0, reg.blob.length) if reg is not None else None
    if raw is None:
        return None
    raw = bytes(raw)
    for stride in (3, 16):
        count = len(raw) // stride
        letters = [chr(raw[i * stride]) for i in range(count)]
        if count >= 16 and all(c.isupper() for c in letters):
            return letters
    return None


def _from_regions(dump: Dump) -> Taint | None:
    reg = dump.region("tainted_mask")
    if reg is None:
        return None
    word = dump.core.word if dump.core is not None else 8
    raw = reg.blob.get(0, word)
    if raw is None:
        return None
    mask = int.from_bytes(raw, "big" if dump.core is not None and dump.core.endian == ">"
                          else "little")
    table = _letters_table(dump)
    letters, names = "", []
    for bit in range(word * 8):
        if not mask >> bit & 1:
            continue
        letter = table[bit] if table and bit < len(table) else \
            FLAGS[bit][0] if bit < len(FLAGS) else "?"
        letters += letter
        names.append(_BY_LETTER.get(letter, (bit, f"bit {bit}"))[1])
    return Taint(mask, letters, names, f"tainted_mask ({reg.name})"
                 + (" and taint_flags" if table else ""))


def _from_log(records: list[Record]) -> Taint | None:
    for r in reversed(records):
        text = r.printable
        m = _NEW_FORM.search(text)
        if m:
            letters = "".join(re.findall(r"\[([A-Z])\]", m.group(1)))
        else:
            m = _OLD_FORM.search(text)
            if m is None:
                if _NOT_TAINTED.search(text):
                    return Taint(0, "", [], "the log (Not tainted)")
                continue
            letters = "".join(c for c in m.group(1) if c in _BY_LETTER)
        ordered = sorted(set(letters), key=lambda c: _BY_LETTER[c][0])
        mask = sum(1 << _BY_LETTER[c][0] for c in ordered)
        return Taint(mask, "".join(ordered), [_BY_LETTER[c][1] for c in ordered],
                     "the log (Tainted: line)")
    return None


def read_taint(dump: Dump, records: list[Record]) -> Taint | None:
    return _from_regions(dump) or _from_log(records)
