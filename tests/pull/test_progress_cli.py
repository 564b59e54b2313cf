"""What ``qdlpy pull`` draws while it works: two bars, binary units, honest rates."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import run_qdlpy

RATE = re.compile(r"(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB)/s")
DECIMAL_RATE = re.compile(r"\d (kB|MB|GB)/s")


def test_a_kmemdump_pull_draws_one_total_bar_and_one_region_bar(tmp_path: Path) -> None:
    run = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", tmp_path / "d", "--progress", "rich",
                    env={"COLUMNS": "120"})
    assert run.returncode == 0, run.stderr
    bars = [line for line in run.stderr.splitlines() if "━" in line]
    assert len(bars) == 2, run.stderr  # not one finished bar per region (55)
    assert bars[0].startswith("total (55 regions)")
    assert RATE.search(bars[0]) and not DECIMAL_RATE.search(run.stderr)


def test_plain_progress_rates_use_binary_units(tmp_path: Path) -> None:
    run = run_qdlpy("pull", "-t", "sim:fulldump?size=4M", "-o", tmp_path / "d", "--chunk-size",
                    "256K", "--progress", "plain", env={"QDLPY_PROGRESS_INTERVAL": "0"})
    assert run.returncode == 0, run.stderr
    rates = RATE.findall(run.stderr)
    assert len(rates) > 4 and not DECIMAL_RATE.search(run.stderr)


def test_a_resumed_pull_reports_only_the_bytes_it_read(tmp_path: Path) -> None:
    out = tmp_path / "d"
    # The device never answers reads at 6 MiB into DDR: the pull stops there (exit 7),
    # keeping the first 6 MiB in DDRCS0_0.BIN.part.
    first = run_qdlpy("pull", "-t", "sim:fulldump?size=8M&dead_at=0x80600000", "-o", out,
                      "--chunk-size", "1M", "--io-timeout", "0.2", "--no-elf")
    assert first.returncode == 7, first.stderr
    again = run_qdlpy("pull", "-t", "sim:fulldump?size=8M", "-o", out, "--resume", "--no-elf",
                      "--json", "--progress", "plain")
    assert again.returncode == 0, again.stderr
    read = json.loads(again.stdout)["stats"]["bytes_read"]
    done = re.search(r"done: (.+) in [\d.]+ s \((.+) read at ", again.stderr)
    assert done is not None, again.stderr
    assert done.group(2) == _human(read)  # not the 8 MiB on disk
    assert done.group(2) != done.group(1)


def _human(n: float) -> str:
    """The CLI's size format, written out here so the test does not use the CLI's helper."""
    units = ["B", "KiB", "MiB", "GiB"]
    k = 0
    while n >= 1024 and k < len(units) - 1:
        n, k = n / 1024, k + 1
    return f"{int(n)} B" if k == 0 else f"{n:.1f} {units[k]}"
