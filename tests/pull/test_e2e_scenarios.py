"""`qdlpy pull` end to end through the real command line, for each memory-debug scenario.

Two routes per scenario: the in-process simulator (`-t sim:...`, one qdlpy process) and
tcp (a `qdlpy simulate` process serving a `qdlpy pull` process). Every region file must
equal the simulator's bytes and the folder must carry manifest.json (qdlpy.pull/1, with
per-region status, bytes and an independently checked sha256), dump_info.txt, table.bin,
load.cmm as served and qdlpy.log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Simulator, run_qdlpy
from pull_support import check_complete_folder, served_model

SCENARIOS = ["kmemdump", "fulldump?size=2M", "legacy32"]


@pytest.mark.parametrize("spec", SCENARIOS)
def test_pull_sim_through_the_cli(tmp_path: Path, spec: str) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{spec}", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    m = check_complete_folder(out, spec, doc)
    assert m["transport"] == f"sim:{spec}"
    assert m["after"] == "reset"


@pytest.mark.parametrize("spec", SCENARIOS)
def test_pull_over_tcp_from_a_simulate_process(tmp_path: Path, spec: str) -> None:
    out = tmp_path / "dump"
    with Simulator(spec) as sim:
        proc = run_qdlpy("pull", "-t", sim.uri, "-o", out, "--json")
        assert proc.returncode == 0, proc.stderr
        # --after reset (the default) reboots the device: the simulator leaves download
        # mode and exits by itself.
        assert sim.wait() == 0
    doc = json.loads(proc.stdout)
    m = check_complete_folder(out, spec, doc)
    assert m["transport"] == sim.uri
    assert m["device"]["mode"] == 2  # memory debug
    assert m["table"]["is64"] is served_model(spec).personality.is64


def test_kmemdump_pull_builds_minidump_elf(tmp_path: Path) -> None:
    """The kernel regions are complete, so pull assembles minidump.elf and says so."""
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (out / "minidump.elf").read_bytes()[:4] == b"\x7fELF"
    assert doc["elf"] is not None and doc["elf"] == load_elf_field(out)


def test_no_elf_leaves_only_region_files(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", out, "--no-elf", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not list(out.glob("*.elf"))
    assert json.loads(proc.stdout)["elf"] is None
    check_complete_folder(out, "kmemdump")


def load_elf_field(out: Path) -> object:
    return json.loads((out / "manifest.json").read_text())["elf"]


def test_qdlpy_log_records_the_handshake(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M&lose_hello=1", "-o", out)
    assert proc.returncode == 0, proc.stderr
    log = (out / "qdlpy.log").read_text()
    assert "HELLO" in log  # the lost HELLO and its safe re-provocation
    assert "table at 0x" in log


def test_scenario_arguments_work_as_the_help_shows() -> None:
    """`simulate --help` lists fulldump:SIZE and dir:PATH; other scenarios take no :ARG."""
    run = run_qdlpy("regions", "-t", "sim:fulldump:2M", "--json")
    assert run.returncode == 0, run.stderr
    ddr = json.loads(run.stdout)["regions"][0]
    assert ddr["filename"] == "DDRCS0_0.BIN" and ddr["length"] == 2 << 20
    bad = run_qdlpy("regions", "-t", "sim:kmemdump:64M")
    assert bad.returncode == 2 and "takes no ':64M'" in bad.stderr
    shown = run_qdlpy("simulate", "--help").stdout
    assert "fulldump:SIZE" in " ".join(shown.split()) and "dir:PATH" in shown
