"""A device that goes away mid-region and does not come back in time, then --resume.

Over tcp the `qdlpy simulate` process is killed while the pull waits for a reply (the
stall knob holds the reply back, so the kill always lands mid-region, after exactly 1 MiB).
A new simulator for the same dump then serves `pull --resume`, whose files must be
identical to an uninterrupted pull's. In process, a transport that stops delivering data
gives the transfer-error exit code 7 through the CLI.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import Simulator, run_qdlpy, start_qdlpy
from pull_support import (
    FAILED_STATES,
    check_complete_folder,
    expected_regions,
    load_manifest,
    region_files,
    regions_by_name,
    served_model,
    sha256,
    wait_for_file_size,
)

from qdlpy.cli.main import main
from qdlpy.dump import pull
from qdlpy.errors import TransferTimeout
from qdlpy.transport.sim import SimTransport

SPEC = "fulldump?size=4M"
CUT = 1 << 20


def pull_until_the_device_dies(out: Path) -> subprocess.CompletedProcess[str]:
    # The stall knob counts every memory byte the device sends, the region table included.
    stall_after = CUT + len(served_model(SPEC).personality.table)
    with Simulator(f"{SPEC}&stall_after={stall_after}") as sim:
        proc = start_qdlpy("pull", "-t", sim.uri, "-o", out, "--chunk-size", "256K",
                           "--io-timeout", "60", "--timeout", "1", "--json")
        try:
            wait_for_file_size(out / "DDRCS0_0.BIN.part", CUT)
            sim.stop()  # the device is gone for good (SIGTERM to the simulate process)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_device_lost_mid_region_then_resume_on_a_new_simulator(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = pull_until_the_device_dies(out)
    assert proc.returncode != 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] in FAILED_STATES
    m = load_manifest(out)
    assert m["status"] in ("error", "partial")
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["status"] != "complete" and ddr["bytes"] == CUT
    part = (out / "DDRCS0_0.BIN.part").read_bytes()
    assert part == expected_regions(SPEC)["DDRCS0_0.BIN"][:CUT]
    assert ddr["sha256"] == sha256(part)

    with Simulator(SPEC) as sim:  # the same dump, served again
        resumed = run_qdlpy("pull", "-t", sim.uri, "-o", out, "--resume", "--json")
        assert resumed.returncode == 0, resumed.stderr
    rdoc = json.loads(resumed.stdout)
    check_complete_folder(out, SPEC, rdoc, resumed=True)
    assert rdoc["stats"]["bytes_read"] == sum(r["length"] for r in rdoc["regions"]) - CUT
    whole = pull(f"sim:{SPEC}", output=tmp_path / "whole")
    assert whole.status == "ok"
    assert region_files(out) == region_files(tmp_path / "whole")


def test_device_lost_mid_region_is_a_transfer_error(tmp_path: Path) -> None:
    proc = pull_until_the_device_dies(tmp_path / "dump")
    assert proc.returncode == 7, proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["exit_code"] == 7 and "--resume" in err["hint"]


SILENT_AFTER = 300 * 1024


def test_silent_device_exits_7_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The simulated device stops delivering data after SILENT_AFTER bytes, retries too."""
    real_read = SimTransport.read
    delivered = [0]

    def silent_read(self: SimTransport, size: int, timeout: float) -> bytes:
        if delivered[0] >= SILENT_AFTER:
            raise TransferTimeout("test: the device went silent")
        data = real_read(self, size, timeout)
        delivered[0] += len(data)
        return data

    monkeypatch.setattr(SimTransport, "read", silent_read)
    out = tmp_path / "dump"
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--chunk-size", "64K", "--json"])
    assert code == 7
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] in FAILED_STATES and doc["error"]["code"] == "transfer-timeout"
    assert "--resume" in doc["error"]["hint"]
    m = load_manifest(out)
    assert m["status"] == "error" and m["error"]["exit_code"] == 7
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    part = (out / "DDRCS0_0.BIN.part").read_bytes()
    assert len(part) == ddr["bytes"] > 0 and ddr["bytes"] % (64 * 1024) == 0
    assert ddr["sha256"] == sha256(part)

    monkeypatch.undo()  # the device talks again
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"])
    assert code == 0
    check_complete_folder(out, SPEC, json.loads(capsys.readouterr().out), resumed=True)
