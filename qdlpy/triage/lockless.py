"""The lockless printk ring buffer (Linux 5.10 and later), read from its three arrays.

The ring is a descriptor array (``prb_desc``: a state word, then the begin/next logical
positions of the text block), an info array (``printk_info``: seq, timestamp, text length,
caller id, ...) with one entry per descriptor, and a text ring of data blocks, each
starting with the id of its descriptor. docs/triage.md#the-lockless-ring describes the rules
this module relies on; in short:

* a descriptor's state word holds its id in the low bits and its state in the top two
  (0 reserved, 1 committed, 2 finalized, 3 reusable); only committed and finalized records
  are printed, and only when the id is the one the walk expects at that slot;
* a text block either lies inside one lap of the ring (``begin < next``) or wraps, in which
  case its bytes are at the start of the ring; both positions are word aligned and the
  block holds at least the id;
* data-less blocks (odd positions, ``begin == next``) are records without text.

With VMCOREINFO the walk goes from the ring's tail id to its head id, as vmcore-dmesg does,
so the output is the same. Without it (vendor minidumps) every slot whose descriptor id
belongs to that slot and whose state is committed or finalized is taken, ordered by seq.
Beyond vmcore-dmesg, a record is printed only when it can be proven: its descriptor, info
and text bytes are in the dump, its text block is well formed and starts with the record's
own id, and its seq belongs to its slot. Everything else is counted and said.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterator

from .blob import Blob, Buffer
from .records import LogRead, Record

__all__ = ["RingLayout", "Ring", "read_ring", "MAX_COUNT_BITS", "MAX_SIZE_BITS",
           "VENDOR_LAYOUTS"]

MAX_COUNT_BITS = 22  # 4 Mi descriptors: far beyond any CONFIG_LOG_BUF_SHIFT (max 25 - 5)
MAX_SIZE_BITS = 31  # printk's LOG_BUF_LEN_MAX
_COMMITTED, _FINALIZED = 1, 2
_FAILED_LPOS = 0x1  # a data-less block whose text could not be stored


@dataclasses.dataclass(frozen=True)
class RingLayout:
    """Byte positions inside ``struct prb_desc`` and ``struct printk_info``."""

    word: int  # sizeof(unsigned long)
    endian: str  # "<" or ">"
    desc_size: int
    state_off: int  # state_var's counter
    begin_off: int  # text_blk_lpos.begin
    next_off: int  # text_blk_lpos.next
    info_size: int
    seq_off: int
    ts_off: int
    text_len_off: int
    caller_off: int | None

    def check(self) -> str | None:
        """Why the layout cannot be right, or None."""
        w = self.word
        if self.desc_size < 3 * w or self.info_size < 18:
            return f"prb_desc of {self.desc_size} or printk_info of {self.info_size} bytes"
        for name, off, size, within in (
                ("state_var", self.state_off, w, self.desc_size),
                ("text_blk_lpos.begin", self.begin_off, w, self.desc_size),
                ("text_blk_lpos.next", self.next_off, w, self.desc_size),
                ("printk_info.seq", self.seq_off, 8, self.info_size),
                ("printk_info.ts_nsec", self.ts_off, 8, self.info_size),
                ("printk_info.text_len", self.text_len_off, 2, self.info_size),
                ("printk_info.caller_id", self.caller_off or 0, 4, self.info_size)):
            if off + size > within:
                return f"{name} at offset {off} does not fit its {within}-byte structure"
        return None


def _vendor(word: int) -> RingLayout:
    # The 5.10+ structures: prb_desc {atomic_long_t state_var; {ulong begin, next}}, and
    # printk_info {u64 seq; u64 ts_nsec; u16 text_len; u8 facility; u8 flags:5, level:3;
    # u32 caller_id; struct dev_printk_info {char subsystem[16]; char device[48]}} = 88.
    return RingLayout(word, "<", 3 * word, 0, word, 2 * word, 88, 0, 8, 16, 20)


VENDOR_LAYOUTS = {8: _vendor(8), 4: _vendor(4)}


@dataclasses.dataclass
class Ring:
    layout: RingLayout
    count_bits: int
    size_bits: int
    descs: Blob
    infos: Blob
    data: Blob
    head_id: int | None = None  # None: no ring header (vendor minidumps)
    tail_id: int | None = None

    @property
    def count(self) -> int:
        return 1 << self.count_bits

    @property
    def data_size(self) -> int:
        return 1 << self.size_bits


Unpack = Callable[[Buffer, int], tuple[int, ...]]


def _gather(endian: str, fields: list[tuple[int, str]]) -> Unpack:
    """One unpack of several fields at fixed offsets, returned in the order given (the
    offsets come from VMCOREINFO; overlapping ones fall back to one unpack each)."""
    order = sorted(range(len(fields)), key=lambda i: fields[i][0])
    fmt, pos = endian, 0
    for i in order:
        off, code = fields[i]
        if off < pos:
            each = [(o, struct.Struct(endian + c)) for o, c in fields]
            return lambda buf, at: tuple(st.unpack_from(buf, at + o)[0] for o, st in each)
        fmt += (f"{off - pos}x" if off > pos else "") + code
        pos = off + struct.calcsize(endian + code)
    unpack = struct.Struct(fmt).unpack_from
    if order == list(range(len(fields))):
        return unpack
    where = [order.index(i) for i in range(len(fields))]
    return lambda buf, at: tuple(unpack(buf, at)[j] for j in where)


class _Reader:
    """Decodes records of one ring; per-slot structs are precompiled for speed."""

    def __init__(self, ring: Ring, out: LogRead) -> None:
        lay = ring.layout
        self.ring, self.out, self.lay = ring, out, lay
        wf = "I" if lay.word == 4 else "Q"
        self.word_s = struct.Struct(lay.endian + wf)
        self.desc_unpack = _gather(lay.endian, [(lay.state_off, wf), (lay.begin_off, wf),
                                                (lay.next_off, wf)])
        info_fields = [(lay.seq_off, "Q"), (lay.ts_off, "Q"), (lay.text_len_off, "H")]
        if lay.caller_off is not None:
            info_fields.append((lay.caller_off, "I"))
        self.info_unpack = _gather(lay.endian, info_fields)
        self.bits = lay.word * 8
        self.lpos_mask = (1 << self.bits) - 1
        self.shift = self.bits - 2
        self.id_mask = (1 << self.shift) - 1
        self.descs = ring.descs.buffer()  # fast paths when an array is whole
        self.infos = ring.infos.buffer()
        self.data = ring.data.buffer()

    def desc(self, slot: int) -> tuple[int, ...] | None:
        """(state_var, begin, next) of a slot."""
        at = slot * self.lay.desc_size
        buf = self.descs
        if buf is None:
            buf, at = self.ring.descs.get(at, self.lay.desc_size), 0
            if buf is None:
                return None
        return self.desc_unpack(buf, at)

    def info(self, slot: int) -> tuple[int, ...] | None:
        """(seq, ts_nsec, text_len[, caller_id]) of a slot."""
        at = slot * self.lay.info_size
        buf = self.infos
        if buf is None:
            buf, at = self.ring.infos.get(at, self.lay.info_size), 0
            if buf is None:
                return None
        return self.info_unpack(buf, at)

    def _bytes(self, at: int, n: int) -> bytes | None:
        if self.data is not None:
            return bytes(self.data[at : at + n])
        return self.ring.data.get(at, n)

    def text(self, rid: int, begin: int, nxt: int, text_len: int) -> tuple[bytes, bool] | str:
        """(text, truncated) of a data block, or why it cannot be trusted."""
        size, bits, word, mask = (self.ring.data_size, self.ring.size_bits, self.lay.word,
                                  self.lpos_mask)
        if begin & 1 or nxt & 1:  # data-less: no text was stored
            return (b"", False) if begin == nxt else "invalid text block positions"
        # Positions are unsigned longs that overflow: sizes are taken modulo the word.
        span = (nxt - begin) & mask
        if 0 < span <= size and begin >> bits == ((nxt - 1) & mask) >> bits:
            at, block = begin & (size - 1), span  # inside one lap (or ending exactly at it)
        elif ((begin + size) & mask) >> bits == nxt >> bits:
            at, block = 0, nxt & (size - 1)  # wrapped: the bytes are at the ring's start
        else:
            return "invalid text block positions"
        if begin % word or nxt % word or block < word or block > size:
            return "invalid text block positions"
        head = self._bytes(at, word)
        if head is None:
            return "text not in the dump"
        if self.word_s.unpack(head)[0] & self.id_mask != rid:
            return "text block overwritten by a newer record"
        room = block - word
        text = self._bytes(at + word, min(text_len, room))
        if text is None:
            return "text not in the dump"
        return text, text_len > room  # vmcore-dmesg cuts such a record to its block

    def record(self, rid: int, slot: int) -> Record | str | None:
        """The record of id ``rid`` at ``slot``; a reason when it cannot be proven; None
        when the slot holds no record for that id (not an error: the kernel skips it too)."""
        d = self.desc(slot)
        if d is None:
            return "descriptors not in the dump"
        state_var, begin, nxt = d
        if state_var & self.id_mask != rid or state_var >> self.shift not in (_COMMITTED,
                                                                              _FINALIZED):
            return None
        inf = self.info(slot)
        if inf is None:
            return "record infos not in the dump"
        seq, ts, text_len = inf[:3]
        caller = inf[3] if len(inf) > 3 else None
        if seq % self.ring.count != slot:
            return "record info does not belong to its descriptor"
        got = self.text(rid, begin, nxt, text_len)
        if isinstance(got, str):
            return got
        text, truncated = got
        # FAILED_LPOS: the kernel could not store the text; NO_LPOS: the text was empty.
        return Record(seq, ts, text, caller, data_lost=begin == nxt == _FAILED_LPOS,
                      truncated=truncated)

    def walk(self) -> Iterator[tuple[int, int]]:
        """(id, slot) from tail to head (a ring header is known and consistent)."""
        ring = self.ring
        assert ring.head_id is not None and ring.tail_id is not None
        tail = ring.tail_id & self.id_mask
        span = (ring.head_id - tail) & self.id_mask
        for k in range(span + 1):
            rid = (tail + k) & self.id_mask
            yield rid, rid % ring.count

    def scan(self) -> Iterator[tuple[int, int]]:
        """(id, slot) of every slot whose committed/finalized id belongs to it, by seq."""
        found: list[tuple[int, int, int]] = []
        for slot in range(self.ring.count):
            d = self.desc(slot)
            if d is None:
                self.out.skip("descriptors not in the dump")
                continue
            rid = d[0] & self.id_mask
            if rid % self.ring.count != slot or d[0] >> self.shift not in (_COMMITTED,
                                                                          _FINALIZED):
                continue
            inf = self.info(slot)
            found.append((inf[0] if inf is not None else -1, rid, slot))
        for _, rid, slot in sorted(found):
            yield rid, slot


def read_ring(ring: Ring, out: LogRead) -> None:
    """Append the ring's provable records to ``out`` (and count what was skipped)."""
    reader = _Reader(ring, out)
    order: Iterator[tuple[int, int]]
    if ring.head_id is not None and ring.tail_id is not None:
        span = (ring.head_id - ring.tail_id) & reader.id_mask
        if span >= ring.count:
            out.warnings.append(f"the ring's head id {ring.head_id} and tail id {ring.tail_id} "
                                f"are {span} apart in a ring of {ring.count}: the header is "
                                "damaged; records were taken slot by slot, ordered by seq")
            order = reader.scan()
        else:
            order = reader.walk()
    else:
        order = reader.scan()
    for rid, slot in order:
        got = reader.record(rid, slot)
        if isinstance(got, Record):
            out.records.append(got)
        elif got is not None:
            out.skip(got)
