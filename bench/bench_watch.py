"""Many devices at once: one ``qdlpy watch`` beside the same number of ``qdlpy pull`` processes.

For N simulated devices (default 1, 2 and 4), each served over tcp by its own
``qdlpy simulate --respawn`` process, the same dumps are pulled twice:

* by one ``qdlpy watch -t URI... --count N`` process (one thread per device);
* by N ``qdlpy pull -t URI`` processes started together (the baseline).

Printed per N: aggregate MB/s (every pulled byte over the wall time until the last pull
ended) and host CPU seconds per GiB (user + system time of the pulling processes, from
wait4; sha256, file writes, fsync and the manifests included; the simulators playing the
devices are not counted), with each process's start-up (the CPU of ``qdlpy watch --help``
or ``qdlpy pull --help``, measured in the same run) and without it. Nothing is asserted:
benchmarks report, tests assert. Goal: the watch keeps up with separate processes and
stays within 1.5 CPU s/GiB.

    python bench/bench_watch.py [--size 1G] [--counts 1,2,4] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qdlpy.units import parse_size

QDLPY = [sys.executable, "-P", "-m", "qdlpy.cli"]  # -P: never the checkout's qdlpy/ folder
GiB = float(1 << 30)


def start_simulators(count: int, size: int) -> tuple[list[subprocess.Popen[str]], list[str]]:
    procs, uris = [], []
    for _ in range(count):
        proc = subprocess.Popen([*QDLPY, "simulate", "--scenario", f"fulldump?size={size}",
                                 "--listen", "tcp:127.0.0.1:0", "--respawn"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"qdlpy simulate did not start: {line!r}")
        procs.append(proc)
        uris.append(line.split("listening on ", 1)[1].strip())
    return procs, uris


def wait_measured(procs: list[subprocess.Popen[bytes]]) -> float:
    """Wait for every process; their user + system CPU seconds (failures stop the bench)."""
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"{' '.join(map(str, proc.args))} failed:\n{err[-3000:]}")
        cpu += usage.ru_utime + usage.ru_stime
    return cpu


def pulled_bytes(outputs: list[str]) -> int:
    """Bytes read, from the pull summaries in the JSON the processes printed."""
    total = 0
    for text in outputs:
        for line in text.splitlines():
            doc = json.loads(line)
            if doc.get("event") == "pull-finished":
                total += doc["summary"]["stats"]["bytes_read"]
    return total


def run_watch(uris: list[str], out: Path) -> tuple[int, float, float]:
    args = [a for uri in uris for a in ("-t", uri)]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*QDLPY, "watch", "-o", str(out), *args, "--count",
                             str(len(uris)), "--no-elf", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    cpu = wait_measured([proc])
    return pulled_bytes([stdout]), time.perf_counter() - t0, cpu


def run_pulls(uris: list[str], out: Path) -> tuple[int, float, float]:
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*QDLPY, "pull", "-t", uri, "-o", str(out / str(i)), "--no-elf",
                               "--json", "--progress", "none"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, uri in enumerate(uris)]
    outputs = [p.stdout.read().decode() if p.stdout else "" for p in procs]
    cpu = wait_measured(procs)
    seconds = time.perf_counter() - t0
    total = sum(json.loads(text)["stats"]["bytes_read"] for text in outputs)
    return total, seconds, cpu


def startup_cpu(command: str) -> float:
    """CPU seconds of a process that starts qdlpy's command and does nothing."""
    runs = []
    for _ in range(3):
        proc = subprocess.Popen([*QDLPY, command, "--help"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        runs.append(wait_measured([proc]))
    return min(runs)


def measure(count: int, size: int, base: Path) -> dict[str, float]:
    sims, uris = start_simulators(count, size)
    startup = {"watch": startup_cpu("watch"), "pulls": count * startup_cpu("pull")}
    try:
        figures: dict[str, float] = {}
        for name, runner in (("watch", run_watch), ("pulls", run_pulls)):
            out = base / f"{name}-{count}"
            total, seconds, cpu = runner(uris, out)
            figures[f"{name}_mbs"] = total / seconds / 1e6
            figures[f"{name}_cpu"] = cpu / (total / GiB)
            figures[f"{name}_work"] = (cpu - startup[name]) / (total / GiB)
            shutil.rmtree(out)
        return figures
    finally:
        for sim in sims:
            sim.terminate()
            sim.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1G", help="dump size per device (default 1G)")
    ap.add_argument("--counts", default="1,2,4", help="device counts (default 1,2,4)")
    ap.add_argument("--dir", default=None, help="where the dumps go (default: the temp dir)")
    args = ap.parse_args()
    size = parse_size(args.size)
    base = Path(tempfile.mkdtemp(prefix="qdlpy-bench-watch-", dir=args.dir))
    print(f"{os.cpu_count()} cores; {args.size} per device, written to {base}")
    print("CPU s/GiB: all / without the processes' start-up")
    print(f"{'devices':>7} | {'watch MB/s':>10} | {'pulls MB/s':>10} | {'ratio':>5} | "
          f"{'watch CPU s/GiB':>15} | {'pulls CPU s/GiB':>15}")
    try:
        for count in (int(c) for c in args.counts.split(",")):
            f = measure(count, size, base)
            watch_cpu = f"{f['watch_cpu']:.2f} / {f['watch_work']:.2f}"
            pulls_cpu = f"{f['pulls_cpu']:.2f} / {f['pulls_work']:.2f}"
            print(f"{count:>7} | {f['watch_mbs']:>10.0f} | {f['pulls_mbs']:>10.0f} | "
                  f"{f['watch_mbs'] / f['pulls_mbs']:>5.2f} | {watch_cpu:>15} | "
                  f"{pulls_cpu:>15}", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
