"""The record-based ``log_buf`` of Linux 3.5 to 5.9 (docs/triage.md#the-legacy-log_buf).

Records (``struct printk_log``: u64 ts_nsec, u16 len, u16 text_len, u16 dict_len, u8
facility, u8 flags:5/level:3, [u32 caller_id]) follow each other in ``log_buf``; ``len`` is
the whole record, padded to the record alignment; a record with ``len == 0`` marks the end
of a lap and the walk goes on at offset 0.

With VMCOREINFO the walk starts at ``log_first_idx`` and ends at ``log_next_idx``, as
vmcore-dmesg's does, except that the lap marker is not printed (vmcore-dmesg prints an
empty ``[    0.000000] `` line for it; no such record exists) and a walk that loops or
leaves the buffer stops with a warning instead of an exit.

Vendor minidumps register ``log_buf`` alone (``md_KLOGBUF``), without the indices. Then the
records are found by their own consistency: ``len`` equals the aligned header + text +
dictionary size, timestamps never go backwards along a chain. The newest lap is the chain
from offset 0; the oldest records are the longest chain that ends exactly at a lap marker
(or the end of the buffer) with timestamps no later than the newest lap's first.
"""

from __future__ import annotations

import dataclasses
import struct

from .blob import Blob
from .locate import LegacyBuffer
from .records import LogRead, Record

__all__ = ["read_legacy", "VendorLegacyLayout", "VENDOR_LEGACY_LAYOUTS", "read_vendor_legacy"]


def read_legacy(buf: LegacyBuffer, out: LogRead) -> None:
    """Walk ``log_first_idx`` -> ``log_next_idx``."""
    data, length = buf.data, buf.data.length
    u64, u16 = struct.Struct(buf.endian + "Q"), struct.Struct(buf.endian + "H")
    idx, wrapped = buf.first_idx, False
    limit = length // max(buf.header_size, 4) + 2  # more records than fit = a loop
    steps = 0
    while idx != buf.next_idx:
        steps += 1
        head = data.get(idx, buf.header_size)
        if steps > limit or head is None:
            why = ("the records loop" if steps > limit else
                   f"the log_buf bytes at offset {idx} are not in the dump")
            out.warnings.append(f"log_buf walk stopped: {why}; {len(out.records)} records read")
            return
        rec_len = u16.unpack_from(head, buf.len_off)[0]
        if rec_len == 0:  # end of a lap
            if wrapped:
                out.warnings.append("log_buf walk stopped: a second lap marker (the buffer "
                                    "is damaged)")
                return
            idx, wrapped = 0, True
            continue
        text_len = u16.unpack_from(head, buf.text_len_off)[0]
        text = data.get(idx + buf.header_size, text_len)
        if text is None or buf.header_size + text_len > rec_len:
            out.skip("text not in the dump" if text is None else "record length too short")
        else:
            out.records.append(Record(None, u64.unpack_from(head, buf.ts_off)[0], text))
        idx += rec_len
        if idx > length - buf.header_size:
            out.warnings.append(f"log_buf walk stopped: a record leads to offset {idx}, outside "
                                f"the {length}-byte buffer")
            return


@dataclasses.dataclass(frozen=True)
class VendorLegacyLayout:
    """``struct printk_log`` as a vendor kernel may have built it."""

    header: int  # 16; 20 with CONFIG_PRINTK_CALLER (packed); 24 when 8-byte aligned
    align: int  # LOG_ALIGN: 4 where unaligned access is cheap (arm64, x86), else 8
    caller: bool

    @property
    def name(self) -> str:
        return (f"struct printk_log of {self.header} bytes, records aligned to {self.align}"
                + (", with caller_id" if self.caller else ""))


VENDOR_LEGACY_LAYOUTS = (VendorLegacyLayout(16, 4, False), VendorLegacyLayout(16, 8, False),
                         VendorLegacyLayout(20, 4, True), VendorLegacyLayout(24, 8, True))
_HDR = struct.Struct("<QHHHBB")  # ts_nsec, len, text_len, dict_len, facility, flags|level


class _Chain:
    """Record validity at every aligned offset of a vendor log_buf, for one layout."""

    def __init__(self, data: Blob, lay: VendorLegacyLayout) -> None:
        self.data, self.lay = data, lay

    def header(self, off: int) -> tuple[int, int, int, int] | None:
        """(ts, len, text_len, level) of a plausible record at ``off``; (0, 0, 0, 0) for a
        lap marker; None otherwise."""
        raw = self.data.get(off, self.lay.header)
        if raw is None:
            return None
        ts, rec_len, text_len, dict_len, facility, flags = _HDR.unpack_from(raw)
        if rec_len == 0:
            return (0, 0, 0, 0) if not raw.strip(b"\0") else None
        need = self.lay.header + text_len + dict_len
        if rec_len != need + (-need % self.lay.align) or off + rec_len > self.data.length:
            return None
        if facility > 23:  # syslog facilities are 0..23; the kernel logs as 0, /dev/kmsg 1
            return None
        return ts, rec_len, text_len, flags >> 5

    def run(self, start: int, stop_ts: int | None) -> list[int]:
        """Offsets of the records chained from ``start`` (non-decreasing timestamps)."""
        out: list[int] = []
        off, last = start, -1
        while off + self.lay.header <= self.data.length:
            h = self.header(off)
            if h is None or h[1] == 0 or h[0] < last or (stop_ts is not None and h[0] > stop_ts):
                break
            out.append(off)
            last = h[0]
            off += h[1]
        return out

    def reaches_marker(self, start: int, memo: dict[int, bool]) -> bool:
        """Whether the chain from ``start`` ends exactly at a lap marker or the buffer end
        (each offset is decided once: a hostile buffer cannot make this quadratic)."""
        path: list[int] = []
        off, result = start, False
        while True:
            if off in memo:
                result = memo[off]
                break
            h = self.header(off) if off + self.lay.header <= self.data.length else None
            if h is None:
                result = off == self.data.length and bool(path)  # a chain that fills the end
                break
            if h[1] == 0:
                result = bool(path)
                break
            nxt = off + h[1]
            after = self.header(nxt) if nxt + self.lay.header <= self.data.length else None
            path.append(off)
            if after is not None and after[1] and after[0] < h[0]:
                result = False  # time goes backwards: not one lap
                break
            off = nxt
        for p in path:
            memo[p] = result
        return result


def _oldest(ch: _Chain, newest: list[int], newest_end: int) -> list[int]:
    """The oldest lap: from the first aligned offset after the newest lap whose chain ends
    at the lap marker, with timestamps no later than the newest lap's first record."""
    if not newest:
        return []
    first = ch.header(newest[0])
    assert first is not None
    memo: dict[int, bool] = {}
    off = newest_end
    while off + ch.lay.header <= ch.data.length:
        if ch.reaches_marker(off, memo):
            chain = ch.run(off, None)
            last = ch.header(chain[-1]) if chain else None
            return chain if last is not None and last[0] <= first[0] else []
        off += ch.lay.align
    return []


def _collect(ch: _Chain) -> list[int]:
    newest = ch.run(0, None)
    end = 0
    if newest:
        h = ch.header(newest[-1])
        assert h is not None
        end = newest[-1] + h[1]
    return _oldest(ch, newest, end) + newest


def read_vendor_legacy(data: Blob, out: LogRead) -> VendorLegacyLayout | None:
    """Records of a vendor ``log_buf`` without indices; the layout that explained the most
    bytes is used and returned (None when no layout finds a record)."""
    best: tuple[int, VendorLegacyLayout, list[int]] | None = None
    for lay in VENDOR_LEGACY_LAYOUTS:
        ch = _Chain(data, lay)
        offs = _collect(ch)
        score = sum(lay.header + (ch.header(o) or (0, 0, 0, 0))[2] for o in offs)
        if offs and (best is None or score > best[0]):
            best = (score, lay, offs)
    if best is None:
        return None
    _, lay, offs = best
    ch = _Chain(data, lay)
    for off in offs:
        h = ch.header(off)
        assert h is not None
        text = data.get(off + lay.header, h[2])
        caller = None
        if lay.caller:
            raw = data.get(off + 16, 4)
            caller = None if raw is None else int.from_bytes(raw, "little")
        if text is None:
            out.skip("text not in the dump")
            continue
        out.records.append(Record(None, h[0], text, caller))
    return best[1]
