"""Entry points for fuzz harnesses: each reader, fed raw bytes.

Every function either returns what the reader found or raises a ``QdlpyError``; any other
exception, a hang or an allocation far beyond the input's size is a bug. The bytes are cut
into the reader's inputs as each docstring says, so a fuzzer's mutations reach every field.
"""

from __future__ import annotations

from .blob import Blob
from .elfcore import ElfCore
from .kernel_log import read_log
from .legacy import read_legacy, read_vendor_legacy
from .locate import LegacyBuffer
from .lockless import VENDOR_LAYOUTS, Ring, read_ring
from .memory import Memory
from .records import LogRead
from .source import BytesSource
from .target import Dump
from .translate import translator
from .vmcoreinfo import Vmcoreinfo

__all__ = ["fuzz_elf_core", "fuzz_lockless_ring", "fuzz_log_buf", "fuzz_vendor_log_buf"]


def fuzz_elf_core(data: bytes) -> LogRead:
    """``data`` is a whole ELF core: headers, notes (VMCOREINFO) and memory."""
    from pathlib import Path

    core = ElfCore(BytesSource(data), "fuzz input")
    raw = core.vmcoreinfo()
    vi = Vmcoreinfo(raw) if raw is not None else None
    dump = Dump(Path("fuzz input"), "elf", core, Memory(core, translator(core, vi)), vi)
    return read_log(dump)


def fuzz_lockless_ring(data: bytes) -> LogRead:
    """Byte 0: descriptor count bits (low 3 bits + 1), byte 1: text ring size bits (low 3
    bits + 6), bytes 2-17: head and tail ids, then the descriptor array, the info array and
    the text ring (64-bit layout); whatever is short is missing from the dump."""
    head = data[:18].ljust(18, b"\0")
    count_bits, size_bits = (head[0] & 7) + 1, (head[1] & 7) + 6
    lay = VENDOR_LAYOUTS[8]
    count, size = 1 << count_bits, 1 << size_bits
    rest = data[18:]
    parts = []
    for length in (count * lay.desc_size, count * lay.info_size, size):
        parts.append(Blob(length, [(0, rest[:length])]))
        rest = rest[length:]
    ring = Ring(lay, count_bits, size_bits, parts[0], parts[1], parts[2],
                head_id=int.from_bytes(head[2:10], "little") or None,
                tail_id=int.from_bytes(head[10:18], "little") or None)
    out = LogRead("lockless", "fuzz input")
    read_ring(ring, out)
    return out


def fuzz_log_buf(data: bytes) -> LogRead:
    """Bytes 0-3: log_first_idx, 4-7: log_next_idx, the rest: log_buf (16-byte headers)."""
    head = data[:8].ljust(8, b"\0")
    buf = data[8:]
    first = int.from_bytes(head[:4], "little") % max(1, len(buf))
    nxt = int.from_bytes(head[4:8], "little") % max(1, len(buf))
    out = LogRead("log_buf", "fuzz input")
    read_legacy(LegacyBuffer(Blob.of(buf), first, nxt, 16, 0, 8, 10, "<"), out)
    return out


def fuzz_vendor_log_buf(data: bytes) -> LogRead:
    """``data`` is a vendor md_KLOGBUF holding log_buf records (no indices)."""
    out = LogRead("vendor-log_buf", "fuzz input")
    read_vendor_legacy(Blob.of(data), out)
    return out
