"""Qualcomm vendor minidumps: the log without VMCOREINFO (docs/triage.md#vendor-minidumps).

Vendor kernels of 5.10 and later register the lockless ring's three arrays as
``md_KLOGBUF`` (the text ring), ``md_LOG_DESC`` (the descriptors) and ``md_LOG_INFO`` (the
infos), with no ring header: sizes come from the regions themselves (a power-of-two text
ring; ``n`` descriptors of 24 bytes and ``n`` infos of 88 bytes on 64-bit, 12 and 88 on
32-bit) and the 5.10+ layouts are assumed. Older vendor kernels register ``log_buf`` alone
as ``md_KLOGBUF``: its records are walked without indices (see qdlpy.triage.legacy).
"""

from __future__ import annotations

from .errors import CorruptLog, MissingRegion, NoLog
from .legacy import read_vendor_legacy
from .lockless import MAX_COUNT_BITS, MAX_SIZE_BITS, VENDOR_LAYOUTS, Ring, read_ring
from .records import LogRead
from .target import Dump, NamedRegion

__all__ = ["has_vendor_log", "read_vendor", "read_vendor_regions"]


def has_vendor_log(dump: Dump) -> bool:
    return any(dump.region(r) is not None for r in ("klogbuf", "log_desc", "log_info"))


def _bits(n: int) -> int | None:
    return n.bit_length() - 1 if n > 0 and n & (n - 1) == 0 else None


def _present(reg: NamedRegion | None, name: str) -> NamedRegion:
    if reg is None:
        raise MissingRegion(f"{name} is not in the dump: the vendor log needs md_KLOGBUF, "
                            "md_LOG_DESC and md_LOG_INFO")
    if reg.blob.present == 0:
        raise MissingRegion(f"{name} ({reg.name}) is listed but its bytes are not in the dump")
    return reg


def read_vendor_regions(text: NamedRegion, descs: NamedRegion | None,
                        infos: NamedRegion | None) -> LogRead:
    """The log of vendor regions (``descs``/``infos`` None: the legacy ``log_buf``)."""
    if descs is None and infos is None:
        out = LogRead("vendor-log_buf", "")
        legacy = read_vendor_legacy(text.blob, out)
        if legacy is None:
            raise NoLog(f"{text.name} holds no printk_log records in any layout qdlpy knows, "
                        "and md_LOG_DESC/md_LOG_INFO are absent, so it is not the 5.10+ ring")
        out.detail = (f"vendor log_buf in {text.name}, no VMCOREINFO: assumed {legacy.name}; "
                      "records found by their own lengths and timestamps")
        return out
    d = _present(descs, "md_LOG_DESC (the descriptors)")
    i = _present(infos, "md_LOG_INFO (the record infos)")
    size_bits = _bits(text.blob.length)
    if size_bits is None or not 3 < size_bits <= MAX_SIZE_BITS:
        raise CorruptLog(f"{text.name} is {text.blob.length} bytes: the text ring of the 5.10+ "
                         "layout is a power of two")
    for word, lay in VENDOR_LAYOUTS.items():
        count = d.blob.length // lay.desc_size
        bits = _bits(count)
        if bits is None or count * lay.desc_size != d.blob.length or \
                i.blob.length != count * lay.info_size or bits > MAX_COUNT_BITS:
            continue
        out = LogRead("vendor-lockless",
                      f"vendor lockless ring: {text.name} + {d.name} + {i.name}, no VMCOREINFO: "
                      f"assumed the 5.10+ {8 * word}-bit layout (prb_desc {lay.desc_size} bytes, "
                      f"printk_info {lay.info_size} bytes), {count} descriptors, "
                      f"{text.blob.length}-byte text ring; records ordered by seq")
        read_ring(Ring(lay, bits, size_bits, d.blob, i.blob, text.blob), out)
        for reg in (text, d, i):
            if reg.blob.present < reg.blob.length:
                out.warnings.append(f"{reg.name}: only {reg.blob.present} of its "
                                    f"{reg.blob.length} bytes are in the dump; records outside "
                                    "them are skipped")
        return out
    raise CorruptLog(f"{d.name} ({d.blob.length} bytes) and {i.name} ({i.blob.length} bytes) do "
                     "not hold the same power-of-two number of 5.10+ descriptors (24 or 12 "
                     "bytes) and infos (88 bytes)")


def read_vendor(dump: Dump) -> LogRead:
    text = dump.region("klogbuf")
    descs, infos = dump.region("log_desc"), dump.region("log_info")
    if text is None:
        raise MissingRegion("md_KLOGBUF (the text of the vendor log) is not in the dump")
    _present(text, "md_KLOGBUF (the text of the vendor log)")
    return read_vendor_regions(text, descs, infos)
