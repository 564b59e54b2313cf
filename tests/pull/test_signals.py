"""SIGTERM and SIGHUP end a pull the way Ctrl-C does; a second signal stops at once.

Board farms and CI jobs end a run that is over its time with SIGTERM, and a closed terminal
sends SIGHUP. Either must leave what Ctrl-C leaves: the chunk in hand finished, NAME.part
kept, the manifest "interrupted", the device released and not reset, and an exit code that
names the signal (128 + its number), so --resume continues without reading anything twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import Simulator, run_qdlpy, start_qdlpy
from pull_support import (
    check_complete_folder,
    expected_regions,
    free_port,
    load_manifest,
    regions_by_name,
    served_model,
    sha256,
    wait_for_file_size,
)

from qdlpy.errors import EXIT_CODES

BIG = "fulldump?size=64M"
SIGNALS = {"sigterm": (signal.SIGTERM, 143, "terminated"),
           "sighup": (signal.SIGHUP, 129, "hangup")}


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_saves_state_and_exits_128_plus_its_number(tmp_path: Path, name: str) -> None:
    signum, code, error_code = SIGNALS[name]
    out = tmp_path / "dump"
    proc = start_qdlpy("pull", "-t", f"sim:{BIG}", "-o", out, "--chunk-size", "4K", "--json",
                       "--no-elf")
    wait_for_file_size(out / "DDRCS0_0.BIN.part", 64 * 1024)
    proc.send_signal(signum)
    stdout, stderr = finish(proc)
    assert proc.returncode == code, stderr
    assert EXIT_CODES[code]
    doc = json.loads(stdout)
    assert doc["error"]["code"] == error_code and doc["error"]["exit_code"] == code
    assert "--resume" in doc["error"]["hint"]
    m = load_manifest(out)
    assert m["status"] == "interrupted" and m["after"] == "none"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["status"] == "partial" and 0 < ddr["bytes"] < 64 << 20
    assert ddr["bytes"] % 4096 == 0
    part = (out / "DDRCS0_0.BIN.part").read_bytes()
    assert len(part) == ddr["bytes"] and sha256(part) == ddr["sha256"]
    assert part == expected_regions(BIG)["DDRCS0_0.BIN"][: len(part)]

    resumed = run_qdlpy("pull", "-o", out, "--resume", "--json", "--no-elf")
    assert resumed.returncode == 0, resumed.stderr
    rdoc = json.loads(resumed.stdout)
    check_complete_folder(out, BIG, rdoc, resumed=True)
    assert rdoc["stats"]["bytes_read"] == sum(r["length"] for r in rdoc["regions"]) - len(part)


def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    """The first SIGTERM waits for the chunk in hand, which never comes (the device holds
    its answer back for --io-timeout); the second one stops without waiting for it."""
    spec = "fulldump?size=4M"
    cut = 1 << 20
    out = tmp_path / "dump"
    stall_after = cut + len(served_model(spec).personality.table)
    with Simulator(f"{spec}&stall_after={stall_after}") as sim:
        proc = start_qdlpy("pull", "-t", sim.uri, "-o", out, "--chunk-size", "256K",
                           "--io-timeout", "600", "--json")
        wait_for_file_size(out / "DDRCS0_0.BIN.part", cut)
        time.sleep(0.3)  # let it send the next request and wait for the answer
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None  # still finishing the chunk
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = finish(proc, timeout=30)  # far less than --io-timeout
    assert proc.returncode == 143, stderr
    doc = json.loads(stdout)
    assert doc["error"]["code"] == "terminated"
    m = load_manifest(out)
    assert m["status"] == "interrupted" and m["error"]["code"] == "terminated"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["bytes"] == cut
    assert (out / "DDRCS0_0.BIN.part").read_bytes() == expected_regions(spec)["DDRCS0_0.BIN"][:cut]


def test_sigterm_while_waiting_for_a_device_exits_143(tmp_path: Path) -> None:
    """Before the region loop there is no chunk to finish: the first signal stops."""
    out = tmp_path / "dump"
    proc = start_qdlpy("pull", "-t", f"tcp:127.0.0.1:{free_port()}", "-o", out, "--timeout", "0",
                       "--json")
    assert proc.stderr is not None
    assert "Waiting for" in proc.stderr.readline()  # nobody listens: it waits for ever
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = finish(proc, timeout=30)
    assert proc.returncode == 143, stderr
    assert json.loads(stdout)["error"]["code"] == "terminated"
    assert not out.exists()
