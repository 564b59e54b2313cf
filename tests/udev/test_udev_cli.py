"""`qdlpy udev show|install` and `qdlpy doctor` through the real command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import qdlpy_command

from qdlpy import udev_rules
from qdlpy.cli.main import main


def test_udev_show_prints_the_packaged_rule_as_a_subprocess() -> None:
    proc = subprocess.run([*qdlpy_command(), "udev", "show"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == udev_rules.packaged_rules()


def test_udev_show_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev", "show", "--group", "plugdev"]) == 0
    assert capsys.readouterr().out == udev_rules.render("plugdev")


def test_udev_install_into_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev", "install", "--root", str(tmp_path), "--group", "dialout"]) == 0
    written = tmp_path / "etc/udev/rules.d/60-qdlpy.rules"
    assert written.read_text() == udev_rules.render("dialout")
    assert f"wrote {written}" in capsys.readouterr().err


def test_udev_install_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev", "install", "--root", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert not (tmp_path / "etc").exists()
    assert out.out == udev_rules.packaged_rules()
    assert "would write" in out.err


def test_udev_install_bad_group_is_usage_error(tmp_path: Path) -> None:
    assert main(["udev", "install", "--root", str(tmp_path), "--group", "a b"]) == 2


def test_root_option_is_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["udev", "install", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--group" in out and "--dry-run" in out and "--root" not in out


def test_doctor_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "qdlpy.doctor/1"
    assert doc["exit_code"] == code
    assert doc["status"] == ("ok" if code == 0 else "fail")
    ids = {f["id"] for f in doc["findings"]}
    assert {"libusb", "udev-rule", "devices", "modemmanager"} <= ids
    for f in doc["findings"]:
        assert set(f) == {"id", "status", "summary", "detail", "fix"}
        assert f["status"] in {"ok", "warn", "fail", "info"}
        if f["status"] in ("warn", "fail"):
            assert f["fix"], f


def test_doctor_human_output_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "libusb" in out
    assert code in (0, 1, 4)


def test_udev_install_unknown_group_is_usage_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("plugdev:x:46:\n")
    assert main(["udev", "install", "--root", str(tmp_path), "--group", "nosuchgroup"]) == 2
    assert "nosuchgroup" in capsys.readouterr().err
    assert not (tmp_path / "etc/udev").exists()
