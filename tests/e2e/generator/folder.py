"""Step 3c: the pulled-folder form of a minidump: region files named the firmware way, the
host-side ``dump_info.txt`` (minidump-format.md §7.2) and the firmware's ``load.cmm``
(§3.5 step 6), plus the variants the tests serve (shuffled table, one region missing).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path

from .errors import GeneratorError

__all__ = ["TableEntry", "write_folder", "shuffled", "without", "LOAD_CMM"]

LOAD_CMM = "load.cmm"
SAVE_OPTIONAL = 1  # OPTIONAL_DEF_SAVE: what XBL gives every minidump region (§3.5 step 4)
SAVE_MANDATORY = 2  # the CMM script entry


@dataclasses.dataclass(frozen=True)
class TableEntry:
    base: int
    desc: str
    filename: str
    data: bytes
    save_pref: int = SAVE_OPTIONAL

    def dump_info_line(self) -> str:
        # <save_pref> 0x<base> <length-decimal> <desc> <filename> (§7.2)
        return f"{self.save_pref} 0x{self.base:016x} {len(self.data)} {self.desc} {self.filename}"


def load_cmm(entries: Sequence[TableEntry]) -> bytes:
    """The T32 script XBL appends: one ``d.load.binary`` per region, in table order."""
    lines = [f"d.load.binary {e.filename} 0x{e.base:x} /noclear" for e in entries]
    return ("\n".join(lines) + "\n").encode()


def write_folder(dest: Path, entries: Sequence[TableEntry], cmm_base: int) -> None:
    """Region files + load.cmm + dump_info.txt listing them in ``entries`` order, load.cmm last."""
    dest.mkdir(parents=True, exist_ok=False)
    names = [e.filename for e in entries]
    if len(set(names)) != len(names):
        raise GeneratorError("folder", f"duplicate file names in {names}")
    for e in entries:
        (dest / e.filename).write_bytes(e.data)
    cmm = TableEntry(cmm_base, "CMM Script", LOAD_CMM, load_cmm(entries), SAVE_MANDATORY)
    (dest / LOAD_CMM).write_bytes(cmm.data)
    lines = [e.dump_info_line() for e in (*entries, cmm)]
    (dest / "dump_info.txt").write_text("\n".join(lines) + "\n")


def shuffled(entries: Sequence[TableEntry], seed: int) -> list[TableEntry]:
    """Same entries in another order (never the original one): the assembler must map by
    address, not by position (minidump-format.md §9.4)."""
    rng = random.Random(seed)
    out = list(entries)
    while [e.filename for e in out] == [e.filename for e in entries]:
        rng.shuffle(out)
    return out


def without(entries: Sequence[TableEntry], filename: str) -> list[TableEntry]:
    out = [e for e in entries if e.filename != filename]
    if len(out) != len(entries) - 1:
        raise GeneratorError("folder", f"{filename} is not in the table")
    return out
