"""Safe, unique file names for regions named by an untrusted device.

Rules (docs/protocol.md#region-names-from-the-device): no path separators, no ``..``, no
NUL, printable ASCII only, never a name qdlpy itself writes in the folder, unique (also when
compared case-insensitively, for folders copied to Windows or macOS). The raw name stays in
the manifest.
"""

from __future__ import annotations

from collections.abc import Iterable

RESERVED = frozenset(
    n.lower() for n in ("manifest.json", "dump_info.txt", "table.bin", "qdlpy.log",
                        "minidump.elf", "assemble.json")
)
MAX_NAME = 64


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
