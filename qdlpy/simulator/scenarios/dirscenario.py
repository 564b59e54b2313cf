"""``dir:PATH``: serve a folder of region files so a real dump replays through qdlpy.

Addresses come from the folder's dump_info.txt (QPST/PCAT), else manifest.json (qdlpy),
else load.cmm (lengths from the file sizes). The table is served in the order that file
lists the regions; region bytes are read from disk on demand (constant memory), so a
multi-GiB full dump can be replayed. A load.cmm in the folder is served last, as XBL does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from qdlpy.assemble.sources import (
    DUMP_INFO,
    LOAD_CMM,
    MANIFEST,
    SourceEntry,
    parse_dump_info,
    parse_load_cmm,
    read_manifest,
    read_text,
)
from qdlpy.errors import InputError
from qdlpy.simulator.faults import Faults

from .common import SimRegion, memory_debug_personality
from .registry import ScenarioBuild


def _file_reader(path: Path, base: int) -> Callable[[int, int], bytes]:
    def read(address: int, length: int) -> bytes:
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), length, address - base)
        return data.ljust(length, b"\0")

    return read


def _entries(folder: Path) -> list[SourceEntry]:
    # Not qdlpy.assemble.folder.scan_folder: that one only resolves names safely inside the
    # folder, while a replayed device must serve whatever names its table lists (hostile
    # ones included, tests/pull/test_names.py), exactly as a real device would.
    if (folder / DUMP_INFO).is_file():
        return parse_dump_info(read_text(folder / DUMP_INFO))
    if (folder / MANIFEST).is_file():
        return read_manifest(folder / MANIFEST)
    if (folder / LOAD_CMM).is_file():
        return parse_load_cmm(read_text(folder / LOAD_CMM))
    raise InputError(
        f"{folder} has no {DUMP_INFO}, {MANIFEST} or {LOAD_CMM}: the simulator needs the "
        "regions' physical addresses",
        hint="write a dump_info.txt: one line `1 0x<base> <length> <name> <FILE.BIN>` per region",
    )


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    folder = Path(params.pop("path", ""))
    if not folder.is_dir():
        raise InputError(f"dir scenario: {folder!s} is not a folder",
                         hint="use --scenario dir:/path/to/dump")
    regions: list[SimRegion] = []
    for e in _entries(folder):
        if e.filename.lower() == LOAD_CMM or e.base is None:
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
