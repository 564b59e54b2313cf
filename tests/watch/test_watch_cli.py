"""``qdlpy watch`` as a process: JSON lines, signals, relays that vanish, --exec, the table.

USB devices come from ``QDLPY_USB_SIM`` (simulated devices behind the pyusb backend of the
subprocess), tcp devices from ``qdlpy simulate`` processes.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from helpers import Simulator, run_qdlpy, start_qdlpy
from watch_support import JsonLines, check_complete, check_lines, manifest, pull_dirs

import qdlpy

SPEC = "fulldump?size=4M"
FAST_PROGRESS = {"QDLPY_PROGRESS_INTERVAL": "0.05"}


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    out = tmp_path / "reference"
    assert qdlpy.pull(f"sim:{SPEC}", output=out, elf=False).status == "ok"
    return out


def test_usb_devices_as_they_appear_with_json_lines(tmp_path: Path, reference: Path) -> None:
    root = tmp_path / "root"
    proc = run_qdlpy("watch", "-o", root, "--count", "2", "--no-elf", "--json",
                     env={"QDLPY_USB_SIM": f"{SPEC},{SPEC}", **FAST_PROGRESS})
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    check_lines(events)
    assert {e["device"]["usb_path"] for e in events if e["event"] == "device-seen"} == \
        {"1-1.1", "1-1.2"}
    finished = [e for e in events if e["event"] == "pull-finished"]
    assert [e["status"] for e in finished] == ["ok", "ok"]
    for event in finished:
        folder = Path(event["output_dir"])
        assert folder.parent == root / event["device"]["serial"]
        summary = event["summary"]
        assert summary["schema"] == "qdlpy.pull/2" and summary["status"] == "ok"
        assert summary["stats"]["bytes_read"] == sum(r["length"] for r in summary["regions"])
        check_complete(folder, reference)
    assert events[-1]["exit_code"] == 0


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_every_pull_cleanly(tmp_path: Path, sig: int, code: int) -> None:
    big = "fulldump?size=2G"  # far more than can be pulled before the signal lands
    root = tmp_path / "root"
    with Simulator(big) as one, Simulator(big) as two:
        with JsonLines(start_qdlpy("watch", "-o", root, "-t", one.uri, "-t", two.uri,
                                   "--json", env=FAST_PROGRESS)) as watch:
            watch.wait_for(lambda evs: len({e["device"]["key"] for e in evs if
                                            e["event"] == "progress" and e["bytes_done"]}) == 2)
            watch.proc.send_signal(sig)
            returncode, stderr = watch.finish()
        assert returncode == code, stderr
        check_lines(watch.events)
        assert watch.events[-1]["status"] == "interrupted"
        assert [e["status"] for e in watch.of("pull-finished")] == ["interrupted"] * 2
        for folder in pull_dirs(root):
            doc = manifest(folder)
            assert doc["status"] == "interrupted" and doc["after"] == "none"
            assert any(r["bytes"] for r in doc["regions"])
        for sim in (one, two):  # released, and still holding its dump
            regions = run_qdlpy("regions", "-t", sim.uri, "--timeout", "20", "--json")
            assert regions.returncode == 0, regions.stderr
            assert json.loads(regions.stdout)["table"]["entries"] == 4


def test_a_relay_that_goes_away_mid_pull_is_continued_when_it_is_back(
        tmp_path: Path, reference: Path) -> None:
    root = tmp_path / "root"
    # The device stops answering after 1 MiB of DDR (plus the table it sends first), so
    # the relay is cut mid-region; the same dump is then served again on the same port.
    cut = 1 << 20
    table = len(qdlpy.read_regions(f"sim:{SPEC}").table.raw)
    with Simulator(f"{SPEC}&stall_after={cut + table}") as first, \
            JsonLines(start_qdlpy("watch", "-o", root, "-t", first.uri, "--count", "1",
                                  "--timeout", "1", "--io-timeout", "60", "--no-elf",
                                  "--json", env=FAST_PROGRESS)) as watch:
        port = first.uri.rsplit(":", 1)[1]
        watch.wait_for(lambda evs: any(e["event"] == "pull-started" for e in evs))
        part = Path(watch.of("pull-started")[0]["output_dir"]) / "DDRCS0_0.BIN.part"
        watch.wait_for(lambda evs: part.exists() and part.stat().st_size >= cut)
        first.stop()  # the relay goes away mid-region
        watch.wait_for(lambda evs: any(e["event"] == "pull-paused" for e in evs))
        with Simulator(SPEC, "--listen", f"tcp:127.0.0.1:{port}"):  # and comes back
            returncode, stderr = watch.finish()
    assert returncode == 0, stderr
    check_lines(watch.events)
    started = watch.of("pull-started")
    assert [e["resume"] for e in started] == [False, True]
    assert len({e["output_dir"] for e in started}) == 1
    [folder] = pull_dirs(root)
    assert folder.parent.name == f"127.0.0.1-{port}"
    check_complete(folder, reference)


def test_exec_output_goes_to_the_log_and_its_failure_is_its_own(tmp_path: Path) -> None:
    proc = run_qdlpy("watch", "-o", tmp_path / "root", "-t", f"sim:{SPEC}", "--count", "1",
                     "--no-elf", "--json", "--exec",
                     'echo "hello from $QDLPY_DEVICE ($QDLPY_STATUS)"; exit 3')
    assert proc.returncode == 0, proc.stderr  # the pull was complete
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    [hook] = [e for e in events if e["event"] == "exec-finished"]
    key = hook["device"]["key"]
    assert hook["exit_code"] == 3 and hook["status"] == "error"
    assert hook["output"] == [f"hello from {key} (ok)"]
    assert f"hello from {key} (ok)" in proc.stderr


def test_a_terminal_gets_a_live_table(tmp_path: Path) -> None:
    proc = run_qdlpy("watch", "-o", tmp_path / "root", "-t", f"sim:{SPEC}", "--count", "1",
                     "--no-elf", "--progress", "rich", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    key = pull_dirs(tmp_path / "root")[0].parent.name
    table = proc.stderr[proc.stderr.rindex("qdlpy watch"):]
    for word in ("device", "state", "rate", "ETA", key, "ok", f"sim:{SPEC}"):
        assert word in table, proc.stderr


@pytest.mark.parametrize("args", [
    ["-t", "bogus:thing"],
    ["-t", "tcp:127.0.0.1:9", "-t", "tcp:127.0.0.1:9"],
    ["-t", "usb?device=05c6:9008"],
    ["--chunk-size", "100"],
])
def test_bad_arguments_exit_2_before_touching_anything(tmp_path: Path, args: list[str]) -> None:
    proc = run_qdlpy("watch", "-o", tmp_path / "root", *args, "--json")
    assert proc.returncode == 2, proc.stderr
    assert "error" in proc.stderr
    if proc.stdout:
        [doc] = [json.loads(line) for line in proc.stdout.splitlines()]
        assert doc["schema"] == "qdlpy.watch/1" and doc["status"] == "error"
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("flag, written", [((), True), (("--no-report",), False)])
def test_each_pull_gets_the_triage_files_unless_told_not_to(
        tmp_path: Path, flag: tuple[str, ...], written: bool) -> None:
    root = tmp_path / "root"
    proc = run_qdlpy("watch", "-o", root, "-t", "sim:kmemdump", "--count", "1", "--json", *flag)
    assert proc.returncode == 0, proc.stderr
    done = [json.loads(line) for line in proc.stdout.splitlines()][-2]
    folder = Path(done["output_dir"])
    assert (folder / "minidump.elf").is_file()
    assert (folder / "dmesg.txt").is_file() is written
    assert (folder / "report.json").is_file() is written
