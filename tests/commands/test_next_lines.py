"""The "next:" lines of ``qdlpy assemble`` fit the dump's architecture.

crash reads only the cores of the target it was built for, and the crash of an x86
distribution is an x86_64-target build: on an arm64 dump ``crash --osrelease`` prints
"unknown". So an arm64 dump is offered what reads it anywhere (``qdlpy report``,
gdb-multiarch, drgn) and told which crash reads it; an x86_64 dump keeps the crash lines.
The dumps come from ``qdlpy pull`` on the simulator; the lines are read from the text and
the JSON output of ``qdlpy assemble``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import qdlpy

Cli = Callable[..., Any]


def pulled(tmp_path: Path, arch: str) -> Path:
    out = tmp_path / arch
    qdlpy.pull(f"sim:kmemdump?arch={arch}", output=out)
    return out


def next_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("next:")
    return [line.strip() for line in lines[start + 1 :] if line.startswith("  ")]


def test_arm64_dump_is_offered_tools_that_read_it_and_told_which_crash(
        cli: Cli, tmp_path: Path) -> None:
    folder = pulled(tmp_path, "arm64")
    elf = str(tmp_path / "again.elf")
    run = cli("assemble", str(folder), "-o", elf, "--json")
    assert run.code == 0, run.err
    cmds = run.json()["next_commands"]
    assert cmds[0] == f"qdlpy report {elf}"
    assert f"drgn -c {elf} -s vmlinux" in cmds
    assert any(c.startswith("gdb-multiarch ") and c.endswith(elf) for c in cmds)
    assert not any(c.startswith("crash --osrelease") for c in cmds)  # "unknown" on x86
    [note] = [c for c in cmds if c.startswith("#")]
    for fact in ("ARM64-target", "crash:arm64", "qemu-aarch64-static -L /",
                 "make target=ARM64"):
        assert fact in note
    # the note comes before the crash lines it is about
    assert cmds.index(note) < cmds.index(f"crash --minimal vmlinux {elf}")

    text = cli("assemble", str(folder), "-o", elf, "--force")
    assert text.code == 0, text.err
    assert next_block(text.out) == cmds


def test_x86_64_dump_keeps_the_crash_lines(cli: Cli, tmp_path: Path) -> None:
    folder = pulled(tmp_path, "x86_64")
    elf = str(tmp_path / "again.elf")
    run = cli("assemble", str(folder), "-o", elf, "--json")
    assert run.code == 0, run.err
    cmds = run.json()["next_commands"]
    assert cmds[:2] == [f"crash --osrelease {elf}", f"crash --minimal vmlinux {elf}"]
    assert any(c.startswith("gdb ") and c.endswith(elf) for c in cmds)
    assert not any(c.startswith("#") for c in cmds)


@pytest.mark.skipif(platform.machine() != "x86_64",
                    reason="the claim is about the crash of an x86_64 host")
def test_an_x86_64_crash_cannot_name_the_arm64_release(tmp_path: Path) -> None:
    """Why the arm64 lines say what they say: Debian's crash (an external oracle) reads the
    x86_64 dump's release and prints "unknown" for the arm64 one."""
    if shutil.which("crash") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install crash (.ci/run)")
        pytest.skip("crash is not installed (apt-get install crash)")
    releases = {}
    for arch in ("x86_64", "arm64"):
        elf = pulled(tmp_path, arch) / "minidump.elf"
        proc = subprocess.run(["crash", "--osrelease", str(elf)], capture_output=True,
                              text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
        releases[arch] = proc.stdout.strip()
    assert releases["arm64"] == "unknown"
    assert releases["x86_64"].endswith("x86_64") and releases["x86_64"] != "unknown"
