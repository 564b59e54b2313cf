"""The real `qdlpy` command as a subprocess, over pyusb -> libusb -> usbdevfs -> this process.

The child inherits LD_PRELOAD and UMOCKDEV_DIR, so its ioctls on /dev/bus/usb/... are
answered by the handlers living in this pytest process
(docs/testing.md#how-the-umockdev-tier-works). Each test runs once with Debian's libusb and once
with libusb-package's (QDLPY_LIBUSB=system|bundled, resolved by qdlpy.transport.usb_backend).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534


def qdlpy(bus: Any, *args: str, libusb: str, user: int | None = None,
          timeout: float = 240) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("qdlpy", path=str(Path(sys.executable).parent)) or "qdlpy"
    # Testbed.new() sets UMOCKDEV_DIR with g_setenv, which os.environ does not see.
    env = dict(os.environ, QDLPY_LIBUSB=libusb, COLUMNS="200",
               UMOCKDEV_DIR=bus.testbed.get_root_dir())
    env.pop("QDLPY_USB_SIM", None)
    kwargs: dict[str, Any] = {}
    if user is not None:
        kwargs.update(user=user, group=user, extra_groups=[])
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, **kwargs)


@pytest.fixture(params=["system", "bundled"])
def libusb(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pull_json(bus: Any, out: Path, *extra: str,
              libusb: str) -> tuple[int, dict[str, Any], str]:
    proc = qdlpy(bus, "pull", "--transport", "usb", "-o", str(out), "--timeout", "10",
                 "--json", *extra, libusb=libusb)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, doc, proc.stderr


def test_full_pull_and_elf(bus: Any, pipe: Callable[..., Any], tmp_path: Path,
                           libusb: str) -> None:
    plugged = bus.plug(pipe("kmemdump", serial="CLI00001"), kernel_driver="qcserial")
    out = tmp_path / "dump"
    code, doc, err = pull_json(bus, out, libusb=libusb)
    assert code == 0, err
    assert doc["status"] == "ok", doc
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert all(r["status"] == "complete" for r in manifest["regions"])
    elf = out / "minidump.elf"
    assert elf.read_bytes()[:4] == b"\x7fELF"
    assert plugged.device.detach_count == 1
    assert plugged.pipe.rebooted  # --after reset was sent at the end
    assert plugged.device.counts["SUBMITURB"] > 10


def test_pull_survives_the_device_vanishing_and_re_enumerating(
        bus: Any, pipe: Callable[..., Any], replugger: list[str], tmp_path: Path,
        libusb: str) -> None:
    # The board stays off the bus for 0.3 s (the replugger fixture), as a real one does
    # while it re-enumerates. (With an instant re-enumeration, libusb-package's udev-less
    # context can miss it: see UsbTransport.bus_changed().)
    bus.plug(pipe("kmemdump?disconnect_after=40K", serial="VANISH01"))
    out = tmp_path / "dump"
    code, doc, err = pull_json(bus, out, "--chunk-size", "16K", libusb=libusb)
    assert code == 0, err
    assert replugger == ["1-2"]  # it really dropped off the bus once
    assert doc["stats"]["reconnects"] == 1, doc
    assert doc["status"] == "ok"


def test_ambiguous_selection_lists_candidates(bus: Any, pipe: Callable[..., Any],
                                              tmp_path: Path, libusb: str) -> None:
    bus.plug(pipe(serial="FIRST001", ports=(2,)))
    bus.plug(pipe(serial="SECOND02", ports=(3,)))
    code, doc, err = pull_json(bus, tmp_path / "x", libusb=libusb)
    assert code == 2, err
    assert doc["error"]["code"] == "ambiguous-device"
    assert "1-2 05c6:900e SN FIRST001" in err and "1-3 05c6:900e SN SECOND02" in err
    proc = qdlpy(bus, "pull", "-p", "1-3", "-o", str(tmp_path / "y"), "--json", "--timeout", "10",
                 libusb=libusb)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["device"]["serial"] == "SECOND02"


def test_busy_interface_exits_5(bus: Any, pipe: Callable[..., Any], tmp_path: Path,
                                libusb: str) -> None:
    bus.plug(pipe(), busy=True)
    code, doc, err = pull_json(bus, tmp_path / "x", "--timeout", "3", libusb=libusb)
    assert code == 5, err
    assert doc["error"]["code"] == "device-busy"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the client as 'nobody'")
def test_permission_denied_exits_4(bus: Any, pipe: Callable[..., Any], tmp_path: Path,
                                   libusb: str) -> None:
    # umockdev cannot fail an open() itself, so the denial is real: the node is made
    # root-only and the client runs as nobody, whose open() gets EACCES from the kernel.
    plugged = bus.plug(pipe())
    bus.deny_access(plugged)
    out = Path(tempfile.mkdtemp(prefix="qdlpy-umockdev-"))  # pytest's tmp is root-only
    try:
        out.chmod(0o777)
        proc = qdlpy(bus, "pull", "-o", str(out / "x"), "--timeout", "3", "--json",
                     libusb=libusb, user=NOBODY)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert proc.returncode == 4, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["error"]["code"] == "permission-denied"
    assert "udev install" in doc["error"]["hint"]
    assert plugged.device.counts["CLAIMINTERFACE"] == 0
