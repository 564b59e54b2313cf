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
    missing = None if wrapper else "umockdev-wrapper is missing"
    if missing is None:
        try:  # the tier's handler needs umockdev's GObject API in this interpreter
            import gi

            gi.require_version("UMockdev", "1.0")
        except (ImportError, ValueError) as exc:
            missing = (f"umockdev's GObject bindings are not importable here ({exc}); use a "
                       "venv made with --system-site-packages")
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {missing}; install: {INSTALL}")
        pytest.skip(f"{missing}; install: {INSTALL}")
    assert wrapper is not None
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
