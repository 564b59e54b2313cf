"""What a log reader returns: records, and an account of what it could not read."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from .textfmt import escape, line, stamp

__all__ = ["Record", "LogRead", "caller_text"]

_CALLER_CPU = 0x80000000  # printk's caller_id: this bit set = a CPU number, else a thread id


def caller_text(caller_id: int | None) -> str | None:
    """``T<pid>`` or ``C<cpu>`` as the kernel prints a caller id."""
    if caller_id is None:
        return None
    if caller_id & _CALLER_CPU:
        return f"C{caller_id & ~_CALLER_CPU}"
    return f"T{caller_id}"


@dataclasses.dataclass(slots=True)
class Record:
    """One printk record."""

    seq: int | None  # None where the layout has no sequence number (log_buf)
    ts_nsec: int
    text: bytes  # raw bytes as the kernel stored them
    caller_id: int | None = None
    data_lost: bool = False  # the kernel could not store the text (a data-less block)
    truncated: bool = False  # text_len was longer than its data block: cut, as vmcore-dmesg

    def line(self) -> bytes:
        return line(self.ts_nsec, self.text)

    @property
    def timestamp(self) -> str:
        return stamp(self.ts_nsec).decode()[1:-2].strip()

    @property
    def printable(self) -> str:
        """The text escaped exactly as in ``line`` (ASCII only)."""
        return escape(self.text).decode("ascii")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"seq": self.seq, "ts_nsec": self.ts_nsec,
                             "timestamp": self.timestamp, "caller": caller_text(self.caller_id),
                             "text": self.printable}
        if self.data_lost:
            d["data_lost"] = True
        if self.truncated:
            d["truncated"] = True
        return d


@dataclasses.dataclass
class LogRead:
    """The records of one log, the layout read, and what was skipped and why."""

    layout: str  # lockless | log_buf | vendor-lockless | vendor-log_buf
    detail: str  # which structures, from where (said to the user)
    records: list[Record] = dataclasses.field(default_factory=list)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skipped_text(self) -> str:
        return "; ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
