#!/usr/bin/env python3
"""Run the fuzz targets and report cases per target (README, "Fuzzing").

    python fuzz/run.py --seconds 60                  # every target, 60 s shared
    python fuzz/run.py --seconds 1800 --target pull  # one target, 30 minutes

Each target runs in its own process (atheris where it is installed, else hypothesis), after
replaying the saved cases in fuzz/regressions/<target>/. The run ends non-zero when any
case raised something other than QdlpyError, ran over the per-case time limit, or went
over the memory cap; the case is written under --artifacts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fuzztargets import CANARIES, TARGETS, load  # noqa: E402

_UNITS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_RUNS = re.compile(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)")
_KINDS = (("timeout", ("libFuzzer: timeout", "a case ran over")),
          ("memory", ("out-of-memory", "MemoryError", "malloc(")),
          ("escape", ("Uncaught Python exception", "escaped in target")))


@dataclasses.dataclass
class Result:
    target: str
    engine: str
    seconds: float
    cases: int
    status: str  # ok | escape | timeout | memory | crashed | skipped
    log: str = ""


def _regressions(name: str) -> list[Path]:
    folder = HERE / "regressions" / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def replay(name: str, case_seconds: int) -> None:
    """Child mode: every saved case of the target once (they must all pass now)."""
    from fuzzlimits import run_case

    module = load(name)
    for path in _regressions(name):
        run_case(module.one_input, path.read_bytes(), case_seconds)
    print(f"stat::number_of_executed_units: {len(_regressions(name))}", file=sys.stderr)


def child(args: argparse.Namespace) -> None:
    from fuzzengines import run_atheris, run_hypothesis

    artifacts = Path(args.artifacts) / args.child
    if args.replay:
        replay(args.child, args.case_seconds)
        return
    if args.engine == "atheris":
        corpus = Path(args.corpus) / args.child if args.corpus else Path(
            tempfile.mkdtemp(prefix=f"qdlpy-corpus-{args.child}-"))
        run_atheris(load, args.child, args.seconds, args.case_seconds, args.rss_mb, corpus,
                    artifacts)
    else:
        run_hypothesis(load, args.child, args.seconds, args.case_seconds, args.rss_mb,
                       artifacts)


def _classify(rc: int, log: str) -> str:
    if rc == 0:
        return "ok"
    for kind, needles in _KINDS:
        if any(n in log for n in needles):
            return kind
    return "crashed"


def _spawn(args: argparse.Namespace, name: str, engine: str, seconds: int,
           replay_only: bool) -> Result:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--engine", engine,
           "--seconds", str(seconds), "--case-seconds", str(args.case_seconds),
           "--rss-mb", str(args.rss_mb), "--artifacts", args.artifacts]
    if args.corpus:
        cmd += ["--corpus", args.corpus]
    if replay_only:
        cmd.append("--replay")
    start = time.monotonic()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env,
                          timeout=seconds + 120 + args.case_seconds * 4, check=False)
    log = proc.stdout + proc.stderr
    units = _UNITS.findall(log) or _RUNS.findall(log)
    cases = int(units[-1]) if units else 0
    return Result(name, engine, time.monotonic() - start, cases, _classify(proc.returncode, log),
                  log)


def _available(name: str) -> bool:
    module = load(name)
    return bool(getattr(module, "available", lambda: True)())


def parent(args: argparse.Namespace) -> int:
    from fuzzengines import have_atheris

    names = args.target or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS and n not in CANARIES]
    if unknown:
        print(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    engine = args.engine if args.engine != "auto" else (
        "atheris" if have_atheris() else "hypothesis")
    active = [n for n in names if _available(n)]
    share = max(1, args.seconds // max(1, len(active)))
    results: list[Result] = []
    for name in names:
        if name not in active:
            results.append(Result(name, "-", 0.0, 0, "skipped", "no readers registered"))
            continue
        res = _spawn(args, name, engine, args.case_seconds, replay_only=True)
        if res.status == "ok":
            res = _spawn(args, name, engine, share, replay_only=False)
        results.append(res)
        print(f"{name:10s} {res.engine:10s} {res.cases:10d} cases {res.seconds:8.1f} s  "
              f"{res.status}", flush=True)
        if res.status != "ok":
            print(res.log[-6000:], file=sys.stderr)
    total = sum(r.cases for r in results)
    print(f"{'total':10s} {'':10s} {total:10d} cases")
    return 0 if all(r.status in ("ok", "skipped") for r in results) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60, help="total time, shared by the targets")
    ap.add_argument("--target", action="append", help=f"one of {', '.join(TARGETS)} (repeat)")
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("--case-seconds", type=int, default=20, help="per-case time limit")
    ap.add_argument("--rss-mb", type=int, default=2048, help="memory cap per target process")
    ap.add_argument("--corpus", help="keep each target's corpus under this folder")
    ap.add_argument("--artifacts", default=str(Path(tempfile.gettempdir()) / "qdlpy-fuzz"),
                    help="where failing cases are written")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--replay", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        try:
            child(args)
        finally:
            from fuzzwork import cleanup

            cleanup()
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
