"""Which of the regions triage reads are in the dump, and what each absence costs.

docs/triage.md#what-each-absence-costs has the same table in prose. Presence is measured in
the dump itself (bytes at the address VMCOREINFO gives, or the named region's file), so a
region that was pulled short shows as partial.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .errors import CorruptLog, MissingKey
from .memory import Memory
from .target import Dump
from .vmcoreinfo import Vmcoreinfo

__all__ = ["RegionStatus", "coverage"]


@dataclasses.dataclass
class RegionStatus:
    name: str
    status: str  # present | partial | missing
    detail: str  # bytes present, where
    cost: str  # what its absence costs ("" when present)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# name -> (what a missing one costs, what a partial one costs)
_COSTS: dict[str, tuple[str, str]] = {
    "vmcoreinfo": (("no VMCOREINFO: the log, the build ID and the uts name cannot be located; "
                   "crash works only with --minimal"), ""),
    "prb": ("no log: prb (the pointer to the printk ring) missing", ""),
    "printk ring header": (("no log: the printk_ringbuffer prb points to (printk_rb_dynamic or "
                           "printk_rb_static) missing"), ""),
    "prb_descs": ("no log: prb_descs missing", "records whose descriptor is missing are skipped"),
    "prb_infos": ("no log: prb_infos missing", "records whose info is missing are skipped"),
    "prb_data": ("no log: prb_data missing", "records whose text is missing are skipped"),
    "log_buf": ("no log: log_buf missing", "the walk stops where the buffer is missing"),
    "md_KLOGBUF": ("no log: md_KLOGBUF missing", "records whose text is missing are skipped"),
    "md_LOG_DESC": ("no log: md_LOG_DESC missing (md_KLOGBUF alone is read as log_buf)",
                    "records whose descriptor is missing are skipped"),
    "md_LOG_INFO": ("no log: md_LOG_INFO missing", "records whose info is missing are skipped"),
    "init_uts_ns": (("no node name and no version string (the release still comes from "
                    "VMCOREINFO or linux_banner)"), "node name or version may be missing"),
    "linux_banner": ("no banner (compiler and build host)", ""),
    "tainted_mask": ("taint flags only from the log's last Tainted: line", ""),
    "taint_flags": ("taint letters from qdlpy's own table, which may lag new kernels", ""),
}


def _status(name: str, have: int, size: int, where: str) -> RegionStatus:
    missing_cost, partial_cost = _COSTS[name]
    if have >= size > 0:
        return RegionStatus(name, "present", f"{size} bytes{where}", "")
    if have > 0:
        return RegionStatus(name, "partial", f"{have} of {size} bytes{where}", partial_cost)
    return RegionStatus(name, "missing", f"0 of {size} bytes{where}" if size else where.strip(),
                        missing_cost)


def _at(mem: Memory, va: int, size: int, name: str) -> RegionStatus:
    return _status(name, mem.present(va, size), size, f" at 0x{va:x}")


def _lockless(mem: Memory, vi: Vmcoreinfo) -> list[RegionStatus]:
    out: list[RegionStatus] = []
    prb = vi.symbol("prb")
    out.append(_at(mem, prb, mem.word, "prb"))
    rb = mem.word_at(prb)
    if rb is None:
        return out
    size = vi.size("printk_ringbuffer")
    out.append(_at(mem, rb, size, "printk ring header"))
    head = mem.read(rb, size)
    if head is None:
        return out
    big = mem.endian == ">"

    def field(off: int, n: int) -> int:
        if off + n > len(head):
            return 0
        return int.from_bytes(head[off : off + n], "big" if big else "little")

    dr, tr = vi.offset("printk_ringbuffer.desc_ring"), vi.offset("printk_ringbuffer.text_data_ring")
    count_bits = field(dr + vi.offset("prb_desc_ring.count_bits"), 4)
    size_bits = field(tr + vi.offset("prb_data_ring.size_bits"), 4)
    if not 0 < count_bits <= 22 or not 3 < size_bits <= 31:
        return out
    count = 1 << count_bits
    for name, ptr_off, total in (
            ("prb_descs", dr + vi.offset("prb_desc_ring.descs"), count * vi.size("prb_desc")),
            ("prb_infos", dr + vi.offset("prb_desc_ring.infos"), count * vi.size("printk_info")),
            ("prb_data", tr + vi.offset("prb_data_ring.data"), 1 << size_bits)):
        out.append(_at(mem, field(ptr_off, mem.word), total, name))
    return out


def _symbol_checks(dump: Dump) -> list[RegionStatus]:
    vi, mem = dump.vmcoreinfo, dump.memory
    if vi is None or mem is None:
        return []
    out: list[RegionStatus] = []
    steps: list[Callable[[], list[RegionStatus]]] = []
    if vi.has_symbol("prb"):
        steps.append(lambda: _lockless(mem, vi))
    elif vi.has_symbol("log_buf"):
        def log_buf() -> list[RegionStatus]:
            ptr = mem.word_at(vi.symbol("log_buf"))
            length = mem.s32_at(vi.symbol("log_buf_len")) if vi.has_symbol("log_buf_len") else None
            if ptr is None or length is None or not 0 < length <= 1 << 31:
                return [RegionStatus("log_buf", "missing", "its pointer or length is missing",
                                     _COSTS["log_buf"][0])]
            return [_at(mem, ptr, length, "log_buf")]
        steps.append(log_buf)
    if vi.has_symbol("init_uts_ns"):
        steps.append(lambda: [_at(mem, vi.symbol("init_uts_ns"), 6 * 65, "init_uts_ns")])
    for step in steps:
        try:
            out += step()
        except (MissingKey, CorruptLog):
            continue
    return out


def _named(dump: Dump, done: set[str]) -> list[RegionStatus]:
    out: list[RegionStatus] = []
    names = {"klogbuf": "md_KLOGBUF", "log_desc": "md_LOG_DESC", "log_info": "md_LOG_INFO",
             "init_uts_ns": "init_uts_ns", "linux_banner": "linux_banner",
             "tainted_mask": "tainted_mask", "taint_flags": "taint_flags"}
    vendor = any(dump.region(r) for r in ("klogbuf", "log_desc", "log_info"))
    for role, name in names.items():
        if name in done:
            continue
        reg = dump.region(role)
        if reg is None:
            expected = (vendor and role in ("klogbuf", "log_desc", "log_info")) or \
                (dump.style == "kmemdump" and role in ("tainted_mask", "linux_banner"))
            if expected:
                out.append(RegionStatus(name, "missing", "not in the region table",
                                        _COSTS[name][0]))
            continue
        out.append(_status(name, reg.blob.present, reg.blob.length, f" in {reg.name}"))
    return out


def coverage(dump: Dump) -> list[RegionStatus]:
    out: list[RegionStatus] = []
    if dump.core is not None and dump.style != "downstream":
        out.append(RegionStatus("vmcoreinfo", "present" if dump.vmcoreinfo else "missing", "",
                                "" if dump.vmcoreinfo else _COSTS["vmcoreinfo"][0]))
    out += _symbol_checks(dump)
    done = {s.name for s in out}
    out += _named(dump, done)
    return out
