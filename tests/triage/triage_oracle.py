"""The oracles: vmcore-dmesg (kexec-tools) on a core file.

A missing tool skips the test on a developer machine, naming the package; under CI=true
it fails (.ci/run installs kexec-tools).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"


def vmcore_dmesg_path() -> str:
    path = shutil.which("vmcore-dmesg") or next(
        (p for p in ("/usr/sbin/vmcore-dmesg", "/sbin/vmcore-dmesg") if os.access(p, os.X_OK)),
        None)
    if path is None:
        msg = "vmcore-dmesg is not installed (apt-get install kexec-tools)"
        if IN_CI:
            pytest.fail(f"CI must provide it: {msg}")
        pytest.skip(msg)
    return path


def vmcore_dmesg(core: Path) -> bytes:
    """vmcore-dmesg's stdout; the test fails on a non-zero exit (it printed to stderr why)."""
    proc = subprocess.run([vmcore_dmesg_path(), str(core)], capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, f"vmcore-dmesg exit {proc.returncode}: {proc.stderr!r}"
    return proc.stdout
