"""The third-party checkers, run as subprocesses with timeouts: crash, gdb and drgn.

Assertions use runtime values only: the marker line /init wrote to /dev/kmsg and the
hostname it set. gdb silently reads addresses missing from a core out of vmlinux's own
sections, so a compile-time value (``init_uts_ns.name.release``) would pass even with an
empty core (docs/testing.md#trust-only-runtime-values).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

__all__ = ["crash_log", "gdb_print", "drgn_probe", "crash_full_mode", "FullModeResult"]

DRGN_PROBE = Path(__file__).with_name("drgn_probe.py")
TOOL_TIMEOUT = 300.0


def _run(argv: list[str], timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s")


def _crash(crash: list[str], vmlinux: Path, core: Path, commands: list[str],
           flags: list[str]) -> subprocess.CompletedProcess[str]:
    """Run crash (``crash``: its argv prefix, KernelCase.crash) on ``commands``."""
    with tempfile.NamedTemporaryFile("w", suffix=".crash", delete=False) as script:
        script.write("\n".join([*commands, "quit"]) + "\n")
        cmdfile = script.name
    try:
        return _run([*crash, "-s", *flags, str(vmlinux), str(core), "-i", cmdfile])
    finally:
        Path(cmdfile).unlink(missing_ok=True)


def crash_log(vmlinux: Path, core: Path, *, crash: list[str]) -> str:
    """``crash -s --minimal vmlinux core`` + ``log``: the kernel log as crash prints it.
    crash exits 0 even when ``log`` fails (docs/testing.md#trust-only-runtime-values), so callers
    grep the marker."""
    proc = _crash(crash, vmlinux, core, ["log"], ["--minimal"])
    return proc.stdout + proc.stderr


def gdb_print(gdb: str, vmlinux: Path, core: Path, expr: str) -> str:
    proc = _run([gdb, "-batch", "-nx", str(vmlinux), str(core), "-ex", f"p {expr}"])
    return proc.stdout + proc.stderr


def drgn_probe(vmlinux: Path, core: Path) -> dict[str, Any]:
    proc = _run([sys.executable, str(DRGN_PROBE), str(vmlinux), str(core)])
    if proc.returncode != 0:
        pytest.fail(f"drgn could not read {core}: {proc.stderr[-2000:]}")
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@dataclasses.dataclass(frozen=True)
class FullModeResult:
    reached_prompt: bool  # `sys` printed a NODENAME line
    nodename: str | None
    read_errors: list[str]  # '<type> at <address>' of every read error, in order
    exit_code: int
    output: str

    def summary(self) -> str:
        if self.reached_prompt:
            return f"crash full mode reached the prompt (NODENAME {self.nodename})"
        first = self.read_errors[0] if self.read_errors else "none"
        last = self.read_errors[-1] if self.read_errors else "none"
        return (f"crash full mode stopped during start-up (exit {self.exit_code}); "
                f"{len(self.read_errors)} read errors, first: {first}, last (fatal): {last}")


FULL_MODE_FLAGS = ["-d", "1", "--no_modules", "--no_panic", "--no_kmem_cache", "--zero_excluded"]


def crash_full_mode(vmlinux: Path, core: Path, *, crash: list[str]) -> FullModeResult:
    """Stock crash in full mode; -d 1 is what makes it say which read failed
    (docs/testing.md#crash-full-mode)."""
    proc = _crash(crash, vmlinux, core, ["sys"], FULL_MODE_FLAGS)
    text = proc.stdout + proc.stderr
    errors = [f"{kind} at {addr}" for addr, kind in
              re.findall(r'read error: .*?address: (\S+)\s+type: "([^"]*)"', text)]
    node = re.search(r"^\s*NODENAME: (\S+)", text, re.MULTILINE)
    return FullModeResult(node is not None, node.group(1) if node else None, errors,
                          proc.returncode, text)
