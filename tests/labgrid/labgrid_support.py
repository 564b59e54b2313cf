"""What the labgrid tests share: udev-like devices, environment files, a small lab.

``FakeUdevDevice`` offers the part of pyudev's Device that labgrid's udev matching reads
(properties, attributes, sys_name, ancestors, action). ``Lab`` runs a real
``labgrid-coordinator`` and ``labgrid-exporter`` on 127.0.0.1 and acquires places with the
real ``labgrid-client``; the stand-in ``ssh`` (standin_ssh.py) runs the exporter-side
commands on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def need_labgrid() -> None:
    """Skip without labgrid, except in CI (where a missing extra is a failure)."""
    if os.environ.get("CI") == "true":
        import labgrid  # noqa: F401 - .ci/run installs the test extra, which includes it
        return
    pytest.importorskip("labgrid", reason="labgrid is not installed: "
                                          "pip install -e '.[labgrid]' (or '.[test]')")


def qdlpy_tool() -> str:
    """The qdlpy console script of this interpreter (what ``tools: qdlpy:`` names)."""
    tool = shutil.which("qdlpy", path=str(BIN))
    assert tool, f"no qdlpy console script next to {sys.executable}"
    return tool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Attributes:
    """pyudev's Attributes: sysfs values as bytes, ``asstring`` decodes."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = {k: v.encode() for k, v in values.items()}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def asstring(self, key: str) -> str:
        return self.values[key].decode()

    def unset(self, key: str) -> None:
        pass


class FakeUdevDevice:
    """A udev USB device (or interface) as labgrid's USBResource sees it."""

    def __init__(self, sys_name: str, properties: dict[str, str],
                 attributes: dict[str, str] | None = None, action: str | None = "add",
                 parent: FakeUdevDevice | None = None) -> None:
        self.sys_name = sys_name
        self.sys_path = f"/sys/devices/pci0000:00/0000:00:14.0/usb1/{sys_name}"
        self.properties = {"SUBSYSTEM": "usb", **properties}
        self.attributes = _Attributes(attributes or {})
        self.action = action
        self.subsystem = self.properties["SUBSYSTEM"]
        self.device_type = self.properties.get("DEVTYPE")
        self.device_node = self.properties.get("DEVNAME")
        self.tags: list[str] = []
        self.parent = parent
        self.ancestors = [parent] if parent is not None else []

    def find_parent(self, subsystem: str, device_type: str) -> FakeUdevDevice | None:
        for ancestor in self.ancestors:
            if ancestor.subsystem == subsystem and ancestor.device_type == device_type:
                return ancestor
        return None

    def with_action(self, action: str) -> FakeUdevDevice:
        twin = FakeUdevDevice(self.sys_name, dict(self.properties),
                              {k: v.decode() for k, v in self.attributes.values.items()},
                              action, self.parent)
        twin.sys_path = self.sys_path
        return twin

    def __str__(self) -> str:
        return f"FakeUdevDevice({self.sys_name})"


def usb_device(sys_name: str, vid: str, pid: str, interfaces: str, *,
               product: str | None = None, serial_short: str | None = None) -> FakeUdevDevice:
    """A whole USB device with udev's properties (ID_USB_INTERFACES like ``:ffff10:``)."""
    bus, _, ports = sys_name.partition("-")
    props = {"DEVTYPE": "usb_device", "ID_VENDOR_ID": vid, "ID_MODEL_ID": pid,
             "ID_USB_INTERFACES": interfaces, "BUSNUM": f"{int(bus):03d}", "DEVNUM": "007",
             "ID_PATH": f"pci-0000:00:14.0-usb-0:{ports}",
             "DEVNAME": f"/dev/bus/usb/{int(bus):03d}/007"}
    if serial_short:
        props["ID_SERIAL_SHORT"] = serial_short
    return FakeUdevDevice(sys_name, props, {"product": product} if product else {})


def write_env(path: Path, targets: dict[str, Any], **extra: Any) -> Path:
    """A labgrid environment file that imports qdlpy.labgrid and names this qdlpy."""
    doc = {"targets": targets, "tools": {"qdlpy": qdlpy_tool()}, "imports": ["qdlpy.labgrid"],
           **extra}
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML
    return path


def install_standin_ssh(bin_dir: Path) -> Path:
    """``bin_dir/ssh``: the stand-in, run by this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    ssh = bin_dir / "ssh"
    ssh.write_text(f"#!{sys.executable}\nimport runpy, sys\n"
                   f"runpy.run_path({str(HERE / 'standin_ssh.py')!r}, run_name='__main__')\n")
    ssh.chmod(0o755)
    return ssh


class Lab:
    """A coordinator and an exporter on 127.0.0.1, and places acquired by this user."""

    def __init__(self, workdir: Path, exporter_yaml: str) -> None:
        self.workdir = workdir
        self.address = f"127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        (workdir / "exporter.yaml").write_text(exporter_yaml)
        self._start("coordinator", [str(BIN / "labgrid-coordinator"), "-l", self.address])
        self._wait_listening()  # an exporter that finds no coordinator gives up
        self._start("exporter", [str(BIN / "labgrid-exporter"), "-c", self.address, "-n",
                                 "exp", "--hostname", "127.0.0.1", "exporter.yaml"])

    def _start(self, name: str, command: list[str]) -> None:
        log = self.workdir / f"{name}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            self.procs.append(subprocess.Popen(command, cwd=self.workdir, stdout=out,
                                               stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL))

    def _wait_listening(self, timeout: float = 60.0) -> None:
        host, port = self.address.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("labgrid-coordinator never listened\n" + self.log_text())

    def client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(BIN / "labgrid-client"), "-x", self.address, *args],
                              cwd=self.workdir, capture_output=True, text=True, timeout=60,
                              check=False, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"labgrid-client {args}: {proc.stdout}{proc.stderr}\n"
                                 + self.log_text())
        return proc

    def wait_for_resources(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.client("resources", check=False)
            if proc.returncode == 0 and len(proc.stdout.split()) >= count:
                return
            time.sleep(0.2)
        raise AssertionError("the exporter's resources never reached the coordinator\n"
                             + self.log_text())

    def acquire(self, place: str, match: str) -> None:
        self.client("-p", place, "create")
        self.client("-p", place, "add-match", match)
        self.client("-p", place, "acquire")

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in self.logs if p.exists())

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
