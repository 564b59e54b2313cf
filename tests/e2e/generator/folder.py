"""Step 3c: the pulled-folder form of a minidump: region files named the firmware way, the
host-side ``dump_info.txt`` and the firmware's ``load.cmm`` (listed last in the table), plus
the variants the tests serve (shuffled table, one region missing). The files are written by
the default tier's independent folder writer (tests/oracle/folder.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from oracle import folder as oracle_folder
from oracle.folder import TableEntry

from .errors import GeneratorError

__all__ = ["TableEntry", "write_folder", "shuffled", "without"]


def write_folder(dest: Path, entries: Sequence[TableEntry], cmm_base: int) -> None:
    """Region files + load.cmm + dump_info.txt listing them in ``entries`` order, load.cmm
    last (at ``cmm_base``)."""
    try:
        oracle_folder.write_folder(dest, entries, sources=("load.cmm", "dump_info"),
                                   cmm_base=cmm_base)
    except ValueError as e:
        raise GeneratorError("folder", str(e)) from e


def shuffled(entries: Sequence[TableEntry], seed: int) -> list[TableEntry]:
    """Same entries in another order (never the original one): the assembler must map by
    address, not by position."""
    return oracle_folder.shuffled(entries, seed)


def without(entries: Sequence[TableEntry], filename: str) -> list[TableEntry]:
    try:
        return oracle_folder.without(entries, filename)
    except ValueError as e:
        raise GeneratorError("folder", str(e)) from e
