"""The kernel's lockless printk ring buffer (Linux 5.10 and later, 64-bit), byte for byte,
and the text a dmesg reader prints from it.

Layout (``struct printk_ringbuffer`` and friends; offsets as the kernel exports them in
VMCOREINFO, which is all that kexec-tools' vmcore-dmesg and makedumpfile read):

* ``printk_ringbuffer``: ``desc_ring`` at 0 (``count_bits`` u32 at 0, ``descs`` at 8,
  ``infos`` at 16, ``head_id`` at 24, ``tail_id`` at 32), ``text_data_ring`` at 40
  (``size_bits`` u32 at 0, ``data`` at 8, ``head_lpos`` at 16, ``tail_lpos`` at 24),
  ``fail`` at 72: 80 bytes;
* ``prb_desc`` (24 bytes): ``state_var`` at 0 (state in the top two bits: 2 = finalized,
  the record id below), ``text_blk_lpos`` at 8 (``begin`` at 0, ``next`` at 8);
* ``printk_info`` (88 bytes): ``seq`` at 0, ``ts_nsec`` at 8, ``text_len`` u16 at 16,
  ``facility`` u8 at 18, ``flags:5 level:3`` u8 at 19, ``caller_id`` u32 at 20;
* a text block in the data ring: the record id (8 bytes) then the text, each block aligned
  to 8 bytes; ``begin``/``next`` are logical positions (modulo the ring size).

A reader prints each committed record between ``tail_id`` and ``head_id`` as
``[%5u.%06u] text`` (seconds and microseconds of ``ts_nsec``), escaping other bytes than
printable ASCII and white space as ``\\xNN``.
"""

from __future__ import annotations

import dataclasses
import struct

__all__ = ["Message", "Ring", "RING_SIZE", "DESC_SIZE", "INFO_SIZE", "build_ring",
           "vmcoreinfo_lines", "dmesg_text"]

RING_SIZE, DESC_SIZE, INFO_SIZE = 80, 24, 88
_FINALIZED = 2


@dataclasses.dataclass(frozen=True)
class Message:
    ts_nsec: int
    text: bytes
    level: int = 6


@dataclasses.dataclass(frozen=True)
class Ring:
    """The three arrays and the ring buffer structure, for given addresses."""

    ringbuffer: bytes  # struct printk_ringbuffer
    descs: bytes
    infos: bytes
    data: bytes


def build_ring(messages: list[Message], *, count_bits: int, size_bits: int, descs_va: int,
               infos_va: int, data_va: int) -> Ring:
    count, size = 1 << count_bits, 1 << size_bits
    if len(messages) > count:
        raise ValueError("more messages than descriptors")
    descs, infos, data = bytearray(count * DESC_SIZE), bytearray(count * INFO_SIZE), bytearray(
        size)
    lpos = 0
    for rid, msg in enumerate(messages):
        block = 8 + len(msg.text)
        block += -block % 8
        if lpos + block > size:
            raise ValueError("the messages do not fit the data ring")
        data[lpos : lpos + 8] = struct.pack("<Q", rid)
        data[lpos + 8 : lpos + 8 + len(msg.text)] = msg.text
        d = (rid % count) * DESC_SIZE
        descs[d : d + DESC_SIZE] = struct.pack("<QQQ", (_FINALIZED << 62) | rid, lpos,
                                               lpos + block)
        i = (rid % count) * INFO_SIZE
        infos[i : i + 24] = struct.pack("<QQHBBI", rid, msg.ts_nsec, len(msg.text), 0,
                                        msg.level << 5, 0)
        lpos += block
    head = max(0, len(messages) - 1)
    ring = struct.pack("<IIQQQQ", count_bits, 0, descs_va, infos_va, head, 0)
    ring += struct.pack("<IIQQQ", size_bits, 0, data_va, lpos, 0) + bytes(8)
    assert len(ring) == RING_SIZE
    return Ring(ring, bytes(descs), bytes(infos), bytes(data))


def vmcoreinfo_lines() -> list[str]:
    """The VMCOREINFO lines describing this layout (decimal, as the kernel writes them)."""
    sizes = {"printk_ringbuffer": RING_SIZE, "prb_desc": DESC_SIZE, "printk_info": INFO_SIZE}
    offsets = {
        "printk_ringbuffer.desc_ring": 0, "printk_ringbuffer.text_data_ring": 40,
        "prb_desc_ring.count_bits": 0, "prb_desc_ring.descs": 8, "prb_desc_ring.infos": 16,
        "prb_desc_ring.head_id": 24, "prb_desc_ring.tail_id": 32,
        "prb_data_ring.size_bits": 0, "prb_data_ring.data": 8, "prb_data_ring.head_lpos": 16,
        "prb_data_ring.tail_lpos": 24, "atomic_long_t.counter": 0, "prb_desc.state_var": 0,
        "prb_desc.text_blk_lpos": 8, "prb_data_blk_lpos.begin": 0, "prb_data_blk_lpos.next": 8,
        "printk_info.seq": 0, "printk_info.ts_nsec": 8, "printk_info.text_len": 16,
        "printk_info.caller_id": 20, "printk_info.dev_info": 24,
        "dev_printk_info.subsystem": 0, "dev_printk_info.device": 16,
    }
    return ([f"SIZE({k})={v}" for k, v in sizes.items()]
            + [f"OFFSET({k})={v}" for k, v in offsets.items()])


def _escape(text: bytes) -> str:
    out = []
    for c in text:
        printable = 0x20 <= c <= 0x7E or c in b"\t\n\v\f\r"
        out.append(chr(c) if printable else f"\\x{c:02x}")
    return "".join(out)


def dmesg_text(messages: list[Message], *, text_of: list[bytes] | None = None) -> str:
    """What a dmesg reader prints; ``text_of`` replaces each record's text bytes (what the
    reader finds in the data ring when the ring's own bytes are not there)."""
    lines = []
    for k, msg in enumerate(messages):
        sec, rem = divmod(msg.ts_nsec, 1_000_000_000)
        text = msg.text if text_of is None else text_of[k]
        lines.append(f"[{sec:5d}.{rem // 1000:06d}] {_escape(text)}\n")
    return "".join(lines)
