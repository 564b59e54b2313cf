"""Read a dump folder into entries: file, name class, address and length.

Addresses come from the folder's address file (:mod:`qdlpy.formats.addresses` decides which
one), else nothing: only the ``*.BIN`` files, which the kernel assembler maps with the
id-order + size heuristic (docs/formats.md#the-id-order-heuristic).
File names are matched case-insensitively, in the folder and in its ``regions/`` subfolder.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from qdlpy.errors import InputError
from qdlpy.formats.addresses import read_address_file
from qdlpy.formats.entries import SourceEntry

from .classify import Classified, RegionKind, classify

__all__ = ["Entry", "FolderScan", "scan_folder", "HEURISTIC"]

# no address file: id order + size check (docs/formats.md#the-id-order-heuristic)
HEURISTIC = "heuristic"
# qdlpy pull's own files and leftovers: never region files, even when named *.bin.
_NOT_REGIONS = ("table.bin", "qdlpy.log")
_NOT_REGION_SUFFIXES = (".part", ".tmp")
_SUBDIRS = ("", "regions")


@dataclasses.dataclass
class Entry:
    """One region of the dump: what the address source says plus what is on disk."""

    position: int
    filename: str
    description: str
    base: int | None
    length: int | None  # table length; None when the source has none (load.cmm, heuristic)
    path: Path | None  # the file, None when absent
    size: int | None  # the file's size on disk
    status: str
    save_pref: int
    cls: Classified

    @property
    def label(self) -> str:
        return self.filename or self.description

    @property
    def wanted(self) -> int | None:
        """The length the dump should have: the table's, else the file's."""
        return self.length if self.length is not None else self.size

    def to_dict(self) -> dict[str, object]:
        return {
            "filename": self.filename, "description": self.description,
            "kind": self.cls.kind.value, "region_id": self.cls.id,
            "base": None if self.base is None else f"0x{self.base:x}",
            "length": self.length, "file_size": self.size, "present": self.path is not None,
            "status": self.status,
        }


@dataclasses.dataclass
class FolderScan:
    folder: Path
    source: str  # "manifest" | "dump_info" | "load.cmm" | "heuristic"
    entries: list[Entry]
    warnings: list[str]

    @property
    def has_addresses(self) -> bool:
        return self.source != HEURISTIC


def _index(folder: Path) -> dict[str, Path]:
    """lower-case file name -> path, for the folder and its regions/ subfolder."""
    found: dict[str, Path] = {}
    for sub in _SUBDIRS:
        d = folder / sub if sub else folder
        try:
            with os.scandir(d) as it:
                for de in it:
                    if de.is_file():
                        found.setdefault(de.name.lower(), Path(de.path))
        except OSError:
            continue
    return found


def _resolve(folder: Path, name: str, index: dict[str, Path]) -> Path | None:
    """The file for ``name``: a relative path inside the folder, else by base name."""
    rel = Path(name)
    if not rel.is_absolute() and ".." not in rel.parts:
        p = folder / rel
        if p.is_file():
            return p
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return index.get(base)


def _size(p: Path | None) -> int | None:
    if p is None:
        return None
    try:
        return p.stat().st_size
    except OSError:
        return None


def _entries(folder: Path, rows: list[SourceEntry], index: dict[str, Path]) -> list[Entry]:
    out: list[Entry] = []
    for i, r in enumerate(rows):
        cls = classify(r.description, r.filename)
        if cls.kind is RegionKind.SCRIPT:
            continue
        path = _resolve(folder, r.filename, index)
        # load.cmm has no lengths (None): the file's size decides (Entry.wanted).
        out.append(Entry(i, r.filename, r.description, r.base, r.length, path, _size(path),
                         r.status, r.save_pref, cls))
    return out


def scan_folder(folder: Path) -> FolderScan:
    """Entries of a dump folder and which address source gave them."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a directory",
                         hint="give the dump folder `qdlpy pull`, qdl, edl or QPST wrote")
    index = _index(folder)
    warnings: list[str] = []
    found = read_address_file(index.get, warnings)
    if found is not None:
        entries = _entries(folder, found.entries, index)
        listed = {e.path for e in entries if e.path is not None}
        stray = sorted(p.name for k, p in index.items()
                       if k.endswith(".bin") and k.startswith("md_") and p not in listed)
        if stray:
            warnings.append(f"{found.path.name} does not list {len(stray)} md_ file(s) present "
                            f"in the folder: {', '.join(stray[:8])}"
                            f"{' ...' if len(stray) > 8 else ''}")
        return FolderScan(folder, found.source, entries, warnings)
    # No address file: every *.BIN file, addresses unknown (not qdlpy's table.bin, not hidden
    # or partial files).
    rows = [SourceEntry(filename=p.name, description="", base=None, length=None)
            for k, p in sorted(index.items())
            if k.endswith(".bin") and not k.startswith(".") and k not in _NOT_REGIONS
            and not k.endswith(_NOT_REGION_SUFFIXES)]
    return FolderScan(folder, HEURISTIC, _entries(folder, rows, index), warnings)
