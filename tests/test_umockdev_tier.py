"""Runs the real-libusb tier (tests/umockdev) under umockdev's preload, once per libusb.

That tier must run in its own process started by ``umockdev-wrapper`` (the preload has to
be there from exec, and a testbed redirects all of /sys). This test starts it, so a plain
``pytest`` covers it: once with Debian's libusb (udev hot-plug) and once with
libusb-package's bundled build (what ``pip install`` users get). pyusb keeps one libusb
per process, hence two runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL = "apt-get install -y umockdev gir1.2-umockdev-1.0 python3-gi libusb-1.0-0"


@pytest.mark.slow
@pytest.mark.parametrize("libusb", ["system", "bundled"])
def test_real_libusb_tier(libusb: str) -> None:
    wrapper = shutil.which("umockdev-wrapper")
    if wrapper is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but umockdev-wrapper is missing; install: {INSTALL}")
        pytest.skip(f"umockdev is not installed; install: {INSTALL}")
    if "libumockdev-preload" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("already running under umockdev-wrapper: the tier runs directly")
    pytest_bin = Path(sys.executable).with_name("pytest")
    env = {**os.environ, "QDLPY_LIBUSB": libusb}
    env.pop("QDLPY_USB_SIM", None)
    proc = subprocess.run(
        [wrapper, str(pytest_bin), "-q", "-p", "no:cacheprovider", "-rs", "tests/umockdev"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout.splitlines()[-1], tail
