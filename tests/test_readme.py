"""The README starts with two commands that work: the simulator pull (+ report) and the tests.

The first command is run here as written, minus its ``pip install .`` (the package under
test is already installed), in an empty folder.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from helpers import qdlpy_command, qdlpy_env

README = Path(__file__).resolve().parents[1] / "README.md"


def _first_block() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None, "README has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_starts_with_two_commands() -> None:
    first, second = _first_block()  # exactly two
    assert first.startswith("pip install . && qdlpy ")
    assert second == "pip install '.[test]' && pytest"


def test_the_first_command_pulls_and_reports_a_panic(tmp_path: Path) -> None:
    steps = _first_block()[0].split(" && ")[1:]  # the package is installed already
    for step in steps:
        argv = shlex.split(step)
        assert argv[0] == "qdlpy"
        run = subprocess.run([*qdlpy_command(), *argv[1:]], cwd=tmp_path, env=qdlpy_env(),
                             capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL, check=False)
        assert run.returncode == 0, (step, run.stderr)
    assert (tmp_path / "qdlpy-demo" / "minidump.elf").is_file()
    assert "Kernel panic" in run.stdout and "Call trace" in run.stdout
