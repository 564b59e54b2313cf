"""Find the kernel log's structures from VMCOREINFO (docs/triage.md#vmcoreinfo-keys-used).

``lockless_ring`` follows ``SYMBOL(prb)`` to the ``printk_ringbuffer`` and from it to the
descriptor, info and text arrays; ``legacy_buffer`` follows ``SYMBOL(log_buf)`` and its
companions. Both raise :class:`MissingKey` naming the VMCOREINFO key that is absent and
:class:`MissingRegion` naming the memory that is not in the dump; a partly present array
is returned with a warning (its readers skip what is missing).
"""

from __future__ import annotations

import dataclasses

from .blob import Blob
from .errors import CorruptLog, MissingRegion, NoLog
from .lockless import MAX_COUNT_BITS, MAX_SIZE_BITS, Ring, RingLayout
from .memory import Memory
from .vmcoreinfo import Vmcoreinfo

__all__ = ["lockless_ring", "legacy_buffer", "LegacyBuffer", "array"]

MAX_LOG_BUF = 1 << 31  # printk's LOG_BUF_LEN_MAX


def array(mem: Memory, va: int, size: int, what: str, warnings: list[str]) -> Blob:
    """``size`` bytes at ``va``; MissingRegion when none is in the dump, a warning when only
    some are."""
    blob = mem.blob(va, size)
    have = blob.present
    if have == 0:
        raise MissingRegion(f"{what} ({size} bytes at 0x{va:x}) is not in the dump")
    if have < size:
        warnings.append(f"{what}: only {have} of its {size} bytes (at 0x{va:x}) are in the "
                        "dump; records outside them are skipped")
    return blob


def _pointer(mem: Memory, va: int, what: str) -> int:
    value = mem.word_at(va)
    if value is None:
        raise MissingRegion(f"{what} (at 0x{va:x}) is not in the dump")
    return value


def _layout(vi: Vmcoreinfo, word: int, endian: str) -> RingLayout:
    counter = vi.offset("atomic_long_t.counter") if "OFFSET(atomic_long_t.counter)" in vi else 0
    lpos = vi.offset("prb_desc.text_blk_lpos")
    lay = RingLayout(
        word=word, endian=endian, desc_size=vi.size("prb_desc"),
        state_off=vi.offset("prb_desc.state_var") + counter,
        begin_off=lpos + vi.offset("prb_data_blk_lpos.begin"),
        next_off=lpos + vi.offset("prb_data_blk_lpos.next"),
        info_size=vi.size("printk_info"), seq_off=vi.offset("printk_info.seq"),
        ts_off=vi.offset("printk_info.ts_nsec"), text_len_off=vi.offset("printk_info.text_len"),
        caller_off=vi.offset("printk_info.caller_id")
        if "OFFSET(printk_info.caller_id)" in vi else None)
    why = lay.check()
    if why:
        raise CorruptLog(f"VMCOREINFO describes an impossible printk ring: {why}")
    return lay


def lockless_ring(mem: Memory, vi: Vmcoreinfo, warnings: list[str]) -> Ring:
    """The lockless ring ``prb`` points to."""
    lay = _layout(vi, mem.word, mem.endian)
    prb_va = vi.symbol("prb")
    rb = _pointer(mem, prb_va, "prb (the pointer to the printk ring)")
    rb_size = vi.size("printk_ringbuffer")
    head = mem.read(rb, rb_size)
    if head is None:
        raise MissingRegion(f"the printk ring header prb points to ({rb_size} bytes at "
                            f"0x{rb:x}: printk_rb_dynamic or printk_rb_static) is not in the "
                            "dump")
    counter = vi.offset("atomic_long_t.counter") if "OFFSET(atomic_long_t.counter)" in vi else 0
    desc_ring = vi.offset("printk_ringbuffer.desc_ring")
    text_ring = vi.offset("printk_ringbuffer.text_data_ring")
    fields = {
        "count_bits": (desc_ring + vi.offset("prb_desc_ring.count_bits"), 4),
        "descs": (desc_ring + vi.offset("prb_desc_ring.descs"), lay.word),
        "infos": (desc_ring + vi.offset("prb_desc_ring.infos"), lay.word),
        "head_id": (desc_ring + vi.offset("prb_desc_ring.head_id") + counter, lay.word),
        "tail_id": (desc_ring + vi.offset("prb_desc_ring.tail_id") + counter, lay.word),
        "size_bits": (text_ring + vi.offset("prb_data_ring.size_bits"), 4),
        "data": (text_ring + vi.offset("prb_data_ring.data"), lay.word),
    }
    val: dict[str, int] = {}
    for name, (off, size) in fields.items():
        if off + size > rb_size:
            raise CorruptLog(f"VMCOREINFO puts printk_ringbuffer's {name} at offset {off}, "
                             f"outside its {rb_size} bytes")
        val[name] = int.from_bytes(head[off : off + size],
                                   "little" if lay.endian == "<" else "big")
    if not 0 < val["count_bits"] <= MAX_COUNT_BITS or not 3 < val["size_bits"] <= MAX_SIZE_BITS:
        raise CorruptLog(f"the printk ring at 0x{rb:x} claims 2^{val['count_bits']} "
                         f"descriptors and a 2^{val['size_bits']}-byte text ring: not a ring "
                         "any kernel allocates")
    count, size = 1 << val["count_bits"], 1 << val["size_bits"]
    return Ring(lay, val["count_bits"], val["size_bits"],
                array(mem, val["descs"], count * lay.desc_size,
                      "prb_descs (the descriptor array)", warnings),
                array(mem, val["infos"], count * lay.info_size,
                      "prb_infos (the record info array)", warnings),
                array(mem, val["data"], size, "prb_data (the text ring)", warnings),
                head_id=val["head_id"], tail_id=val["tail_id"])


@dataclasses.dataclass
class LegacyBuffer:
    """``log_buf`` and where its records start and end (Linux 3.5 to 5.9)."""

    data: Blob
    first_idx: int
    next_idx: int
    header_size: int  # sizeof(struct printk_log)
    ts_off: int
    len_off: int
    text_len_off: int
    endian: str


def legacy_buffer(mem: Memory, vi: Vmcoreinfo, warnings: list[str]) -> LegacyBuffer:
    if not vi.has_symbol("log_first_idx"):
        raise NoLog("VMCOREINFO has SYMBOL(log_buf) but no SYMBOL(log_first_idx): a kernel "
                    "before 3.5, whose plain-text log_buf qdlpy does not read")
    struct_name = "printk_log" if "SIZE(printk_log)" in vi else "log"  # "log" before 3.11
    header = vi.size(struct_name)
    ts_off = vi.offset(f"{struct_name}.ts_nsec")
    len_off = vi.offset(f"{struct_name}.len")
    text_len_off = vi.offset(f"{struct_name}.text_len")
    if max(ts_off + 8, len_off + 2, text_len_off + 2) > header:
        raise CorruptLog(f"VMCOREINFO's struct {struct_name} fields do not fit its {header} bytes")
    buf = _pointer(mem, vi.symbol("log_buf"), "log_buf (the pointer to the log buffer)")
    length = mem.s32_at(vi.symbol("log_buf_len"))
    first = mem.u32_at(vi.symbol("log_first_idx"))
    nxt = mem.u32_at(vi.symbol("log_next_idx"))
    for name, value in (("log_buf_len", length), ("log_first_idx", first),
                        ("log_next_idx", nxt)):
        if value is None:
            raise MissingRegion(f"{name} (at SYMBOL({name})) is not in the dump")
    assert length is not None and first is not None and nxt is not None
    if not header < length <= MAX_LOG_BUF:
        raise CorruptLog(f"log_buf_len is {length}: not a log buffer size")
    if first > length - header or nxt > length - header:
        raise CorruptLog(f"log_first_idx {first} / log_next_idx {nxt} lie outside the "
                         f"{length}-byte log_buf")
    blob = array(mem, buf, length, "log_buf (the log buffer)", warnings)
    return LegacyBuffer(blob, first, nxt, header, ts_off, len_off, text_len_off, mem.endian)
