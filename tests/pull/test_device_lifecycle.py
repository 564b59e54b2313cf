"""What a pull leaves the device in: `regions` then `pull` on one device, --after none|reset.

A real device stays in download mode between host runs and sends HELLO once per Sahara
session; `qdlpy regions` leaves it mid-session, so the next `qdlpy pull` gets no HELLO and
must re-provoke one (SWITCH_MODE, never RESET). `--after reset` reboots the device once
everything is saved (the simulator then leaves download mode: `qdlpy simulate` exits, an
in-process `sim:` device is replaced by a fresh one); `--after none` leaves it waiting.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import Simulator, run_qdlpy
from pull_support import check_complete_folder, region_files, served_model

from qdlpy.dump import pull
from qdlpy.protocols.device import DeviceState
from qdlpy.protocols.table import parse_table
from qdlpy.transport.sim import shared_model


def test_regions_then_pull_on_the_same_tcp_device(tmp_path: Path) -> None:
    spec = "kmemdump"
    with Simulator(spec) as sim:
        listed = run_qdlpy("regions", "-t", sim.uri, "--json")
        assert listed.returncode == 0, listed.stderr
        doc = json.loads(listed.stdout)
        assert doc["schema"] == "qdlpy.regions/1" and doc["status"] == "ok"
        table = served_model(spec).personality.table
        assert [r["filename"] for r in doc["regions"]] == \
            [r.filename for r in parse_table(table, is64=True)]
        assert sim.running  # regions sent no RESET

        out = tmp_path / "dump"
        pulled = run_qdlpy("pull", "-t", sim.uri, "-o", out, "--json")
        assert pulled.returncode == 0, pulled.stderr
        # The device owed no HELLO (it was mid-session): the pull had to re-provoke one.
        assert "no HELLO" in pulled.stderr
        check_complete_folder(out, spec, json.loads(pulled.stdout))
        assert sim.wait() == 0  # --after reset (default): the device rebooted


def test_after_none_over_tcp_keeps_the_device_for_another_pull(tmp_path: Path) -> None:
    spec = "fulldump?size=1M"
    with Simulator(spec) as sim:
        first = run_qdlpy("pull", "-t", sim.uri, "-o", tmp_path / "a", "--after", "none")
        assert first.returncode == 0, first.stderr
        assert sim.running
        second = run_qdlpy("pull", "-t", sim.uri, "-o", tmp_path / "b", "--json")
        assert second.returncode == 0, second.stderr
        assert sim.wait() == 0
    a = check_complete_folder(tmp_path / "a", spec)
    b = check_complete_folder(tmp_path / "b", spec, json.loads(second.stdout))
    assert a["after"] == "none" and b["after"] == "reset"
    assert region_files(tmp_path / "a") == region_files(tmp_path / "b")


def test_after_reset_in_process_gives_a_fresh_device(tmp_path: Path) -> None:
    spec = "fulldump?size=1M"
    device = shared_model(spec)
    result = pull(f"sim:{spec}", output=tmp_path / "a", elf=False)
    assert result.status == "ok" and result.manifest.after == "reset"
    assert device.rebooted  # the RESET reached the device: its dump is gone
    fresh = shared_model(spec)
    assert fresh is not device and not fresh.rebooted
    again = pull(f"sim:{spec}", output=tmp_path / "b", elf=False)
    assert again.status == "ok"
    assert region_files(tmp_path / "a") == region_files(tmp_path / "b")


def test_after_none_in_process_keeps_the_same_device_waiting(tmp_path: Path) -> None:
    spec = "fulldump?size=1M"
    device = shared_model(spec)
    result = pull(f"sim:{spec}", output=tmp_path / "a", after="none", elf=False)
    assert result.manifest.after == "none"
    assert not device.rebooted
    assert device.machine.state is DeviceState.WAIT_MEMORY_READ
    assert shared_model(spec) is device
    again = pull(f"sim:{spec}", output=tmp_path / "b", after="none", elf=False)
    assert again.status == "ok"
    assert shared_model(spec) is device
    assert region_files(tmp_path / "a") == region_files(tmp_path / "b")
