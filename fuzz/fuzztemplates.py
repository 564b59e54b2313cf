"""Real dump folders and ELFs to mutate, made once per process by qdlpy itself.

``qdlpy pull`` from the simulator writes the folders a user has (manifest.json,
dump_info.txt, load.cmm, table.bin, region files); variants keep only one address file,
or come from the downstream (md_KELF_HEADER) scenario. The ELFs are what assemble makes
of them.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from fuzzwork import root

from qdlpy.assemble import assemble
from qdlpy.dump import pull

__all__ = ["folders", "elfs", "SECRET"]

#: The content of a file outside every dump folder: it must never show up in an output.
SECRET = b"QDLPY-FUZZ-SECRET-" * 64


def _pull(spec: str, dest: Path) -> Path:
    pull(spec, output=dest, elf=False, after="none")
    return dest


def _only(src: Path, dest: Path, keep: str) -> Path:
    shutil.copytree(src, dest)
    for name in ("manifest.json", "dump_info.txt", "load.cmm"):
        if name != keep:
            (dest / name).unlink(missing_ok=True)
    return dest


@functools.lru_cache(maxsize=1)
def folders() -> tuple[Path, ...]:
    base = root() / "templates"
    base.mkdir()
    (root() / "secret.bin").write_bytes(SECRET)
    km = _pull("sim:kmemdump?arch=x86_64", base / "kmemdump")
    ds = _pull("sim:kmemdump?downstream=1", base / "downstream")
    return (km, ds, _only(km, base / "dump_info", "dump_info.txt"),
            _only(km, base / "load_cmm", "load.cmm"), _only(km, base / "bare", ""))


@functools.lru_cache(maxsize=1)
def elfs() -> tuple[Path, ...]:
    out: list[Path] = []
    for i, folder in enumerate(folders()[:2]):
        report = assemble(folder, root() / "templates" / f"out{i}" / "minidump.elf")
        out += [Path(o.path) for o in report.outputs]
    return tuple(out)
