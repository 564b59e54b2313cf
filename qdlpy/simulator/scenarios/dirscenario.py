"""``dir:PATH``: serve a folder of region files so a real dump replays through qdlpy.

Addresses come from the folder's address file, chosen as ``qdlpy assemble`` chooses it
(:mod:`qdlpy.formats.addresses`: manifest.json, else dump_info.txt, else load.cmm, whose
lengths are the file sizes). The table is served in the order that file lists the regions;
region bytes are read from disk on demand (constant memory), so a multi-GiB full dump can
be replayed. A load.cmm in the folder is served last, as XBL does.
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


def _entries(folder: Path) -> list[SourceEntry]:
    # Not qdlpy.assemble's folder scan: that one only resolves names safely inside the
    # folder, while a replayed device must serve whatever names its table lists (hostile
    # ones included, tests/pull/test_names.py), exactly as a real device would.
    warnings: list[str] = []
    found = read_address_file(
        lambda name: folder / name if (folder / name).is_file() else None, warnings)
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
        path = folder / e.filename
        if not path.is_file():
            raise InputError(f"dir scenario: {e.filename} is listed but not in {folder}")
        length = e.length if e.length is not None else path.stat().st_size
        regions.append(SimRegion(e.description or e.filename.rsplit(".", 1)[0], e.filename,
                                 e.base, length, generate=_file_reader(path, e.base),
                                 save_pref=e.save_pref))
    if not regions:
        raise InputError(f"dir scenario: no regions with addresses found in {folder}")
    personality, script = memory_debug_personality(regions, faults)
    return ScenarioBuild(personality, script)
