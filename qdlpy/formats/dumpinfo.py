"""``dump_info.txt``: the QPST/PCAT-style listing of a dump's table
(docs/formats.md#the-dump_infotxt-format).

One line per table entry, ``<save_pref> 0x<base> <length-decimal> <desc...> <filename>``;
the description may hold spaces, so base = 2nd token, length = 3rd, file name = last.
``qdlpy pull`` writes one next to the region files; QPST and PCAT write the same format.
"""

from __future__ import annotations

from collections.abc import Iterable

from .entries import EntryLike, SourceEntry, as_u64, parse_int
from .names import member_name

__all__ = ["NAME", "write_dump_info", "parse_dump_info"]

NAME = "dump_info.txt"


def write_dump_info(entries: Iterable[EntryLike]) -> str:
    """dump_info.txt text for the entries, one line each, in the given (table) order."""
    lines = []
    for e in entries:
        desc = " ".join(e.description.split())  # one line, no tabs/newlines from the device
        fields = [str(e.save_pref), f"0x{e.base:08X}", str(e.length)]
        if desc:
            fields.append(desc)
        fields.append(e.filename)
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def _line_entry(tokens: list[str], line: str, warnings: list[str] | None) -> SourceEntry | None:
    """The entry of one line split into ``tokens``; ``line`` says where ("dump_info.txt
    line 3") in messages."""
    try:
        save_pref, base, length = (parse_int(t) for t in tokens[:3])
    except ValueError:
        return None
    if base < 0 or length < 0:
        return None
    # A line that is an entry names a file of the folder: one rule for every reader
    # (docs/formats.md#names-and-links); lines that are not entries were skipped above.
    filename = member_name(tokens[-1], source=line)
    where = f"{line} ({filename}):"
    return SourceEntry(filename=filename, description=" ".join(tokens[3:-1]),
                       base=as_u64(base, f"{where} base", warnings),
                       length=as_u64(length, f"{where} length", warnings),
                       save_pref=save_pref)


def parse_dump_info(text: str, warnings: list[str] | None = None, *,
                    name: str = NAME) -> list[SourceEntry]:
    """Entries of a dump_info.txt; lines that do not parse (headers, comments) are skipped.
    A base or length over 64 bits becomes unknown, with a warning naming ``name`` and line.
    An entry whose file name is not a plain member of the folder raises UnsafeName."""
    out: list[SourceEntry] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if len(tokens) < 4 or tokens[0].startswith(("#", ";")):
            continue
        entry = _line_entry(tokens, f"{name} line {lineno}", warnings)
        if entry is not None:
            out.append(entry)
    return out
