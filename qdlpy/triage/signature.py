"""Crash signatures: one string per bug, the same on every device that hit it.

A signature is the primary incident's first line and its top call-trace frames, with what
varies between occurrences normalised away (docs/triage.md#signatures-and-grouping):
addresses and other hex numbers, PIDs, CPU numbers, timestamps, durations, oops counters,
frame offsets; frames that only report the crash (dump_stack, panic, die, the exception
entry) are not counted as top frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .incidents import FRAME, Incident

__all__ = ["Signature", "signature", "group", "normalise_line"]

TOP_FRAMES = 4
_REPORTING = frozenset((
    "dump_backtrace", "show_stack", "dump_stack", "dump_stack_lvl", "panic", "die", "__die",
    "die_kernel_fault", "oops_end", "arm64_notify_die", "do_kernel_fault", "__do_kernel_fault",
    "do_page_fault", "do_translation_fault", "do_mem_abort", "do_bad_area", "el1_abort",
    "el1_da", "el1h_64_sync_handler", "el1h_64_sync", "el1_sync_handler", "el1_sync",
    "exc_page_fault", "asm_exc_page_fault", "page_fault_oops", "kernelmode_fixup_or_oops",
    "no_context", "__bad_area_nosemaphore", "bad_area_nosemaphore", "do_user_addr_fault",
    "handle_page_fault", "__warn", "warn_slowpath_fmt", "report_bug", "handle_bug",
    "exc_invalid_op", "asm_exc_invalid_op", "bug_handler", "brk_handler", "call_break_hook",
    "do_debug_exception", "el1_dbg", "el1h_64_sync_handler", "show_regs", "__show_regs",
    "watchdog_timer_fn", "print_irqtrace_events",
))
_SUBS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "ADDR"),
    (re.compile(r"\b[0-9a-fA-F]{8,}\b"), "ADDR"),
    (re.compile(r"\b(CPU|cpu)[#: ]*\d+"), r"\1 N"),
    (re.compile(r"\bPID: ?\d+"), "PID: N"),
    (re.compile(r"\b(pid|tgid)[ =:]+\d+", re.IGNORECASE), r"\1 N"),
    (re.compile(r"\[([\w./-]+):\d+\]"), r"[\1:N]"),
    (re.compile(r"\[#\d+\]"), "[#N]"),
    (re.compile(r"\b\d+(\.\d+)?s\b"), "Ns"),
    (re.compile(r"\b\d+ (seconds|jiffies|ms)\b"), r"N \1"),
    (re.compile(r"\s+"), " "),
]


def normalise_line(line: str) -> str:
    out = line.strip()
    for pattern, repl in _SUBS:
        out = pattern.sub(repl, out)
    return out


def _frame_name(frame: str) -> str | None:
    m = FRAME.match(frame)
    if m is None or m.group("unreliable"):
        return None
    name = m.group("func")
    name = re.sub(r"\.(cold|isra|constprop|part|llvm)\.?\d*$", "", name)
    return f"{name} [{m.group('module')}]" if m.group("module") else name


def top_frames(frames: Sequence[str], n: int = TOP_FRAMES) -> list[str]:
    names = [f for f in (_frame_name(x) for x in frames) if f is not None]
    kept = [f for f in names if f.split(" ")[0] not in _REPORTING]
    return (kept or names)[:n]


@dataclasses.dataclass(frozen=True)
class Signature:
    text: str  # normalised first line | frame < frame < ...
    id: str  # 12 hex digits of its sha256
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "text": self.text}


def signature(inc: Incident) -> Signature:
    parts = [normalise_line(inc.first_line)]
    frames = top_frames(inc.frames)
    if frames:
        parts.append(" < ".join(frames))
    text = " | ".join(parts)
    return Signature(text, hashlib.sha256(text.encode()).hexdigest()[:12], inc.kind)


def group(items: Iterable[tuple[str, Signature | None]]) -> \
        list[tuple[Signature | None, list[str]]]:
    """Targets grouped by signature, largest group first (no signature: one group)."""
    groups: dict[str | None, tuple[Signature | None, list[str]]] = {}
    for target, sig in items:
        key = sig.id if sig is not None else None
        groups.setdefault(key, (sig, []))[1].append(target)
    return sorted(groups.values(), key=lambda g: (-len(g[1]), g[0] is None,
                                                  g[0].text if g[0] else ""))
