"""``dir:PATH``: serve a folder of region files so a real dump replays through qdlpy.

Addresses come from the folder's address file, chosen as ``qdlpy assemble`` chooses it
(:mod:`qdlpy.formats.addresses`: manifest.json, else dump_info.txt, else load.cmm, whose
lengths are the file sizes). The table is served in the order that file lists the regions;
region bytes are read from disk on demand (constant memory), so a multi-GiB full dump can
be replayed. A load.cmm in the folder is served last, as XBL does.

The folder is read by the same rules as ``qdlpy assemble`` reads it
(docs/formats.md#names-and-links): every file name must be a plain member of the folder and
no file is read through a link that leads outside it. The names *served* are the device's
own when the folder records them (a manifest's ``raw_filename``), so replaying a pulled
folder offers the table the device offered, hostile names included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from qdlpy.errors import InputError
from qdlpy.formats import loadcmm
from qdlpy.formats.addresses import ADDRESS_FILES, read_address_file
from qdlpy.formats.entries import SourceEntry
from qdlpy.simulator.faults import Faults

from .common import SimRegion, memory_debug_personality
from .registry import ScenarioBuild

log = logging.getLogger("qdlpy.simulator")


def _file_reader(path: Path, base: int) -> Callable[[int, int], bytes]:
    def read(address: int, length: int) -> bytes:
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), length, address - base)
        return data.ljust(length, b"\0")

    return read


def _member(folder: Path, name: str) -> Path | None:
    """The file ``name`` of ``folder``, resolved; None when absent. InputError when it is a
    link that leads outside the folder."""
    root = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(root, name))
    if not (real == root or real.startswith(root.rstrip(os.sep) + os.sep)):
        raise InputError(f"dir scenario: {name} is a symbolic link to {real}, outside "
                         f"{folder}; it is not served",
                         hint="copy the file into the folder instead of linking to it")
    return Path(real) if os.path.isfile(real) else None


def _entries(folder: Path) -> list[SourceEntry]:
    warnings: list[str] = []
    found = read_address_file(lambda name: _member(folder, name), warnings)
    for warning in warnings:
        log.warning("dir scenario: %s", warning)
    if found is None:
        raise InputError(
            f"{folder} has no usable {', '.join(ADDRESS_FILES)}: the simulator needs the "
            "regions' physical addresses",
            hint="write a dump_info.txt: one line `1 0x<base> <length> <name> <FILE.BIN>` per "
                 "region")
    return found.entries


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    folder = Path(params.pop("path", ""))
    if not folder.is_dir():
        raise InputError(f"dir scenario: {folder!s} is not a folder",
                         hint="use --scenario dir:/path/to/dump")
    regions: list[SimRegion] = []
    for e in _entries(folder):
        if e.filename.lower() == loadcmm.NAME or e.base is None:
            continue
        path = _member(folder, e.filename)
        if path is None:
            raise InputError(f"dir scenario: {e.filename} is listed but not in {folder}")
        length = e.length if e.length is not None else path.stat().st_size
        served = e.device_name or e.filename
        regions.append(SimRegion(e.description or served.rsplit(".", 1)[0], served,
                                 e.base, length, generate=_file_reader(path, e.base),
                                 save_pref=e.save_pref))
    if not regions:
        raise InputError(f"dir scenario: no regions with addresses found in {folder}")
    personality, script = memory_debug_personality(regions, faults)
    return ScenarioBuild(personality, script)
