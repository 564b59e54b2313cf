"""A dump folder on disk: region files plus the address files that say where each one was.

Written with plain string formatting, each file in the form its producer uses:

* ``dump_info.txt`` (QPST/PCAT): ``<save_pref> 0x<base> <length> <description> <file>``;
* ``load.cmm`` (boot firmware's T32 script): ``d.load.binary <file> 0x<base> /noclear``;
* ``manifest.json`` (``qdlpy pull``), minimal: ``schema`` and a ``regions`` list of
  ``filename``, ``description``, ``base`` (hex string), ``length``, ``save_pref``, ``status``.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

__all__ = ["TableEntry", "LOAD_CMM", "SAVE_OPTIONAL", "SAVE_MANDATORY", "dump_info_text",
           "load_cmm_text", "manifest_text", "write_folder", "shuffled", "without"]

LOAD_CMM = "load.cmm"
SAVE_OPTIONAL = 1  # what firmware gives every minidump region
SAVE_MANDATORY = 2  # the CMM script entry
SOURCES = ("manifest", "dump_info", "load.cmm")


@dataclasses.dataclass(frozen=True)
class TableEntry:
    """One Sahara table entry and its file."""

    base: int
    desc: str
    filename: str
    data: bytes | None  # the file's bytes; None: listed in the table, no file on disk
    save_pref: int = SAVE_OPTIONAL
    length: int | None = None  # the table's length; None: the file's
    region_id: int | None = None  # kernel region id (for the oracle's bookkeeping only)

    @property
    def table_length(self) -> int:
        if self.length is not None:
            return self.length
        return 0 if self.data is None else len(self.data)


def dump_info_text(entries: Sequence[TableEntry]) -> str:
    lines = [f"{e.save_pref} 0x{e.base:016x} {e.table_length} {e.desc} {e.filename}"
             for e in entries]
    return "\n".join(lines) + "\n"


def load_cmm_text(entries: Sequence[TableEntry]) -> str:
    """The T32 script firmware appends: one ``d.load.binary`` per region, in table order."""
    return "".join(f"d.load.binary {e.filename} 0x{e.base:x} /noclear\n" for e in entries)


def manifest_text(entries: Sequence[TableEntry]) -> str:
    regions = [{"filename": e.filename, "description": e.desc, "base": f"0x{e.base:x}",
                "length": e.table_length, "save_pref": e.save_pref, "status": "complete"}
               for e in entries]
    return json.dumps({"schema": "qdlpy.pull/1", "status": "complete", "regions": regions},
                      indent=1) + "\n"


def _recase(entries: Sequence[TableEntry], case: str) -> list[TableEntry]:
    changes: dict[str, Callable[[str], str]] = {"as-is": str, "lower": str.lower,
                                                "upper": str.upper}
    change = changes[case]
    return [dataclasses.replace(e, filename=change(e.filename)) for e in entries]


def write_folder(dest: Path, entries: Sequence[TableEntry], *,
                 sources: Collection[str] = ("manifest",), case: str = "as-is",
                 cmm_base: int | None = None) -> Path:
    """Region files and the address files ``sources`` listing them in ``entries`` order.

    ``cmm_base``: with ``"load.cmm"`` in ``sources``, the script is also a table entry at
    that address, listed last in the other address files (as a device's table has it).
    ``case``: ``lower``/``upper`` mimic tools that change file-name case.
    """
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown address sources {sorted(unknown)}")
    rows = _recase(entries, case)
    names = [e.filename for e in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate file names in {names}")
    dest.mkdir(parents=True, exist_ok=False)
    for e in rows:
        if e.data is not None:
            (dest / e.filename).write_bytes(e.data)
    listed = list(rows)
    if "load.cmm" in sources:
        script = load_cmm_text(rows).encode()
        (dest / LOAD_CMM).write_bytes(script)
        if cmm_base is not None:
            listed.append(TableEntry(cmm_base, "CMM Script", LOAD_CMM, script, SAVE_MANDATORY))
    if "dump_info" in sources:
        (dest / "dump_info.txt").write_text(dump_info_text(listed))
    if "manifest" in sources:
        (dest / "manifest.json").write_text(manifest_text(listed))
    return dest


def shuffled(entries: Sequence[TableEntry], seed: int) -> list[TableEntry]:
    """The same entries in another order (never the original one)."""
    rng = random.Random(seed)
    out = list(entries)
    while len(out) > 1 and [e.filename for e in out] == [e.filename for e in entries]:
        rng.shuffle(out)
    return out


def without(entries: Sequence[TableEntry], filename: str) -> list[TableEntry]:
    """The entries without ``filename``; ValueError when it is not there."""
    out = [e for e in entries if e.filename != filename]
    if len(out) != len(entries) - 1:
        raise ValueError(f"{filename} is not in the table")
    return out
