"""A model of the kernel's printk writers, for building test rings with plain ``struct``.

Written from the kernel's writer side (kernel/printk/printk_ringbuffer.c: desc_reserve,
desc_push_tail, data_alloc, data_push_tail, prb_reserve/prb_commit/prb_final_commit, and
printk.c's log_store for the older log_buf), independently of qdlpy's readers: the rings it
builds are judged by vmcore-dmesg, and qdlpy's output is compared with vmcore-dmesg's.
"""

from __future__ import annotations

import dataclasses
import struct

RESERVED, COMMITTED, FINALIZED, REUSABLE = 0, 1, 2, 3
FAILED_LPOS, NO_LPOS = 0x1, 0x3


@dataclasses.dataclass
class Layout:
    """Where fields sit in prb_desc / printk_info (offsets are free: VMCOREINFO says them)."""

    word: int = 8
    endian: str = "<"
    desc_size: int = 24
    state_off: int = 0
    begin_off: int = 8
    next_off: int = 16
    info_size: int = 88
    seq_off: int = 0
    ts_off: int = 8
    text_len_off: int = 16
    caller_off: int = 20

    @classmethod
    def for_word(cls, word: int, endian: str = "<") -> Layout:
        return cls(word, endian, 3 * word, 0, word, 2 * word)


class LocklessRing:
    """The lockless ring as the kernel's writers leave it."""

    def __init__(self, count_bits: int, size_bits: int, layout: Layout | None = None) -> None:
        self.lay = layout or Layout()
        self.count, self.size, self.size_bits = 1 << count_bits, 1 << size_bits, size_bits
        self.count_bits = count_bits
        bits = 8 * self.lay.word
        self.lpos_mask = (1 << bits) - 1
        self.id_mask = (1 << (bits - 2)) - 1
        self.flag_shift = bits - 2
        # Bootstrap (the _DEFINE_PRINTKRB initialiser): DESC0_ID in the last slot, reusable.
        desc0 = (-(self.count + 1)) & self.id_mask
        self.head_id = self.tail_id = desc0
        self.descs = [[0, 0, 0] for _ in range(self.count)]  # state_var, begin, next
        self.descs[self.count - 1] = [self.sv(desc0, REUSABLE), FAILED_LPOS, FAILED_LPOS]
        self.infos = [{"seq": 0, "ts": 0, "text_len": 0, "caller": 0}
                      for _ in range(self.count)]
        self.infos[0]["seq"] = (-self.count) & ((1 << 64) - 1)
        self.data = bytearray(self.size)
        self.head_lpos = self.tail_lpos = (-self.size) & self.lpos_mask
        self.wrapped_blocks = 0  # how many data blocks wrapped (tests want at least one)

    # --- helpers --------------------------------------------------------------------------
    def sv(self, rid: int, state: int) -> int:
        return (state << self.flag_shift) | (rid & self.id_mask)

    def state(self, rid: int) -> int | None:
        sv = self.descs[rid % self.count][0]
        return sv >> self.flag_shift if sv & self.id_mask == rid else None

    def _wraps(self, lpos: int) -> int:
        return lpos >> self.size_bits

    def _word(self, value: int) -> bytes:
        return value.to_bytes(self.lay.word, "little" if self.lay.endian == "<" else "big")

    # --- data ring ------------------------------------------------------------------------
    def _push_data_tail(self, lpos: int) -> bool:
        """Invalidate the oldest blocks until the tail reaches ``lpos`` (data_push_tail)."""
        while ((lpos - self.tail_lpos - 1) & self.lpos_mask) < self.size:  # unsigned in C
            at = self.tail_lpos % self.size
            rid = int.from_bytes(self.data[at : at + self.lay.word],
                                 "little" if self.lay.endian == "<" else "big")
            st = self.state(rid)
            if st not in (FINALIZED, REUSABLE):
                return False
            d = self.descs[rid % self.count]
            if d[1] != self.tail_lpos:
                return False
            d[0] = self.sv(rid, REUSABLE)
            self.tail_lpos = d[2]
        return True

    def _alloc(self, nbytes: int, rid: int) -> tuple[int, int]:
        if nbytes == 0:
            return NO_LPOS, NO_LPOS
        size = (nbytes + self.lay.word + self.lay.word - 1) // self.lay.word * self.lay.word
        if size > self.size - self.lay.word:
            return FAILED_LPOS, FAILED_LPOS
        begin = self.head_lpos
        nxt = (begin + size) & self.lpos_mask
        wraps = self._wraps(begin) != self._wraps((begin + size) & self.lpos_mask)
        if wraps:
            nxt = ((self._wraps((begin + size) & self.lpos_mask) << self.size_bits) + size) \
                & self.lpos_mask
        if (nxt - self.tail_lpos) & self.lpos_mask > 2 * self.size:
            # The kernel's data_push_tail assumes a block never reaches a full ring past the
            # tail; printk's records (at most 1 KiB) in rings of at least 4 KiB keep it so.
            raise ValueError(f"a {size}-byte block is too large for a {self.size}-byte ring")
        if not self._push_data_tail((nxt - self.size) & self.lpos_mask):
            return FAILED_LPOS, FAILED_LPOS
        self.data[begin % self.size : begin % self.size + self.lay.word] = self._word(rid)
        if wraps:
            self.data[0 : self.lay.word] = self._word(rid)
            self.wrapped_blocks += 1
        self.head_lpos = nxt
        return begin, nxt

    # --- descriptor ring ------------------------------------------------------------------
    def _push_desc_tail(self) -> None:
        tail = self.tail_id
        st = self.state(tail)
        d = self.descs[tail % self.count]
        if st in (RESERVED, COMMITTED):
            raise RuntimeError("the ring is full of unfinished records")
        if st == FINALIZED:
            d[0] = self.sv(tail, REUSABLE)
        if d[1] & 1 == 0 and not self._push_data_tail(d[2]):
            raise RuntimeError("cannot free the data of the tail record")
        self.tail_id = (tail + 1) & self.id_mask

    def reserve(self, text: bytes, ts: int, caller: int = 1) -> int:
        """prb_reserve + the caller filling the record; returns the id (state reserved)."""
        rid = (self.head_id + 1) & self.id_mask
        if (rid - self.count) & self.id_mask == self.tail_id:
            self._push_desc_tail()
        slot = rid % self.count
        self.descs[slot][0] = self.sv(rid, RESERVED)
        self.head_id = rid
        prev = (rid - 1) & self.id_mask
        if self.state(prev) == COMMITTED:
            self.descs[prev % self.count][0] = self.sv(prev, FINALIZED)
        info = self.infos[slot]
        seq = info["seq"]
        seq = slot if seq == 0 and slot != 0 else (seq + self.count) & ((1 << 64) - 1)
        self.infos[slot] = {"seq": seq, "ts": 0, "text_len": 0, "caller": 0}
        begin, nxt = self._alloc(len(text), rid)
        self.descs[slot][1:] = [begin, nxt]
        if begin == FAILED_LPOS:
            return rid  # data-less record: no text, no timestamp (the caller gives up)
        self.infos[slot].update(ts=ts, text_len=len(text), caller=caller)
        at = 0 if self._wraps(begin) != self._wraps((nxt - 1) & self.lpos_mask) else \
            begin % self.size
        self.data[at + self.lay.word : at + self.lay.word + len(text)] = text
        return rid

    def commit(self, rid: int, final: bool = True) -> None:
        self.descs[rid % self.count][0] = self.sv(rid, FINALIZED if final else COMMITTED)

    def write(self, text: bytes, ts: int, caller: int = 1, final: bool = True) -> int:
        rid = self.reserve(text, ts, caller)
        self.commit(rid, final)
        return rid

    # --- memory images --------------------------------------------------------------------
    def desc_bytes(self) -> bytes:
        lay = self.lay
        out = bytearray(lay.desc_size * self.count)
        w = "I" if lay.word == 4 else "Q"
        for i, (sv, begin, nxt) in enumerate(self.descs):
            base = i * lay.desc_size
            struct.pack_into(lay.endian + w, out, base + lay.state_off, sv)
            struct.pack_into(lay.endian + w, out, base + lay.begin_off, begin)
            struct.pack_into(lay.endian + w, out, base + lay.next_off, nxt)
        return bytes(out)

    def info_bytes(self) -> bytes:
        lay = self.lay
        out = bytearray(lay.info_size * self.count)
        for i, info in enumerate(self.infos):
            base = i * lay.info_size
            struct.pack_into(lay.endian + "Q", out, base + lay.seq_off, info["seq"])
            struct.pack_into(lay.endian + "Q", out, base + lay.ts_off, info["ts"])
            struct.pack_into(lay.endian + "H", out, base + lay.text_len_off, info["text_len"])
            struct.pack_into(lay.endian + "I", out, base + lay.caller_off, info["caller"])
        return bytes(out)

    def header_bytes(self, descs_va: int, infos_va: int,
                     data_va: int) -> tuple[bytes, dict[str, int]]:
        """struct printk_ringbuffer (the 6.1 member order) and its VMCOREINFO offsets."""
        w = self.lay.word
        e = self.lay.endian
        wf = "I" if w == 4 else "Q"
        desc_ring = 0
        off = {"count_bits": 0, "descs": w, "infos": 2 * w, "head_id": 3 * w, "tail_id": 4 * w}
        desc_ring_size = 6 * w
        text_ring = desc_ring_size
        toff = {"size_bits": 0, "data": w, "head_lpos": 2 * w, "tail_lpos": 3 * w}
        size = text_ring + 4 * w + w
        buf = bytearray(size)
        struct.pack_into(e + "I", buf, desc_ring + off["count_bits"], self.count_bits)
        struct.pack_into(e + wf, buf, desc_ring + off["descs"], descs_va)
        struct.pack_into(e + wf, buf, desc_ring + off["infos"], infos_va)
        struct.pack_into(e + wf, buf, desc_ring + off["head_id"], self.head_id)
        struct.pack_into(e + wf, buf, desc_ring + off["tail_id"], self.tail_id)
        struct.pack_into(e + "I", buf, text_ring + toff["size_bits"], self.size_bits)
        struct.pack_into(e + wf, buf, text_ring + toff["data"], data_va)
        struct.pack_into(e + wf, buf, text_ring + toff["head_lpos"], self.head_lpos)
        struct.pack_into(e + wf, buf, text_ring + toff["tail_lpos"], self.tail_lpos)
        keys = {"SIZE(printk_ringbuffer)": size, "OFFSET(printk_ringbuffer.desc_ring)": 0,
                "OFFSET(printk_ringbuffer.text_data_ring)": text_ring,
                **{f"OFFSET(prb_desc_ring.{k})": v for k, v in off.items()},
                **{f"OFFSET(prb_data_ring.{k})": v for k, v in toff.items()}}
        return bytes(buf), keys

    def layout_keys(self) -> dict[str, int]:
        lay = self.lay
        return {"SIZE(prb_desc)": lay.desc_size, "OFFSET(prb_desc.state_var)": lay.state_off,
                "OFFSET(prb_desc.text_blk_lpos)": lay.begin_off,
                "OFFSET(prb_data_blk_lpos.begin)": 0,
                "OFFSET(prb_data_blk_lpos.next)": lay.next_off - lay.begin_off,
                "SIZE(printk_info)": lay.info_size, "OFFSET(printk_info.seq)": lay.seq_off,
                "OFFSET(printk_info.ts_nsec)": lay.ts_off,
                "OFFSET(printk_info.text_len)": lay.text_len_off,
                "OFFSET(printk_info.caller_id)": lay.caller_off,
                "OFFSET(atomic_long_t.counter)": 0}


class LegacyLog:
    """printk.c's log_store into a record log_buf (3.5 to 5.9)."""

    def __init__(self, length: int, header: int = 16, align: int = 4, caller: bool = False,
                 endian: str = "<") -> None:
        self.buf = bytearray(length)
        self.length, self.header, self.align, self.caller, self.endian = \
            length, header, align, caller, endian
        self.first_idx = self.next_idx = 0
        self.first_seq = self.next_seq = 0
        self.wraps = 0

    def _len_at(self, idx: int) -> int:
        return int(struct.unpack_from(self.endian + "H", self.buf, idx + 8)[0])

    def _log_next(self, idx: int) -> int:
        """log_next(): at a lap marker the record at 0 counts as this one."""
        n = self._len_at(idx)
        return self._len_at(0) if n == 0 else idx + n

    def _has_space(self, size: int, empty: bool) -> bool:
        if self.next_idx > self.first_idx or empty:
            free = max(self.length - self.next_idx, self.first_idx)
        else:
            free = self.first_idx - self.next_idx
        return free >= size + self.header

    def store(self, text: bytes, ts: int, dict_bytes: bytes = b"", caller: int = 0) -> bool:
        size = self.header + len(text) + len(dict_bytes)
        size += -size % self.align
        while self.first_seq < self.next_seq and not self._has_space(size, False):
            self.first_idx = self._log_next(self.first_idx)
            self.first_seq += 1
        if not self._has_space(size, self.first_seq == self.next_seq):
            return False  # too long for the buffer (the kernel would truncate it)
        if self.next_idx + size + self.header > self.length:
            self.buf[self.next_idx : self.next_idx + self.header] = bytes(self.header)
            self.next_idx = 0
            self.wraps += 1
        at = self.next_idx
        hdr = struct.pack(self.endian + "QHHHBB", ts, size, len(text), len(dict_bytes), 0,
                          (6 << 5) | 0x2)
        if self.caller:
            hdr += struct.pack(self.endian + "I", caller)
        self.buf[at : at + size] = (hdr.ljust(self.header, b"\0") + text + dict_bytes).ljust(
            size, b"\0")
        self.next_idx = at + size
        self.next_seq += 1
        return True
