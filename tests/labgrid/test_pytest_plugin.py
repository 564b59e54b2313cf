"""The documented way to use QDLDriver in a test suite: labgrid's pytest plugin.

A throw-away project is run by pytest with ``--lg-env``: its test gets the ``target``
fixture, "crashes the board" (here: the simulated board is put in download mode by starting
``qdlpy simulate``), pulls the dump with QDLDriver and checks it with ``qdlpy inspect``.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from helpers import Simulator, qdlpy_env
from labgrid_support import BIN, need_labgrid, write_env

need_labgrid()

TEST_FILE = '''
import json
import subprocess


def test_the_crash_leaves_a_crash_loadable_dump(target, tmp_path):
    qdl = target.get_driver("QDLDriver")  # waits for the board in download mode
    result = qdl.pull(tmp_path / "dump")
    assert result.status == "ok"
    elf = result.output_dir / "minidump.elf"
    inspect = subprocess.run(["{tool}", "inspect", str(elf), "--json"],
                             capture_output=True, text=True, check=True)
    doc = json.loads(inspect.stdout)
    assert doc["schema"] == "qdlpy.inspect/1"
'''


def test_labgrids_pytest_plugin_hands_the_driver_to_a_test(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with Simulator("kmemdump") as board:
        host, port = board.uri.removeprefix("tcp:").rsplit(":", 1)
        env = write_env(project / "lab.yaml", {"main": {
            "resources": {"QDLTCPDevice": {"host": host, "port": int(port)}},
            "drivers": {"QDLDriver": {}}}})
        (project / "test_crash.py").write_text(
            textwrap.dedent(TEST_FILE).replace("{tool}", str(BIN / "qdlpy")))
        proc = subprocess.run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider",
                               "--lg-env", str(env), "test_crash.py"], cwd=project,
                              env=qdlpy_env(), capture_output=True, text=True, timeout=300,
                              check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
