"""contrib/systemd/qdlpy-watch.service: systemd accepts it, it runs qdlpy watch as an
unprivileged user, a SIGTERM stop counts as success, and its command line works."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import qdlpy_command, run_qdlpy

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "qdlpy-watch.service"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_it_runs_as_an_unprivileged_user_and_stops_cleanly() -> None:
    svc = service()
    assert svc["User"] not in ("", "root") and svc["Group"] not in ("", "root")
    assert svc["KillSignal"] == "SIGTERM" and "143" in svc["SuccessExitStatus"].split()
    assert svc["DeviceAllow"] == "char-usb_device rw"


def test_its_command_line_is_a_working_qdlpy_watch(tmp_path: Path) -> None:
    words = shlex.split(service()["ExecStart"])
    assert Path(words[0]).name == "qdlpy" and words[1] == "watch"
    args = words[2:]
    args[args.index("-o") + 1] = str(tmp_path / "dumps")
    proc = run_qdlpy("watch", *args, "-t", "sim:kmemdump", "--count", "1", "--no-elf")
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "dumps").glob("*/*/manifest.json"))


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed: apt-get install systemd")
    # The same unit with ExecStart= pointing at this qdlpy (verify checks it is executable).
    text = UNIT.read_text().replace("/usr/local/bin/qdlpy", qdlpy_command()[0])
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
