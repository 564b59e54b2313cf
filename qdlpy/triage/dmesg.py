"""``qdlpy.dmesg(path)``: the kernel log of a dump, as vmcore-dmesg prints it.

JSON schema ``qdlpy.dmesg/1`` (history: 1 = first version): ``status`` ok|partial,
``target``, ``kind`` elf|folder, ``layout`` lockless|log_buf|vendor-lockless|vendor-log_buf,
``layout_detail``, ``records_total``, ``records`` [{seq, ts_nsec, timestamp, caller, text,
data_lost?, truncated?}], ``skipped`` {reason: count}, ``warnings``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from .kernel_log import read_log
from .records import LogRead, Record
from .target import open_dump

__all__ = ["DmesgResult", "dmesg", "read_target_log"]


@dataclasses.dataclass
class DmesgResult:
    target: str
    kind: str  # elf | folder
    layout: str
    layout_detail: str
    records: list[Record]
    records_total: int  # before --tail
    skipped: dict[str, int]
    warnings: list[str]

    @property
    def status(self) -> str:
        return "partial" if self.skipped or self.warnings else "ok"

    @property
    def assumed(self) -> bool:
        """True when the layout was assumed (no VMCOREINFO described it)."""
        return self.layout.startswith("vendor")

    def text(self) -> bytes:
        """The log exactly as vmcore-dmesg prints it."""
        return b"".join(r.line() for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "target": self.target, "kind": self.kind,
                "layout": self.layout, "layout_detail": self.layout_detail,
                "records_total": self.records_total,
                "records": [r.to_dict() for r in self.records],
                "skipped": dict(self.skipped), "warnings": list(self.warnings)}


def read_target_log(path: str | os.PathLike[str]) -> tuple[str, LogRead, list[str]]:
    """(kind, log, notes from opening the target)."""
    with open_dump(os.fspath(path)) as dump:
        log = read_log(dump)
        return dump.kind, log, list(dump.notes)


def dmesg(path: str | os.PathLike[str], *, tail: int | None = None) -> DmesgResult:
    """The kernel log of an ELF core or a dump folder (assembled in memory, nothing written).

    ``tail``: keep only the last ``tail`` records. Raises ``qdlpy.triage.errors.MissingKey``
    / ``MissingRegion`` / ``CorruptLog`` / ``NoLog`` (all InputError, exit 10) naming what is
    missing.
    """
    kind, log, _notes = read_target_log(path)
    records = log.records if tail is None else log.records[max(0, len(log.records) - tail):]
    if tail is not None and tail <= 0:
        records = []
    return DmesgResult(os.fspath(path), kind, log.layout, log.detail, records,
                       len(log.records), dict(log.skipped), list(log.warnings))
