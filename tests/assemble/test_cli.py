"""`qdlpy assemble` and `qdlpy inspect` through the real command line (--json, exit codes)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import qdlpy_command
from oracle import kmemdump

from qdlpy.cli.main import main

MakeFolder = Callable[..., Path]


def test_assemble_json_subprocess(make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64").without(13)
    folder = make_folder(s)
    proc = subprocess.run([*qdlpy_command(), "assemble", str(folder), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "qdlpy.assemble/1" and doc["status"] == "warnings"
    assert doc["output"] == str(folder / "minidump.elf")
    assert doc["kernel"]["osrelease"] == s.osrelease
    assert doc["kernel"]["regions_missing"] == 1
    assert doc["kernel"]["missing"][0]["paddr"] == hex(s.load(13).pa)
    assert (folder / "minidump.elf").read_bytes() == s.expected()
    assert doc["address_source"] == "manifest"
    assert any(c.startswith("crash --minimal vmlinux ") for c in doc["next_commands"])


def test_assemble_human_output(make_folder: MakeFolder, capsys: pytest.CaptureFixture[str]) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    out = folder / "x.elf"
    assert main(["assemble", str(folder), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert s.osrelease in text and "aarch64" in text and "gdb-multiarch" in text
    assert out.read_bytes() == s.expected()


def test_assemble_strict_and_repair_flags(make_folder: MakeFolder,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    s = kmemdump.build("x86_64", corrupt_notes=True)
    folder = make_folder(s)
    assert main(["assemble", str(folder), "--strict"]) == 10
    assert "--repair" in capsys.readouterr().err
    assert not (folder / "minidump.elf").exists()
    assert main(["assemble", str(folder), "--repair", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kernel"]["repairs"] and doc["kernel"]["osrelease"] == s.osrelease
    assert (folder / "minidump.elf").read_bytes() == s.expected(repair=True)


def test_assemble_error_json_and_exit_code(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["assemble", str(tmp_path / "empty"), "--json"]) == 10
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["schema"] == "qdlpy.assemble/1" and doc["status"] == "error"
    assert doc["error"]["code"] == "bad-input" and doc["error"]["exit_code"] == 10
    assert "no region files" in cap.err


def test_assemble_encrypted_exit_code(make_folder: MakeFolder,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(kmemdump.build("arm64", encrypted=True))
    assert main(["assemble", str(folder)]) == 10
    assert "encrypted" in capsys.readouterr().err


def test_inspect_json_subprocess(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    assert main(["assemble", str(folder), "--json"]) == 0
    proc = subprocess.run([*qdlpy_command(), "inspect", str(folder / "minidump.elf"), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "qdlpy.inspect/1" and doc["kind"] == "elf"
    assert doc["vmcoreinfo"]["OSRELEASE"] == s.osrelease
    assert len(doc["kernel"]["placements"]) == len(s.loads)
    assert doc["notes"] == ["CORE/1", "CORE/3", "VMCOREINFO/0"]


def test_inspect_folder_human(make_folder: MakeFolder, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(kmemdump.build("x86_64").without(24))
    assert main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "address source: manifest" in out and "missing" in out and "OSRELEASE=" in out


def test_inspect_missing_path_exit_code(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "nope"), "--json"]) == 10
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "qdlpy.inspect/1" and doc["error"]["exit_code"] == 10


def test_warnings_go_to_stderr_data_to_stdout(make_folder: MakeFolder,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(kmemdump.build("arm64", corrupt_notes=True).without(24))
    assert main(["assemble", str(folder)]) == 0
    cap = capsys.readouterr()
    assert "warning:" not in cap.out and "warning: " in cap.err
    assert "next:" in cap.out and "address source: manifest" in cap.out
    assert main(["assemble", str(folder), "--repair"]) == 0
    cap = capsys.readouterr()
    assert "repair:" not in cap.out and "repair: " in cap.err
    assert main(["inspect", str(folder / "minidump.elf")]) == 0
    cap = capsys.readouterr()
    assert "warning:" not in cap.out and "warning: " in cap.err and "PT_LOAD" in cap.out
