"""What the pull's safety costs: checkpoints and folder checks against a pull without them.

Three pulls of the same simulated full dump, in one process, alternated --repeat times
(best time counts):

* ``default``: as shipped (a checkpoint, i.e. fsync + manifest rewrite, every
  CHECKPOINT_SECONDS or CHECKPOINT_BYTES; the folder and NAME.part checked every chunk);
* ``every-64MiB``: a checkpoint every 64 MiB, to measure what one costs;
* ``no-checkpoints``: checkpoints disabled;
* ``no-checks``: checkpoints and the per-chunk folder checks disabled (the baseline).

Prints MB/s for each, the ratios to ``no-checks`` and the cost of one checkpoint. Nothing
is asserted.

    python bench/bench_pull_safety.py [--size 1G] [--chunk 512K] [--repeat 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from qdlpy.dump import loop, pull
from qdlpy.dump.folder import PullFolder
from qdlpy.units import parse_size


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    saved = (loop.CHECKPOINT_BYTES, loop.CHECKPOINT_SECONDS, PullFolder.check_present)
    try:
        if name == "every-64MiB":
            loop.CHECKPOINT_BYTES, loop.CHECKPOINT_SECONDS = 64 << 20, float("inf")
        elif name != "default":
            loop.CHECKPOINT_BYTES, loop.CHECKPOINT_SECONDS = 1 << 62, float("inf")
        if name == "no-checks":
            PullFolder.check_present = lambda self: None  # type: ignore[method-assign]
        yield
    finally:
        loop.CHECKPOINT_BYTES, loop.CHECKPOINT_SECONDS, PullFolder.check_present = saved


def timed_pull(spec: str, chunk: int, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = pull(f"sim:{spec}", output=out, chunk_size=chunk, elf=False, after="none")
    seconds = time.perf_counter() - t0
    assert result.status == "complete"
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--chunk", default="512K")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    spec = f"fulldump?size={args.size}"
    total = parse_size(args.size)
    names = ("default", "every-64MiB", "no-checkpoints", "no-checks")
    best = dict.fromkeys(names, float("inf"))
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="qdlpy-bench-") as tmp:
        for _ in range(args.repeat):
            for name in names:
                with variant(name):
                    seconds = timed_pull(spec, parse_size(args.chunk), Path(tmp) / "dump")
                best[name] = min(best[name], seconds)
    base = best["no-checks"]
    print(f"{spec}, chunk {args.chunk}, best of {args.repeat}; default checkpoint every "
          f"{loop.CHECKPOINT_SECONDS:g} s or {loop.CHECKPOINT_BYTES >> 20} MiB")
    for name in names:
        print(f"  {name:15s} {best[name]:7.2f} s  {total / best[name] / 1e6:8.1f} MB/s  "
              f"x{best[name] / base:.3f}")
    count = max(1, total // (64 << 20) - 1)
    each = (best["every-64MiB"] - best["no-checkpoints"]) / count
    print(f"  one checkpoint: {each * 1e3:.1f} ms ({count} in the every-64MiB pull)")


if __name__ == "__main__":
    main()
