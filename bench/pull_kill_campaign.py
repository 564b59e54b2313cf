"""SIGKILL `qdlpy pull` at hundreds of random points; every folder must resume byte-identically.

The long form of tests/pull/test_kill_resume.py: a reference pull counts the process's
write, fsync, rename (os.replace) and ftruncate calls; then, for each seeded random point,
a pull is killed right before or after that call (tests/pull/kill_at.py), the folder's
manifest is checked against the disk (it may claim nothing the disk does not hold), and
`qdlpy pull --resume` must finish with region files whose sha256 equal the reference's.
Prints how many points were hit and how many folders resumed; exits 1 on any failure.

    python bench/pull_kill_campaign.py [--points 200] [--seed 1] [--spec fulldump?size=4M]
                                       [--chunk 64K] [--checkpoint 256K]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qdlpy.units import parse_size

KILL_AT = Path(__file__).resolve().parents[1] / "tests" / "pull" / "kill_at.py"
FUNCS = ("write", "fsync", "replace", "ftruncate")


def qdlpy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-m", "qdlpy.cli", *args], capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL, timeout=600)


def killed(plan: str, counts: Path, out: Path, pull_args: list[str], extra: list[str]) -> int:
    proc = subprocess.run([sys.executable, str(KILL_AT), plan, str(counts), *extra, "--",
                           "pull", "-o", str(out), *pull_args], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL, timeout=600)
    return proc.returncode


def digests(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {r["filename"]: hashlib.sha256((out / r["filename"]).read_bytes()).hexdigest()
            for r in manifest["regions"]}


def consistent(out: Path) -> str | None:
    """None if the manifest claims nothing the disk does not hold, else what is wrong."""
    manifest = json.loads((out / "manifest.json").read_text())
    for r in manifest["regions"]:
        name = r["filename"]
        if r["status"] != "complete":
            if not r["bytes"]:
                continue
            # The bytes counted are in NAME.part, or in NAME when the pull was killed right
            # after renaming the finished part.
            if (out / (name + ".part")).exists():
                name += ".part"
        try:
            data = (out / name).read_bytes()
        except OSError as exc:
            return f"{name}: {exc}"
        if len(data) < r["bytes"] or \
                hashlib.sha256(data[: r["bytes"]]).hexdigest() != r["sha256"]:
            return f"{name}: the manifest's {r['bytes']} bytes are not on disk"
    return None


def one_point(plan: str, work: Path, pull_args: list[str], extra: list[str],
              expected: dict[str, str]) -> str:
    """'ok', 'missed' (the call was never reached) or what went wrong."""
    out = work / "dump"
    if killed(plan, work / "unused.json", out, pull_args, extra) != -9:
        return "missed"
    again = ["--resume"] if (out / "manifest.json").exists() else []
    if again and (problem := consistent(out)):
        return f"inconsistent after the kill: {problem}"
    proc = qdlpy("pull", "-o", str(out), *again, "--json", *pull_args)
    if proc.returncode != 0:
        return f"resume failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"
    return "ok" if digests(out) == expected else "resumed files differ from the reference"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spec", default="fulldump?size=4M")
    ap.add_argument("--chunk", default="64K")
    ap.add_argument("--checkpoint", default="256K",
                    help="count a region in progress in the manifest every this many bytes "
                         "(so small dumps have kill points around those rewrites too)")
    args = ap.parse_args()
    pull_args = ["-t", f"sim:{args.spec}", "--chunk-size", args.chunk, "--no-elf"]
    extra = ["--checkpoint", str(parse_size(args.checkpoint))] if args.checkpoint else []
    rng = random.Random(args.seed)
    results: dict[str, int] = {}
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qdlpy-kill-") as tmp:
        root = Path(tmp)
        if killed("count", root / "counts.json", root / "ref", pull_args, extra) != 0:
            raise SystemExit("the reference pull failed")
        counts: dict[str, int] = json.loads((root / "counts.json").read_text())
        expected = digests(root / "ref")
        funcs = [f for f in FUNCS if counts[f]]
        for i in range(args.points):
            func = rng.choice(funcs)
            plan = f"{func}:{rng.randint(1, counts[func])}:{rng.choice(['before', 'after'])}"
            work = root / f"p{i}"
            work.mkdir()
            outcome = one_point(plan, work, pull_args, extra, expected)
            key = outcome if outcome in ("ok", "missed") else "failed"
            results[key] = results.get(key, 0) + 1
            if key == "failed":
                failures.append(f"{plan}: {outcome}")
    seconds = time.monotonic() - started
    print(f"reference pull: {counts} calls; {args.points} kill points in {seconds:.0f} s")
    print(f"killed and resumed byte-identically: {results.get('ok', 0)}; point never reached: "
          f"{results.get('missed', 0)}; failed: {results.get('failed', 0)}")
    for line in failures:
        print(f"  FAILED {line}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
