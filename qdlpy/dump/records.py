"""The regions of a pull: from the device's table, or from a folder's manifest on resume.

A device's names go through :func:`qdlpy.formats.names.unique_names` (never fails); names
read back from a manifest go through :func:`qdlpy.formats.names.member_name` and must not
be qdlpy's own files or clash with each other, or ``--resume`` is refused before anything
is written (docs/formats.md#pull-folder-safety).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from qdlpy.errors import InvalidArgument
from qdlpy.formats import manifest as mf
from qdlpy.formats.manifest import Manifest, RegionRecord
from qdlpy.formats.names import RESERVED, UnsafeName, member_name, unique_names
from qdlpy.session import DumpTable

from .folder import LOCK_NAME
from .writer import PART_SUFFIX

__all__ = ["apply_selection", "check_names", "check_selection", "from_table", "selected",
           "table_info"]


def matches(rec: RegionRecord, patterns: Sequence[str]) -> bool:
    names = {rec.filename, rec.raw_filename, rec.description,
             rec.filename.rsplit(".", 1)[0], rec.raw_filename.rsplit(".", 1)[0]}
    return any(fnmatch.fnmatch(n.lower(), p.lower()) for n in names for p in patterns)


def selected(rec: RegionRecord, include: Sequence[str], exclude: Sequence[str]) -> bool:
    return (not include or matches(rec, include)) and not (exclude and matches(rec, exclude))


def check_selection(table: DumpTable, include: Sequence[str], exclude: Sequence[str]) -> None:
    """A --region/--exclude choice that leaves nothing to pull is a mistake, not a pull."""
    if not include and not exclude:
        return
    records = from_table(table)
    if any(selected(r, include, exclude) for r in records):
        return
    names = ", ".join(r.filename for r in records)
    what = " ".join([*(f"--region {p}" for p in include), *(f"--exclude {p}" for p in exclude)])
    raise InvalidArgument(f"{what} selects none of the device's {len(records)} regions: {names}",
                          hint="globs match a region's file name or description, ignoring "
                               "case (see `qdlpy regions`)")


def apply_selection(records: Iterable[RegionRecord], include: Sequence[str],
                    exclude: Sequence[str]) -> None:
    """Mark what is not selected skipped (a complete region stays complete), and what is
    selected again pending."""
    for rec in records:
        chosen = selected(rec, include, exclude)
        if not chosen and rec.status != mf.COMPLETE:
            rec.status = mf.SKIPPED
        elif chosen and rec.status == mf.SKIPPED:
            rec.status = mf.PENDING


def from_table(table: DumpTable, existing: Iterable[str] = ()) -> list[RegionRecord]:
    """One record per table entry, named safely and uniquely; ``existing`` names (and the
    region names their NAME.part files stand for) are never reused."""
    taken = list(existing)
    taken += [n[: -len(PART_SUFFIX)] for n in taken if n.lower().endswith(PART_SUFFIX)]
    names = unique_names([(r.filename or r.description, r.position) for r in table.regions],
                         taken)
    out = []
    for r, name in zip(table.regions, names):
        kind = r.name
        out.append(RegionRecord(
            position=r.position, filename=name, raw_filename=r.filename,
            description=r.description, base=r.base, length=r.length, save_pref=r.save_pref,
            kind=kind.kind.value, region_id=kind.id, raw_filename_hex=r.raw_filename.hex(),
            raw_description_hex=r.raw_description.hex(),
        ))
    return out


def table_info(table: DumpTable) -> dict[str, Any]:
    return {
        "address": f"0x{table.address:x}",
        "length": len(table.raw),
        "is64": table.is64,
        "entry_size": 64 if table.is64 else 52,
        "entries": len(table.regions),
        "sha256": hashlib.sha256(table.raw).hexdigest(),
    }


_OWN_FILES = RESERVED | {LOCK_NAME}


def check_names(manifest: Manifest) -> None:
    """Every region file name of a manifest read from a folder: one plain member of the
    folder (UnsafeName, exit 10, otherwise), not one of qdlpy's own files, not a NAME.part
    or a hidden name, and no two alike (ignoring case, as some filesystems do)."""
    seen: dict[str, int] = {}
    for i, rec in enumerate(manifest.regions):
        source = f"{mf.NAME} regions[{i}]"
        name = member_name(rec.filename, source=source)
        folded = name.lower()
        if folded in _OWN_FILES or name.startswith(".") or folded.endswith(PART_SUFFIX):
            raise UnsafeName(f"{source}: {name!r} is one of qdlpy's own file names, not a "
                             "region's")
        if folded in seen:
            raise UnsafeName(f"{source}: {name!r} is also the file of regions[{seen[folded]}]; "
                             "one would overwrite the other")
        seen[folded] = i
