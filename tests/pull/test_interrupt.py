"""Ctrl-C: the current chunk is finished, the manifest says "interrupted", exit 130, and
--resume completes with files identical to an uninterrupted pull.

In process the interruption comes through ``pull(interrupt=Event)`` (set from a progress
sink, as a GUI's cancel button would); as a subprocess it is a real SIGINT sent while a
pull of a large simulated dump runs.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest
from helpers import run_qdlpy, start_qdlpy
from pull_support import (
    FAILED_STATES,
    StopAfterBytes,
    check_complete_folder,
    expected_regions,
    load_manifest,
    region_files,
    regions_by_name,
    sha256,
    wait_for_file_size,
)

from qdlpy.dump import pull
from qdlpy.errors import Interrupted
from qdlpy.transport.sim import shared_model

SPEC = "fulldump?size=2M"
CHUNK = 64 * 1024


InterruptAfter = StopAfterBytes  # presses Ctrl-C once that many bytes were saved


def test_interrupt_event_from_a_progress_sink_then_resume(tmp_path: Path) -> None:
    stop = threading.Event()
    sink = InterruptAfter(stop, 5 * CHUNK)
    out = tmp_path / "a"
    with pytest.raises(Interrupted) as info:
        pull(f"sim:{SPEC}", output=out, chunk_size=CHUNK, progress=sink, interrupt=stop)
    assert info.value.exit_code == 130
    m = load_manifest(out)
    assert m["status"] == "interrupted"
    assert m["error"]["code"] == "interrupted"
    assert m["after"] != "reset"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["status"] == "partial"
    assert ddr["bytes"] == 5 * CHUNK  # the chunk in hand was finished, no more
    part = (out / "DDRCS0_0.BIN.part").read_bytes()
    assert part == expected_regions(SPEC)["DDRCS0_0.BIN"][: 5 * CHUNK]
    assert ddr["sha256"] == sha256(part)
    assert sink.ends == [("DDRCS0_0.BIN", "partial")]
    assert not shared_model(SPEC).rebooted  # an interrupted pull never resets

    result = pull(f"sim:{SPEC}", output=out, resume=True)
    assert result.status == "ok"
    check_complete_folder(out, SPEC)
    # The same dump pulled in one go gives the very same files.
    whole = pull(f"sim:{SPEC}", output=tmp_path / "b")
    assert whole.status == "ok"
    assert region_files(out) == region_files(tmp_path / "b")


def test_interrupt_between_regions(tmp_path: Path) -> None:
    stop = threading.Event()
    sink = InterruptAfter(stop, 2 << 20)  # exactly when DDRCS0_0 is complete
    with pytest.raises(Interrupted):
        pull(f"sim:{SPEC}", output=tmp_path / "d", chunk_size=CHUNK, progress=sink,
             interrupt=stop)
    regions = regions_by_name(load_manifest(tmp_path / "d"))
    assert regions["DDRCS0_0.BIN"]["status"] == "complete"
    assert (tmp_path / "d" / "DDRCS0_0.BIN").is_file()
    assert all(r["status"] == "pending" and r["bytes"] == 0
               for name, r in regions.items() if name != "DDRCS0_0.BIN")
    assert pull(f"sim:{SPEC}", output=tmp_path / "d", resume=True).status == "ok"
    check_complete_folder(tmp_path / "d", SPEC)


def test_interrupt_already_set_saves_nothing_but_the_manifest(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):
        pull(f"sim:{SPEC}", output=tmp_path / "d", interrupt=stop)
    m = load_manifest(tmp_path / "d")
    assert m["status"] == "interrupted"
    assert all(r["bytes"] == 0 and r["status"] == "pending" for r in m["regions"])


def test_sigint_to_a_running_pull_then_resume(tmp_path: Path) -> None:
    spec = "fulldump?size=64M"
    out = tmp_path / "dump"
    # 4 KiB reads make the 64 MiB pull last long enough to be interrupted half-way.
    proc = start_qdlpy("pull", "-t", f"sim:{spec}", "-o", out, "--chunk-size", "4K", "--json",
                       "--no-elf")
    try:
        wait_for_file_size(out / "DDRCS0_0.BIN.part", 64 * 1024)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    doc = json.loads(stdout)
    assert doc["status"] in FAILED_STATES and doc["error"]["code"] == "interrupted"
    assert "--resume" in doc["error"]["hint"]
    m = load_manifest(out)
    assert m["status"] == "interrupted"
    ddr = regions_by_name(m)["DDRCS0_0.BIN"]
    assert ddr["status"] == "partial" and 0 < ddr["bytes"] < 64 << 20
    assert ddr["bytes"] % 4096 == 0  # whole chunks only
    assert (out / "DDRCS0_0.BIN.part").stat().st_size == ddr["bytes"]

    resumed = run_qdlpy("pull", "-t", f"sim:{spec}", "-o", out, "--resume", "--json",
                        "--no-elf")
    assert resumed.returncode == 0, resumed.stderr
    rdoc = json.loads(resumed.stdout)
    check_complete_folder(out, spec, rdoc, resumed=True)
    total = sum(r["length"] for r in rdoc["regions"])
    assert rdoc["stats"]["bytes_read"] == total - ddr["bytes"]  # nothing read twice


def test_interrupt_ends_the_wait_for_a_device_that_went_away(tmp_path: Path) -> None:
    """A device gone mid-pull is waited for (timeout 0: forever); the interrupt event (a
    watch stopping, a GUI's cancel button) ends that wait, and the manifest says so."""
    from helpers import Simulator

    stop = threading.Event()
    out = tmp_path / "dump"
    outcome: list[BaseException] = []
    with Simulator("fulldump?size=64M") as sim:

        class KillTheDevice(InterruptAfter):
            def advance(self, n: int) -> None:
                self.saved += n
                if self.saved >= 4 * CHUNK and sim.running:
                    sim.stop(signal.SIGKILL)  # the board drops off the bus for good

        def run() -> None:
            try:
                pull(sim.uri, output=out, chunk_size=CHUNK, timeout=0, elf=False,
                     progress=KillTheDevice(stop, 1 << 62), interrupt=stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        wait_for_file_size(out / "DDRCS0_0.BIN.part", 4 * CHUNK)
        worker.join(1.0)
        assert worker.is_alive(), outcome  # waiting for the device to come back
        stop.set()
        worker.join(60)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Interrupted), outcome
    m = load_manifest(out)
    assert m["status"] == "interrupted"
    assert regions_by_name(m)["DDRCS0_0.BIN"]["bytes"] >= 4 * CHUNK
