"""Panics, oopses, BUGs, warnings, lockups and RCU stalls found in the log, with their trace.

The kernel prints one crash as several lines that each look like a start ("Unable to handle
kernel paging request", "Internal error: Oops", ..., "Kernel panic - not syncing"); they are
one incident while its report runs, i.e. until its call trace ends, an ``---[ end`` line or
80 lines. docs/triage.md#panics-and-oopses lists the patterns.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .records import Record

__all__ = ["Incident", "find_incidents", "primary", "FRAME", "SEVERITY"]

# (kind, pattern) in the order a line is tested; searched anywhere in the line because
# some come with a prefix ("watchdog: BUG: soft lockup", "rcu: INFO: ...").
_TRIGGERS: list[tuple[str, re.Pattern[str]]] = [
    ("panic", re.compile(r"Kernel panic - not syncing")),
    ("soft-lockup", re.compile(r"BUG: soft lockup")),
    ("hard-lockup", re.compile(r"[Hh]ard LOCKUP")),
    ("rcu-stall", re.compile(r"rcu.*(detected stalls?|self-detected stall)")),
    ("hung-task", re.compile(r"INFO: task .* blocked for more than")),
    ("oops", re.compile(r"^(Internal error: |Oops[: ])")),
    ("oops", re.compile(r"^Unable to handle kernel ")),
    ("bug", re.compile(r"^(BUG: |kernel BUG at )")),
    ("warning", re.compile(r"^WARNING: ")),
]
# An incident takes its most severe line's kind: x86's "BUG: kernel NULL pointer
# dereference" followed by "Oops:" is an oops.
SEVERITY = {"panic": 6, "oops": 5, "bug": 4, "hard-lockup": 3, "soft-lockup": 3,
            "rcu-stall": 2, "hung-task": 2, "warning": 1}
_TRACE_START = re.compile(r"^\s*Call [Tt]race:")
FRAME = re.compile(r"^\s*(?P<unreliable>\? )?(?P<func>[\w.$]+)\+0x[0-9a-f]+/0x[0-9a-f]+"
                   r"(?: \[(?P<module>[\w-]+)\])?")
_TRACE_MARK = re.compile(r"^\s*</?(TASK|IRQ|NMI|SOFTIRQ|EOI)>\s*$")
_END = re.compile(r"^---\[ end ")
_MAX_LINES = 80


@dataclasses.dataclass
class Incident:
    kind: str  # the most severe kind among its trigger lines
    first_line: str  # the first trigger line
    seq: int | None
    ts_nsec: int
    lines: list[str]  # the excerpt, escaped as in the log
    frames: list[str]  # "func+0x1c/0x40 [module]" of the first call trace, in order
    panic_line: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "first_line": self.first_line, "seq": self.seq,
                "ts_nsec": self.ts_nsec, "panic_line": self.panic_line,
                "lines": list(self.lines), "call_trace": list(self.frames)}


def _kind(line: str) -> str | None:
    for kind, pattern in _TRIGGERS:
        if pattern.search(line):
            return kind
    return None


def _lines(records: list[Record]) -> list[tuple[int, str]]:
    """(record index, one escaped line) for every line of every record."""
    out: list[tuple[int, str]] = []
    for i, r in enumerate(records):
        for part in r.printable.split("\n"):
            out.append((i, part))
    return out


def _same_report(current: str, new: str) -> bool:
    """Whether a trigger line continues the report in progress: an oops is announced in
    several lines ("Unable to handle ..." / "BUG: ..." then "Internal error: Oops" /
    "Oops:"); anything else starts a new incident (a panic that ends one is joined to it
    afterwards)."""
    return current in ("oops", "bug") and new in ("oops", "bug")


def _collect(lines: list[tuple[int, str]], start: int, records: list[Record]) -> \
        tuple[Incident, int]:
    """The incident starting at ``lines[start]`` and the index after its last line."""
    rec_i, first = lines[start]
    kind = _kind(first) or "warning"
    inc = Incident(kind, first, records[rec_i].seq, records[rec_i].ts_nsec, [first], [])
    if kind == "panic":
        inc.panic_line = first
    in_trace = traced = False
    i = start + 1
    while i < len(lines) and len(inc.lines) < _MAX_LINES:
        text = lines[i][1]
        end = bool(_END.match(text))
        k = None if end else _kind(text)
        if k is not None and not _same_report(inc.kind, k):
            break
        if _TRACE_START.match(text):
            in_trace = True
        elif in_trace and not (FRAME.match(text) or _TRACE_MARK.match(text)):
            in_trace, traced = False, True
            if not (k or end or text.startswith("Code: ")):
                break
        elif in_trace and FRAME.match(text) and not traced:
            inc.frames.append(text.strip())
        if k is not None and SEVERITY[k] > SEVERITY[inc.kind]:
            inc.kind = k
        inc.lines.append(text)
        i += 1
        if end:
            break
    return inc, i


_PANIC_FOLLOWS = 40  # "Kernel panic" this many lines after a report ends is its outcome


def find_incidents(records: list[Record]) -> list[Incident]:
    lines = _lines(records)
    out: list[Incident] = []
    i, prev_end = 0, -1
    while i < len(lines):
        if _kind(lines[i][1]) is None:
            i += 1
            continue
        start = i
        inc, i = _collect(lines, i, records)
        last = out[-1] if out else None
        if inc.kind == "panic" and last is not None and last.panic_line is None and \
                start - prev_end <= _PANIC_FOLLOWS:
            # The oops report ended (its trace, "---[ end trace"); the panic that follows
            # is how it ended, not a new incident.
            last.panic_line = inc.first_line
            last.lines += ["..." if start > prev_end else "", *inc.lines][: _MAX_LINES]
            last.lines = [x for x in last.lines if x]
            last.kind = "panic" if SEVERITY[last.kind] < SEVERITY["oops"] else last.kind
        else:
            out.append(inc)
        prev_end = i
    return out


def primary(incidents: list[Incident]) -> Incident | None:
    """The incident a triager looks at first: the one that panicked, else the most severe
    (the earliest among equals)."""
    for inc in incidents:
        if inc.panic_line is not None and inc.kind != "panic":
            return inc
    if not incidents:
        return None
    return max(incidents, key=lambda x: (SEVERITY[x.kind], -incidents.index(x)))
