"""Conventions every ``qdlpy`` command shares, checked on the real console script.

--json answers usage errors with its one document too; -v/-q work after the command name;
-q leaves only warnings; a reader that closes stdout early (``| head``) ends the run
quietly.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import qdlpy_command, qdlpy_env, run_qdlpy


@pytest.mark.parametrize(
    ("args", "schema"),
    [
        (["pull", "--json", "--no-such-option"], "qdlpy.pull/2"),
        (["regions", "--json", "--timeout", "soon"], "qdlpy.regions/1"),
        (["ramdump", "--json", "--chunk-size"], "qdlpy.pull/2"),  # the alias, a missing value
        (["assemble", "--json"], "qdlpy.assemble/1"),  # a missing argument
        (["pul", "--json"], "qdlpy/1"),  # no such command
    ],
)
def test_usage_errors_under_json_print_one_error_document(args: list[str], schema: str) -> None:
    run = run_qdlpy(*args)
    assert run.returncode == 2
    doc = json.loads(run.stdout)  # exactly one document: json.loads refuses trailing data
    assert doc["schema"] == schema and doc["status"] == "error"
    assert doc["error"]["code"] == "invalid-argument" and doc["error"]["exit_code"] == 2
    assert doc["error"]["message"] in run.stderr  # the human message still goes to stderr


def test_usage_errors_without_json_leave_stdout_empty() -> None:
    run = run_qdlpy("pull", "--no-such-option")
    assert run.returncode == 2 and run.stdout == "" and "No such option" in run.stderr


def test_verbosity_options_work_after_the_command(tmp_path: Path) -> None:
    before = run_qdlpy("-vv", "regions", "-t", "sim:kmemdump")
    after = run_qdlpy("regions", "-t", "sim:kmemdump", "-vv")
    assert before.returncode == after.returncode == 0
    for run in (before, after):
        assert "DEBUG qdlpy.session" in run.stderr  # -v: debug lines
        assert "HELLO" in run.stderr
    quiet = run_qdlpy("regions", "-t", "sim:kmemdump", "-q")
    assert quiet.returncode == 0 and "DEBUG" not in quiet.stderr


def test_quiet_pull_prints_only_warnings_and_the_folder(tmp_path: Path) -> None:
    loud = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", tmp_path / "loud", "--progress", "none")
    quiet = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", tmp_path / "quiet", "-q")
    assert loud.returncode == quiet.returncode == 0
    assert "regions saved" in loud.stderr and "next:" in loud.stderr
    assert quiet.stderr == ""  # a healthy pull: nothing needs attention
    assert quiet.stdout.strip() == str(tmp_path / "quiet")


def test_a_closed_stdout_ends_the_run_quietly() -> None:
    proc = subprocess.Popen([*qdlpy_command(), "regions", "-t", "sim:kmemdump"],
                            env=qdlpy_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the table is written (`| head -0`)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err == b""  # no traceback, no "Exception ignored" from the final flush
