"""Whole test dumps from the ring models: ELF cores with VMCOREINFO, vendor region folders."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from triage_elf import EM_AARCH64, EM_ARM, Seg, core, vmcoreinfo_text
from triage_kring import LegacyLog, LocklessRing


class TableRow(Protocol):
    """A region table row with its file's bytes (the simulator's region records)."""

    @property
    def filename(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def base(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def data(self) -> bytes: ...


def _ptr(value: int, word: int, endian: str) -> bytes:
    return value.to_bytes(word, "little" if endian == "<" else "big")


def _carve(segs: list[Seg], holes: Mapping[str, tuple[int, int]], names: list[str]) -> list[Seg]:
    """Split the named segments so ``[start, end)`` of each is missing from the core."""
    out: list[Seg] = []
    for name, s in zip(names, segs):
        if name not in holes:
            out.append(s)
            continue
        a, b = holes[name]
        for lo, hi, missing in ((0, a, False), (a, b, True), (b, len(s.data), False)):
            if hi > lo:
                out.append(Seg(s.vaddr + lo, s.data[lo:hi], missing=missing))
    return out


def lockless_segments(ring: LocklessRing) -> tuple[list[Seg], list[str], bytes]:
    w, e = ring.lay.word, ring.lay.endian
    base = 0xFFFF800010000000 if w == 8 else 0xC1000000
    prb_va, hdr_va = base, base + 0x100
    descs_va = base + 0x1000
    infos_va = descs_va + ((ring.lay.desc_size * ring.count + 0xFFF) & ~0xFFF)
    data_va = infos_va + ((ring.lay.info_size * ring.count + 0xFFF) & ~0xFFF)
    header, keys = ring.header_bytes(descs_va, infos_va, data_va)
    segs = [Seg(prb_va, _ptr(hdr_va, w, e)), Seg(hdr_va, header),
            Seg(descs_va, ring.desc_bytes()), Seg(infos_va, ring.info_bytes()),
            Seg(data_va, bytes(ring.data))]
    vi = vmcoreinfo_text({**keys, **ring.layout_keys()}, symbols={"prb": prb_va})
    return segs, ["prb", "header", "descs", "infos", "data"], vi


def lockless_core(ring: LocklessRing, *, holes: Mapping[str, tuple[int, int]] | None = None,
                  machine: int | None = None, vmcoreinfo: bytes | None = None) -> bytes:
    segs, names, vi = lockless_segments(ring)
    segs = _carve(segs, holes or {}, names)
    bits = 64 if ring.lay.word == 8 else 32
    return core(segs, vmcoreinfo if vmcoreinfo is not None else vi, bits=bits,
                endian=ring.lay.endian,
                machine=machine or (EM_AARCH64 if bits == 64 else EM_ARM))


def legacy_core(log: LegacyLog, *, word: int = 8, keys: Mapping[str, int] | None = None) -> bytes:
    e = log.endian
    base = 0xFFFF800010000000 if word == 8 else 0xC1000000
    syms = {"log_buf": base, "log_buf_len": base + 0x10, "log_first_idx": base + 0x20,
            "log_next_idx": base + 0x30}
    buf_va = base + 0x10000
    small = (_ptr(buf_va, word, e).ljust(16, b"\0")
             + log.length.to_bytes(4, "little" if e == "<" else "big").ljust(16, b"\0")
             + log.first_idx.to_bytes(4, "little" if e == "<" else "big").ljust(16, b"\0")
             + log.next_idx.to_bytes(4, "little" if e == "<" else "big").ljust(16, b"\0"))
    layout = {"SIZE(printk_log)": log.header, "OFFSET(printk_log.ts_nsec)": 0,
              "OFFSET(printk_log.len)": 8, "OFFSET(printk_log.text_len)": 10}
    vi = vmcoreinfo_text({**layout, **(keys or {})}, symbols=syms, release="5.4.0-test")
    segs = [Seg(base, small), Seg(buf_va, bytes(log.buf))]
    bits = 64 if word == 8 else 32
    return core(segs, vi, bits=bits, endian=e, machine=EM_AARCH64 if bits == 64 else EM_ARM)


def table_folder(folder: Path, rows: Sequence[TableRow]) -> Path:
    """A dump folder as a pull leaves it: one file per table row plus manifest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = []
    for r in rows:
        if r.filename.lower() == "load.cmm":
            continue
        (folder / r.filename).write_bytes(r.data)
        doc.append({"filename": r.filename, "description": r.description,
                    "base": f"0x{r.base:x}", "length": r.length, "save_pref": 1,
                    "status": "complete", "raw": {}})
    (folder / "manifest.json").write_text(json.dumps(
        {"schema": "qdlpy.pull/1", "status": "complete", "regions": doc}))
    return folder


def vendor_folder(folder: Path, files: Mapping[str, bytes], *, manifest: bool = True) -> Path:
    """Region files as a vendor minidump pull leaves them (md_<NAME>.BIN + manifest.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    pa = 0xA0000000
    for name, data in files.items():
        fname = f"md_{name}.BIN"
        (folder / fname).write_bytes(data)
        rows.append({"filename": fname, "description": f"md_{name}", "base": f"0x{pa:x}",
                     "length": len(data), "save_pref": 1, "status": "complete", "raw": {}})
        pa += (len(data) + 0xFFFF) & ~0xFFFF
    if manifest:
        (folder / "manifest.json").write_text(json.dumps(
            {"schema": "qdlpy.pull/1", "status": "complete", "regions": rows}))
    return folder


def boot_log(n: int, *, start_ns: int = 0, step_ns: int = 1_234_567) -> list[tuple[bytes, int]]:
    """``n`` kernel-like lines with rising timestamps (some long, some with odd bytes)."""
    out = []
    for i in range(n):
        text = f"line {i}: " + "x" * (i * 7 % 90)
        if i % 13 == 5:
            text += " caf\u00e9 \t tab"
        raw = text.encode()
        if i % 17 == 3:
            raw += b"\x01\x7f\xff"
        out.append((raw, start_ns + i * step_ns))
    return out
