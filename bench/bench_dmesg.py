"""`qdlpy dmesg` beside `vmcore-dmesg` on the same cores: 1 MiB and 16 MiB text rings.

Each core holds a full lockless printk ring (the simulator's ring layout, 64-bit, one
descriptor per 32 bytes of text as the kernel sizes it) with VMCOREINFO. Both commands run
as processes writing to /dev/null, --repeat times alternately; the best time counts (so
interpreter start-up is included for qdlpy, as a user sees it). The in-process time of
``qdlpy.dmesg(path).text()`` is printed too. Outputs are compared byte for byte.

    python bench/bench_dmesg.py [--sizes 1,16] [--repeat 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import qdlpy
from qdlpy.simulator import printk_ring

_BASE = 0xFFFF800010000000


def _core(size: int) -> tuple[bytes, int]:
    """An ELF64 core whose text ring of ``size`` bytes is full; returns (core, records)."""
    count = size // 32
    lines, filled = [], 0
    while filled < size * 1.2:  # more than the ring holds: it has wrapped
        i = len(lines)
        text = f"[{i:7d}] subsystem{i % 17}: event {i} " + "x" * (i * 13 % 90)
        lines.append(printk_ring.Line(i * 1_000_003, 1 + i % 300, text))
        filled += 8 + ((len(text) + 7) & ~7)
    descs_va, infos_va = _BASE + 0x100000, _BASE + 0x100000 + count * 24
    data_va = infos_va + count * 88
    ring = printk_ring.lockless(lines, count, size, descs_va=descs_va, infos_va=infos_va,
                                data_va=data_va)
    vi = "\n".join(["OSRELEASE=6.1.0-bench", *printk_ring.lockless_vmcoreinfo(_BASE, _BASE + 64)])
    vi_b = (vi + "\n").encode()
    segs = [(_BASE, (_BASE + 0x1000).to_bytes(8, "little")), (_BASE + 0x1000, ring.header),
            (descs_va, ring.descs), (infos_va, ring.infos), (data_va, ring.data)]
    note = struct.pack("<III", 11, len(vi_b), 0) + b"VMCOREINFO\0\0" + vi_b + bytes(-len(vi_b) % 4)
    phnum = 1 + len(segs)
    off = 64 + 56 * phnum
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, off, 0, 0, len(note), 0, 0)]
    body = bytearray(note)
    off += len(note)
    for va, data in segs:
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 6, off, va, va, len(data), len(data), 0))
        body += data
        off += len(data)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", ident, 4, 183, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    return ehdr + b"".join(phdrs) + bytes(body), len(lines) - ring.dropped


def _best(argv: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,16", help="text ring sizes in MiB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    vmcore_dmesg = shutil.which("vmcore-dmesg") or "/usr/sbin/vmcore-dmesg"
    qdlpy_exe = str(Path(sys.executable).with_name("qdlpy"))
    work = Path(tempfile.mkdtemp(prefix="qdlpy-bench-", dir=args.dir))
    try:
        for mib in (int(x) for x in args.sizes.split(",")):
            data, records = _core(mib << 20)
            path = work / f"ring-{mib}M.elf"
            path.write_bytes(data)
            want = subprocess.run([vmcore_dmesg, str(path)], capture_output=True,
                                  check=True).stdout
            t0 = time.perf_counter()
            same = qdlpy.dmesg(path).text() == want
            inproc = time.perf_counter() - t0
            vd = _best([vmcore_dmesg, str(path)], args.repeat)
            qd = _best([qdlpy_exe, "dmesg", str(path)], args.repeat)
            print(f"{mib:3d} MiB text ring, {records} records, core {len(data) / 2**20:.1f} MiB: "
                  f"vmcore-dmesg {vd * 1000:7.1f} ms, qdlpy dmesg {qd * 1000:7.1f} ms "
                  f"({qd / vd:.1f}x; in process {inproc * 1000:.1f} ms); identical: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
