"""Read a dump folder into entries: file, name class, address and length.

Addresses come from the folder's address file (:mod:`qdlpy.formats.addresses` decides which
one), else nothing: only the ``*.BIN`` files, which the kernel assembler maps with the
id-order + size heuristic (docs/formats.md#the-id-order-heuristic).
File names are matched case-insensitively, in the folder and in its ``regions/`` subfolder.
Every name comes through the one member-name rule (the address-file readers apply it) and
every path is resolved: a file reached through a link that leads outside the folder is never
used (docs/formats.md#names-and-links).
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

from qdlpy.errors import InputError
from qdlpy.formats.addresses import ADDRESS_FILES, read_address_file
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
    sha256: str | None = None  # what the manifest recorded for the complete file
    hole: str | None = None  # why a listed region's file is not used (path is then None)

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
            "status": self.status, "hole": self.hole,
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


def inside(path: str, root: str) -> bool:
    """``path`` (already resolved) is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclasses.dataclass
class _Index:
    """The folder's files by lower-case name, every path resolved and inside the folder;
    names whose link leads outside it are remembered only to say so."""

    root: str  # the folder, resolved
    files: dict[str, Path] = dataclasses.field(default_factory=dict)
    outside: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> where it leads

    def get(self, name: str) -> Path | None:
        return self.files.get(name.lower())

    def add(self, name: str, path: str) -> None:
        real = os.path.realpath(path)
        if not inside(real, self.root):
            self.outside.setdefault(name.lower(), real)
        elif os.path.isfile(real):
            self.files.setdefault(name.lower(), Path(real))


def _index(root: str) -> _Index:
    """lower-case file name -> resolved path, for the folder and its regions/ subfolder
    (a regions/ that is a link out of the folder is not searched)."""
    index = _Index(root)
    for sub in _SUBDIRS:
        d = os.path.realpath(os.path.join(root, sub)) if sub else root
        if not inside(d, root):
            index.outside.setdefault(sub, d)
            continue
        try:
            with os.scandir(d) as it:
                for de in it:
                    index.add(de.name, de.path)
        except OSError:
            continue
    return index


def _resolve(index: _Index, name: str) -> tuple[Path | None, str | None]:
    """(the file for member ``name``, why there is none): the exact name, else the same
    name in another case or in regions/."""
    direct = os.path.join(index.root, name)
    try:
        real = os.path.realpath(direct)
        if os.path.lexists(direct) and not inside(real, index.root):
            return None, f"a symbolic link to {real}, outside the dump folder: not read"
        if os.path.isfile(real):
            return Path(real), None
    except (OSError, ValueError):
        pass
    found = index.get(name)
    if found is not None:
        return found, None
    if name.lower() in index.outside:
        return None, (f"a symbolic link to {index.outside[name.lower()]}, outside the dump "
                      "folder: not read")
    return None, None


def _size(p: Path | None) -> int | None:
    if p is None:
        return None
    try:
        return p.stat().st_size
    except OSError:
        return None


def _entries(index: _Index, rows: list[SourceEntry], warnings: list[str]) -> list[Entry]:
    out: list[Entry] = []
    for i, r in enumerate(rows):
        cls = classify(r.description, r.filename)
        if cls.kind is RegionKind.SCRIPT:
            continue
        path, why = _resolve(index, r.filename)
        if why is not None:
            warnings.append(f"{r.filename} is {why}; the region is treated as missing")
        # load.cmm has no lengths (None): the file's size decides (Entry.wanted).
        out.append(Entry(i, r.filename, r.description, r.base, r.length, path, _size(path),
                         r.status, r.save_pref, cls, sha256=r.sha256, hole=why))
    return out


def scan_folder(folder: Path) -> FolderScan:
    """Entries of a dump folder and which address source gave them. Every path is resolved
    and inside the folder (docs/formats.md#names-and-links); UnsafeName when an address
    file names a file outside it."""
    try:
        is_dir = stat.S_ISDIR(os.stat(folder).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        is_dir = False
    except OSError as exc:  # a name over NAME_MAX, a loop of links
        raise InputError(f"cannot use {folder}: {exc.strerror or exc}",
                         hint="check the path (each name at most 255 bytes)") from exc
    if not is_dir:
        raise InputError(f"{folder} is not a directory",
                         hint="give the dump folder `qdlpy pull`, qdl, edl or QPST wrote")
    index = _index(os.path.realpath(folder))
    warnings: list[str] = []
    found = read_address_file(index.get, warnings)
    if found is not None:
        _warn_outside(index, warnings, regions=False)
        entries = _entries(index, found.entries, warnings)
        listed = {e.path for e in entries if e.path is not None}
        stray = sorted(p.name for k, p in index.files.items()
                       if k.endswith(".bin") and k.startswith("md_") and p not in listed)
        if stray:
            warnings.append(f"{found.path.name} does not list {len(stray)} md_ file(s) present "
                            f"in the folder: {', '.join(stray[:8])}"
                            f"{' ...' if len(stray) > 8 else ''}")
        return FolderScan(folder, found.source, entries, warnings)
    # No address file: every *.BIN file, addresses unknown (not qdlpy's table.bin, not hidden
    # or partial files).
    rows = [SourceEntry(filename=p.name, description="", base=None, length=None)
            for k, p in sorted(index.files.items())
            if k.endswith(".bin") and not k.startswith(".") and k not in _NOT_REGIONS
            and not k.endswith(_NOT_REGION_SUFFIXES)]
    _warn_outside(index, warnings, regions=True)
    return FolderScan(folder, HEURISTIC, _entries(index, rows, warnings), warnings)


def _warn_outside(index: _Index, warnings: list[str], *, regions: bool) -> None:
    """Say which links out of the folder were not followed (listed regions are named by
    their entry instead)."""
    for name, real in sorted(index.outside.items()):
        if name in ADDRESS_FILES or name == "regions" or (regions and name.endswith(".bin")):
            warnings.append(f"{name} is a symbolic link to {real}, outside the dump folder: "
                            "not read")
