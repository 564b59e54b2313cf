"""Holes on a real kernel: with the printk text ring and init_uts_ns missing from the
folder, every reader of the assembled minidump reads zeros there, never the bytes of
another region or the vmlinux's link-time data (docs/formats.md#missing-regions).

The synthetic counterpart (vmcore-dmesg, makedumpfile, gdb with an executable behind the
core, drgn, pyelftools on oracle region sets) is tests/assemble/test_holes.py; crash needs
the real vmlinux, so it is checked here, with and without --zero_excluded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from kernel_case import KernelCase
from kernel_checks import drgn_probe, gdb_print
from qdlpy_cli import run_json

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

GONE = ("prb_data", "init_uts_ns")  # the log's text ring, the hostname
_NUL_TEXT = re.compile(r"^\[\s*\d+\.\d{6}\] (\\x00)*$")


@pytest.fixture(scope="module")
def holed(case: KernelCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ordered folder without the GONE regions, assembled by `qdlpy assemble`."""
    folder = tmp_path_factory.mktemp(f"holes-{case.arch.name}") / "dump"
    shutil.copytree(case.folder("ordered"), folder)
    names = [r["filename"] for r in case.expected["regions"] if r["label"] in GONE]
    assert len(names) == len(GONE), names
    for name in names:
        (folder / name).unlink()
    doc, _ = run_json("assemble", str(folder), "--json")
    holes = {h["filename"] for h in doc["holes"]}
    assert holes == set(names), doc["holes"]
    return folder / "minidump.elf"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace", timeout=600, check=False)


@pytest.mark.parametrize("flags", [[], ["--zero_excluded"]], ids=["plain", "zero_excluded"])
def test_crash_log_reads_zeros(case: KernelCase, holed: Path, flags: list[str],
                               tmp_path: Path) -> None:
    script = tmp_path / "cmds"
    script.write_text("log\nquit\n")
    proc = _run([*case.crash, "-s", "--minimal", *flags, str(case.vmlinux), str(holed),
                 "-i", str(script)])
    out = proc.stdout + proc.stderr
    records = [ln for ln in out.splitlines() if re.match(r"^\[\s*\d+\.\d{6}\]", ln)]
    assert len(records) > 100, out[-3000:]  # the descriptors are there, the text is not
    assert case.expected["marker"] not in out and "read error" not in out, out[-3000:]
    assert all(set(ln.split("] ", 1)[-1]) <= {"."} for ln in records), records[-3:]


def test_gdb_reads_zeros_not_the_vmlinux(case: KernelCase, holed: Path) -> None:
    out = gdb_print(case.arch.gdb_binary, case.vmlinux, holed, "init_uts_ns.name.nodename")
    # char[65]: gdb shows the 64 NULs before the terminating one
    assert re.search(r"= '\\000' <repeats 6[45] times>", out), out[-2000:]
    assert "(none)" not in out and case.expected["hostname"] not in out


def test_drgn_reads_zeros(case: KernelCase, holed: Path) -> None:
    doc = drgn_probe(case.vmlinux, holed)
    assert doc["nodename"] == ""
    assert doc["records"] > 100 and all(set(t) <= {"\0"} for t in doc["texts"])


def test_vmcore_dmesg_reads_zeros(holed: Path) -> None:
    tool = shutil.which("vmcore-dmesg")
    if tool is None:
        pytest.fail("vmcore-dmesg is missing: apt-get install kexec-tools (.ci/run does)")
    proc = _run([tool, str(holed)])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) > 100 and all(_NUL_TEXT.match(ln) for ln in lines), lines[-3:]
