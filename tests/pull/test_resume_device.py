"""``--resume`` remembers the device: the printed command works as typed.

The manifest records the transport URI, the USB serial and the USB path. ``qdlpy pull -o
DIR --resume`` without --transport/--serial/--usb-path talks to that device again (with
two simulated USB devices attached, a pull that did not remember would be ambiguous), and
a device that is not the one in the folder (another serial, another table) is refused
before a byte is written. The resume command printed on stderr is run through a shell,
exactly as printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import Simulator, qdlpy_env, run_qdlpy
from pull_support import check_complete_folder, load_manifest

FULL = "fulldump?size=1M"
DEAD_OCIMEM = "dead_at=0x14680000"  # OCIMEM.BIN never answers
USB_FAILING = f"{FULL}&{DEAD_OCIMEM}&usb_serial=AAA1,kmemdump?usb_serial=BBB2"
USB_HEALTHY = f"{FULL}&usb_serial=AAA1,kmemdump?usb_serial=BBB2"


def printed_resume_command(stderr: str) -> str:
    match = re.search(r"continue with: (.*)\)$", stderr, re.MULTILINE)
    assert match, stderr
    return match.group(1)


def run_in_shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``command`` as a user would paste it, with this environment's qdlpy on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, text=True, capture_output=True,
                          env=qdlpy_env({**env, "PATH": path}), timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def failed_usb_pull(tmp_path: Path) -> tuple[Path, str]:
    """A pull of the device with serial AAA1 (of two) that stops at a dead region."""
    proc = run_qdlpy("pull", "--serial", "AAA1", "-o", "dump", "--io-timeout", "0.2",
                     cwd=tmp_path, env={"QDLPY_USB_SIM": USB_FAILING})
    assert proc.returncode == 7, proc.stderr
    out = tmp_path / "dump"
    m = load_manifest(out)
    assert m["transport"] == "usb" and m["device"]["serial"] == "AAA1"
    assert m["device"]["usb_path"] == "1-1.1"
    return out, printed_resume_command(proc.stderr)


def test_the_printed_resume_command_finds_the_same_usb_device(tmp_path: Path) -> None:
    out, command = failed_usb_pull(tmp_path)
    assert command == "qdlpy pull -o dump --resume"
    # The device is back (healthy now), next to another one: nothing is ambiguous.
    proc = run_in_shell(f"{command} --json", tmp_path, {"QDLPY_USB_SIM": USB_HEALTHY})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["output_dir"] == "dump" and doc["device"]["serial"] == "AAA1"
    doc["output_dir"] = str(out)  # as typed: relative to where the command ran
    check_complete_folder(out, FULL, doc, resumed=True)


def test_another_device_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    out, _ = failed_usb_pull(tmp_path)
    before = snapshot(out)
    # The same dump contents behind another serial: not the device this folder came from.
    other_serial = run_qdlpy("pull", "-o", out, "--resume", "--transport", "usb", "--json",
                             env={"QDLPY_USB_SIM": f"{FULL}&usb_serial=CCC3"})
    assert other_serial.returncode == 9, other_serial.stderr
    err = json.loads(other_serial.stdout)["error"]
    assert err["code"] == "different-device"
    assert "AAA1" in err["message"] and "CCC3" in err["message"]
    # The other attached device, chosen explicitly: another table.
    other_table = run_qdlpy("pull", "-o", out, "--resume", "--serial", "BBB2", "--json",
                            env={"QDLPY_USB_SIM": USB_HEALTHY})
    assert other_table.returncode == 9, other_table.stderr
    assert json.loads(other_table.stdout)["error"]["code"] == "different-device"
    after = snapshot(out)
    log = after.pop("qdlpy.log")
    assert log.startswith(before.pop("qdlpy.log"))  # the refusals are logged, nothing else
    assert after == before


def test_the_printed_resume_command_over_tcp(tmp_path: Path) -> None:
    with Simulator(f"{FULL}&{DEAD_OCIMEM}") as sim:
        proc = run_qdlpy("pull", "-t", sim.uri, "-o", "dump", "--io-timeout", "0.2",
                         "--keep-going", cwd=tmp_path)
        assert proc.returncode == 8, proc.stderr
        assert load_manifest(tmp_path / "dump")["transport"] == sim.uri
        command = printed_resume_command(proc.stderr)
        # Same device, the region still dead: the remembered URI reached it again.
        again = run_in_shell(f"{command} --json --io-timeout 0.2 --keep-going", tmp_path, {})
    assert again.returncode == 8, again.stderr
    assert f"pulled from: {sim.uri}" in again.stderr
    doc = json.loads(again.stdout)
    assert doc["error"]["code"] == "partial-dump"
    status = {r["filename"]: r["status"] for r in doc["regions"]}
    assert status == {"DDRCS0_0.BIN": "complete", "OCIMEM.BIN": "failed",
                      "CODERAM.BIN": "complete", "load.cmm": "complete"}


def test_resume_keeps_the_selection_it_was_started_with(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    first = run_qdlpy("pull", "-t", f"sim:{FULL}&{DEAD_OCIMEM}", "-o", out, "--io-timeout",
                      "0.2", "--exclude", "CODERAM*")
    assert first.returncode == 7, first.stderr
    proc = run_qdlpy("pull", "-t", f"sim:{FULL}", "-o", out, "--resume", "--json")
    assert proc.returncode == 0, proc.stderr
    status = {r["filename"]: r["status"] for r in json.loads(proc.stdout)["regions"]}
    assert status == {"DDRCS0_0.BIN": "complete", "OCIMEM.BIN": "complete",
                      "CODERAM.BIN": "skipped", "load.cmm": "complete"}


def test_a_version_1_manifest_is_resumed_with_its_states_renamed(tmp_path: Path) -> None:
    """qdlpy.pull/1 said complete/failed for the pull; /2 says ok/error (one vocabulary)."""

    out = tmp_path / "dump"
    first = run_qdlpy("pull", "-t", "sim:fulldump?size=2M", "-o", out, "--no-elf",
                      "-r", "DDRCS*", "--after", "none")
    assert first.returncode == 0, first.stderr
    doc = json.loads((out / "manifest.json").read_text())
    assert (doc["schema"], doc["status"]) == ("qdlpy.pull/2", "ok")
    doc["schema"], doc["status"] = "qdlpy.pull/1", "complete"  # as an older qdlpy wrote it
    (out / "manifest.json").write_text(json.dumps(doc))
    again = run_qdlpy("pull", "-t", "sim:fulldump?size=2M", "-o", out, "--resume", "--no-elf",
                      "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "ok"
    assert json.loads((out / "manifest.json").read_text())["schema"] == "qdlpy.pull/2"
