"""What every oracle region set has: its table rows, the damage tests apply, the folder."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .folder import TableEntry, write_folder

if TYPE_CHECKING:  # annotations only: the oracle runs on the standard library
    from typing_extensions import Self

__all__ = ["RegionSet"]


@dataclasses.dataclass(frozen=True)
class RegionSet:
    """Kernel table rows (table order, each with its oracle key ``region_id``) plus the
    other items a device lists after them. Damage methods return a new set; ``expected()``
    (in the subclasses) says what a correct assembler builds from the damaged set."""

    rows: tuple[TableEntry, ...]
    extras: tuple[TableEntry, ...]

    # --- lookups --------------------------------------------------------------------------

    def row(self, region_id: int) -> TableEntry:
        for r in self.rows:
            if r.region_id == region_id:
                return r
        raise KeyError(region_id)

    def file_of(self, region_id: int) -> str:
        return self.row(region_id).filename

    def files(self) -> dict[int, bytes | None]:
        """region id -> its file's bytes (None: listed, no file); absent ids are missing."""
        out: dict[int, bytes | None] = {}
        for r in self.rows:
            if r.region_id is not None:
                out.setdefault(r.region_id, r.data)
        return out

    # --- damage ---------------------------------------------------------------------------

    def _with_rows(self, rows: Iterable[TableEntry]) -> Self:
        return dataclasses.replace(self, rows=tuple(rows))

    def shuffled(self, seed: int = 1) -> Self:
        """Table order != id order (nothing else changes)."""
        rows = list(self.rows)
        while [r.filename for r in rows] == [r.filename for r in self.rows]:
            random.Random(seed).shuffle(rows)
            seed += 1
        return self._with_rows(rows)

    def without(self, region_id: int) -> Self:
        """The region is not in the table (and has no file)."""
        self.row(region_id)
        return self._with_rows(r for r in self.rows if r.region_id != region_id)

    def without_file(self, region_id: int) -> Self:
        """The table lists the region but its file is not on disk."""
        return self.with_row(region_id, data=None)

    def with_file(self, region_id: int, data: bytes) -> Self:
        """Same table entry (length included), other file bytes (a short or long download,
        garbage)."""
        return self.with_row(region_id, data=data, length=self.row(region_id).table_length)

    def with_row(self, region_id: int, **changes: Any) -> Self:
        self.row(region_id)
        return self._with_rows(dataclasses.replace(r, **changes) if r.region_id == region_id
                               else r for r in self.rows)

    def plus(self, *entries: TableEntry) -> Self:
        """More kernel table entries after the others."""
        return self._with_rows([*self.rows, *entries])

    # --- on disk --------------------------------------------------------------------------

    def table(self, *, extras: bool = True) -> list[TableEntry]:
        return [*self.rows, *(self.extras if extras else ())]

    def write(self, dest: Path, *, source: str = "manifest", case: str = "as-is",
              extras: bool = True) -> Path:
        """The dump folder: region files and one address file (``source`` = manifest,
        dump_info or load.cmm; ``none`` writes only the region files)."""
        sources = () if source == "none" else (source,)
        return write_folder(dest, self.table(extras=extras), sources=sources, case=case)
