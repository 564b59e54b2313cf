"""The one rule for file names in a dump folder, whoever names them.

A region's file name comes from an untrusted source: the device's table, or a
``manifest.json`` / ``dump_info.txt`` / ``load.cmm`` handed over with the folder. qdlpy
writes and reads only *members* of the folder: one path component, printable ASCII, no
separator, not ``.`` or ``..``, no NUL, at most ``NAME_MAX`` bytes
(docs/protocol.md#region-names-from-the-device).

* :func:`sanitize` / :func:`unique_names` turn a device's name into a member name (the raw
  name stays in the manifest); they never fail.
* :func:`member_name` checks a name read from a file and refuses (``UnsafeName``, exit 10)
  one that is not a member, instead of letting ``../../etc/x`` or ``/tmp/x`` leave the folder.
"""

from __future__ import annotations

from collections.abc import Iterable

from qdlpy.errors import InputError

__all__ = ["MAX_NAME", "NAME_MAX", "RESERVED", "UnsafeName", "is_member_name", "member_name",
           "sanitize", "unique_names"]

RESERVED = frozenset(
    n.lower() for n in ("manifest.json", "dump_info.txt", "table.bin", "qdlpy.log",
                        "minidump.elf", "assemble.json")
)
MAX_NAME = 64  # what sanitize() makes of a device's name (the table field is 20 bytes)
NAME_MAX = 255  # the longest member name read from a file (Linux NAME_MAX, in bytes)
_FORBIDDEN = frozenset('/\\:*?"<>|')


class UnsafeName(InputError):
    """A file name read from a dump folder's files that is not a plain member of the folder."""

    code = "unsafe-name"
    default_hint = ("the folder's address files name a file outside it or an impossible one; "
                    "fix or remove that entry (the region files are never touched)")


def is_member_name(name: str) -> bool:
    """True when ``name`` is one safe component of a dump folder (see the module doc)."""
    return (
        bool(name) and name not in (".", "..")
        and len(name.encode("utf-8", "surrogateescape")) <= NAME_MAX
        and all(0x20 <= ord(ch) <= 0x7E and ch not in _FORBIDDEN for ch in name)
    )


def member_name(name: object, *, source: str) -> str:
    """``name`` (read from ``source``, e.g. "manifest.json region 3") if it is a member name;
    UnsafeName otherwise."""
    if not isinstance(name, str):
        raise UnsafeName(f"{source}: the file name is {type(name).__name__}, not text")
    if not is_member_name(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise UnsafeName(f"{source}: {shown!r} is not a file name inside the dump folder (one "
                         f"printable component without / \\ or '..', at most {NAME_MAX} bytes)")
    return name


def sanitize(raw: str, position: int) -> str:
    """A safe single path component for ``raw`` (may still collide; see unique_names)."""
    out = []
    for ch in raw:
        if ch in "/\\" or not (0x21 <= ord(ch) <= 0x7E) or ch in ':*?"<>|':
            out.append("_")
        else:
            out.append(ch)
    name = "".join(out).strip("._ ") or ""
    while ".." in name:
        name = name.replace("..", ".")
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME]
    if not name or name.lower().endswith(".part"):
        name = f"region{position:03d}.bin" if not name else name + "_"
    return name


def unique_names(raws: list[tuple[str, int]], existing: Iterable[str] = ()) -> list[str]:
    """Sanitised, unique names for (raw name, table position) pairs, in order.

    ``existing``: names already in the folder (``--force``), which are never reused.
    """
    taken: set[str] = set(RESERVED) | {n.lower() for n in existing}
    names = []
    for raw, position in raws:
        base = sanitize(raw, position)
        name = base
        n = 2
        while name.lower() in taken:
            stem, dot, ext = base.rpartition(".")
            name = f"{stem}~{n}.{ext}" if dot and stem else f"{base}~{n}"
            n += 1
        taken.add(name.lower())
        names.append(name)
    return names
