"""Start-up time of the ``qdlpy`` command beside ``python -c "import click"``, same run.

Goal: ``qdlpy --version`` (and ``qdlpy --help``) start within 1.5x of importing click
alone, the floor for any click program. Each command runs --repeat times, interleaved, and
the median wall time counts. Run it with the interpreter whose ``bin/`` holds ``qdlpy``::

    .venv/bin/python bench/bench_startup.py [--repeat 30]

An editable install (``pip install -e``) adds its import hook to every start; measure a
regular install for figures that match what users get.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    # Outside the checkout: there, `python -m qdlpy` would import the source folder, which
    # lacks the qdlpy.protocols / qdlpy.cli mapping the installed package has.
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=tempfile.gettempdir())
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    qdlpy = str(Path(sys.executable).with_name("qdlpy"))
    commands = {
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "qdlpy --version": [qdlpy, "--version"],
        "qdlpy --help": [qdlpy, "--help"],
        "python -m qdlpy --version": [sys.executable, "-m", "qdlpy", "--version"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, argv in commands.items():
            times[name].append(_time(argv))
    base = statistics.median(times["python -c 'import click'"])
    print(f"{'command':<28} {'median ms':>10} {'x import click':>15}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<28} {median * 1000:>10.1f} {median / base:>15.2f}")


if __name__ == "__main__":
    main()
