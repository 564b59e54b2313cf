"""Assemble a 64 MiB kmemdump region set beside `cat` of the same files, in the same run.

Goal: qdlpy assemble within 1.5x of `cat` (the cover letters' manual recipe).
Both read warm page cache and write to the same filesystem; each is run --repeat times
alternately and the best time counts. assemble makes its output durable (fsync of the file
and its folder, qdlpy.atomic_write), so `cat` is also timed with an fsync of its output,
the fair baseline. Prints MB/s for each and the ratios.

    /work/venv/bin/python bench/bench_assemble.py [--size-mib 64] [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qdlpy.assemble import assemble

# The region set and the expected ELF come from the tests' independent oracle.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracle import kmemdump


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    args = ap.parse_args()

    chunk = 4 * 1024 * 1024  # dynamic regions of 4 MiB, like large memblock allocations
    n_big = max(1, args.size_mib * 1024 * 1024 // chunk)
    s = kmemdump.build("arm64", extra_dynamic=[chunk] * n_big)
    expected = s.expected()
    work = Path(tempfile.mkdtemp(prefix="qdlpy-bench-", dir=args.dir))
    try:
        folder = s.write(work / "dump")
        # cat in id order: correct for this set (PT_LOAD order == id order)
        ordered = sorted((r for r in s.rows if r.region_id is not None),
                         key=lambda r: r.region_id or 0)
        files = [str(folder / r.filename) for r in ordered]
        total = len(expected)
        cat_best = sync_best = asm_best = float("inf")
        for _ in range(args.repeat):
            for sync in (False, True):
                t0 = time.perf_counter()
                with open(work / "cat.elf", "wb") as out:
                    subprocess.run(["cat", *files], stdout=out, check=True)
                    if sync:
                        os.fsync(out.fileno())
                took = time.perf_counter() - t0
                if sync:
                    sync_best = min(sync_best, took)
                else:
                    cat_best = min(cat_best, took)
            t0 = time.perf_counter()
            assemble(folder, work / "asm.elf")
            asm_best = min(asm_best, time.perf_counter() - t0)
        same = (work / "cat.elf").read_bytes() == (work / "asm.elf").read_bytes() == expected
        mb = total / 1e6
        print(f"set: {len(s.rows)} kernel regions, {total} bytes ({total / 2**20:.1f} MiB), "
              f"{args.repeat} runs each, best time")
        print(f"cat      : {cat_best * 1000:8.1f} ms  {mb / cat_best:9.1f} MB/s")
        print(f"cat+fsync: {sync_best * 1000:8.1f} ms  {mb / sync_best:9.1f} MB/s")
        print(f"assemble : {asm_best * 1000:8.1f} ms  {mb / asm_best:9.1f} MB/s "
              "(incl. folder scan, header parse, group ELFs, post-check)")
        print(f"ratio assemble/cat: {asm_best / cat_best:.2f}x, assemble/(cat+fsync): "
              f"{asm_best / sync_best:.2f}x (goal <= 1.5x); outputs identical: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
