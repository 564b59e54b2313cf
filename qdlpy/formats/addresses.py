"""Which file gives a dump folder's region addresses: one precedence for every reader.

Best first:

1. ``manifest.json``: written by ``qdlpy pull`` from the device's table, with each
   region's status (a partial download is known as such);
2. ``dump_info.txt``: the same table as text (QPST/PCAT, or ``qdlpy pull``), no status;
3. ``load.cmm``: the firmware's T32 script: addresses but no lengths.

A file that cannot be read or lists no region is skipped with a warning and the next one is
tried. ``qdlpy assemble`` (its folder scan) and the ``dir:`` simulator scenario both call
:func:`read_address_file`; they differ only in how a name is looked up in the folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from qdlpy.errors import InputError

from . import dumpinfo, loadcmm, manifest
from .entries import SourceEntry, read_text
from .names import UnsafeName

__all__ = ["AddressFile", "SOURCES", "ADDRESS_FILES", "read_address_file"]

# (source name reported to the user, file name), in precedence order.
SOURCES: tuple[tuple[str, str], ...] = (
    ("manifest", manifest.NAME), ("dump_info", dumpinfo.NAME), ("load.cmm", loadcmm.NAME))
ADDRESS_FILES: tuple[str, ...] = tuple(name for _, name in SOURCES)


@dataclasses.dataclass(frozen=True)
class AddressFile:
    """The address file that won: its source name, path and rows (in its own order)."""

    source: str  # "manifest" | "dump_info" | "load.cmm"
    path: Path
    entries: list[SourceEntry]


def _read(source: str, path: Path, warnings: list[str]) -> list[SourceEntry]:
    if source == "manifest":
        return manifest.read_entries(path, warnings)
    if source == "dump_info":
        return dumpinfo.parse_dump_info(read_text(path), warnings, name=path.name)
    return loadcmm.parse_load_cmm(read_text(path), warnings, name=path.name)


def read_address_file(locate: Callable[[str], Path | None],
                      warnings: list[str]) -> AddressFile | None:
    """The first usable address file, or None when the folder has none.

    ``locate(name)``: the path of that file in the folder, or None when absent.
    Skipped files and values that do not fit are reported in ``warnings``. A file that
    names a region file outside the folder raises UnsafeName (it is not skipped: the next
    source would silently describe another dump).
    """
    for source, name in SOURCES:
        path = locate(name)
        if path is None:
            continue
        try:
            rows = _read(source, path, warnings)
        except UnsafeName:
            raise  # a name that leaves the folder is refused, never skipped over
        except InputError as exc:
            warnings.append(f"{path.name} ignored: {exc.message}")
            continue
        if not rows:
            warnings.append(f"{path.name} lists no regions; ignored")
            continue
        return AddressFile(source, path, rows)
    return None
