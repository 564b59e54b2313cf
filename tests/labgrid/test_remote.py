"""QDLDriver on remote places: a real coordinator and exporter on 127.0.0.1, places acquired
with labgrid-client, RemotePlace in the client environment.

* ``usbplace``: a ``NetworkUSBFlashableDevice`` (what a stock exporter publishes for a
  ``USBFlashableDevice``). The driver runs qdlpy on the "exporter" through labgrid's ssh
  prefix; the stand-in ssh runs it here, where ``QDLPY_USB_SIM`` plays the USB devices.
* ``nakplace``: the same, on a port whose device NAKs a read mid-pull.
* ``tcpplace``: a ``QDLTCPDevice`` in front of a ``qdlpy simulate`` device.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Simulator
from labgrid_support import Lab, install_standin_ssh, need_labgrid, qdlpy_tool, write_env

need_labgrid()

from labgrid import Environment  # noqa: E402
from labgrid.resource.common import ResourceManager  # noqa: E402
from labgrid.resource.remote import RemotePlaceManager  # noqa: E402
from labgrid.util.ssh import sshmanager  # noqa: E402

from qdlpy.dump import PullResult  # noqa: E402
from qdlpy.errors import DeviceNak  # noqa: E402
from qdlpy.regions import RegionsResult  # noqa: E402

SPEC = "fulldump?size=4M"
NAK_SPEC = f"{SPEC}&eoi_at=0x80100000"

USB_EXPORT = """
{group}:
  NetworkUSBFlashableDevice:
    host: 127.0.0.1
    busnum: 1
    devnum: {devnum}
    path: "{path}"
    vendor_id: 0x05c6
    model_id: 0x900e
    devnode: /dev/bus/usb/001/00{devnum}
"""
TCP_EXPORT = """
tcpboard:
  QDLTCPDevice:
    host: 127.0.0.1
    port: {port}
"""


class RemoteLab:
    def __init__(self, env: Environment, workdir: Path, ssh_log: Path, remote_tmp: Path,
                 sim: Simulator) -> None:
        self.env, self.workdir, self.ssh_log = env, workdir, ssh_log
        self.remote_tmp, self.sim = remote_tmp, sim

    def driver(self, place: str) -> Any:
        return self.env.get_target(place).get_driver("QDLDriver")

    def ssh_calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.ssh_log.read_text().splitlines()]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteLab]:
    work = tmp_path_factory.mktemp("lab")
    remote_tmp = work / "exporter-tmp"
    remote_tmp.mkdir()
    install_standin_ssh(work / "bin")
    ssh_log = work / "ssh.log"
    with Simulator(SPEC, "--respawn") as sim, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{work / 'bin'}{os.pathsep}{os.environ['PATH']}")
        mp.setenv("STANDIN_SSH_LOG", str(ssh_log))
        mp.setenv("STANDIN_SSH_ENV", json.dumps({"QDLPY_USB_SIM": f"{SPEC},{NAK_SPEC}",
                                                 "TMPDIR": str(remote_tmp)}))
        port = sim.uri.rsplit(":", 1)[1]
        lab = Lab(work, USB_EXPORT.format(group="usbboard", devnum=2, path="1-1.1")
                  + USB_EXPORT.format(group="nakboard", devnum=3, path="1-1.2")
                  + TCP_EXPORT.format(port=port))
        try:
            lab.wait_for_resources(3)
            for name in ("usb", "nak", "tcp"):
                lab.acquire(f"{name}place", f"exp/{name}board/*")
            env_file = write_env(work / "env.yaml", {
                name: {"resources": {"RemotePlace": {"name": f"{name}place"}},
                       "drivers": {"QDLDriver": {"timeout": 20}}}
                for name in ("usb", "nak", "tcp")},
                options={"coordinator_address": lab.address})
            yield RemoteLab(Environment(str(env_file)), work, ssh_log, remote_tmp, sim)
        finally:
            _close_client_connections()
            lab.stop()


def _close_client_connections() -> None:
    """End this process's ssh keepalive and coordinator session (labgrid keeps both)."""
    sshmanager.close_all()
    manager = ResourceManager.instances.pop(RemotePlaceManager, None)
    session = getattr(manager, "session", None)
    if session is not None:
        session.loop.run_until_complete(session.stop())
        session.loop.run_until_complete(session.close())


def test_a_usb_device_on_the_exporter_is_pulled_there_and_copied_back(lab: RemoteLab,
                                                                      tmp_path: Path) -> None:
    qdl = lab.driver("usb")
    regions = qdl.regions()
    assert isinstance(regions, RegionsResult)
    assert regions.identity.usb_path == "1-1.1" and len(regions.table.regions) == 4

    result = qdl.pull(tmp_path / "dump", elf=False)
    assert isinstance(result, PullResult) and result.status == "ok"
    assert result.output_dir == tmp_path / "dump"
    for rec in result.regions:  # every region came back whole
        assert (tmp_path / "dump" / rec.filename).stat().st_size == rec.length
    assert result.manifest.device["usb_path"] == "1-1.1"
    assert result.bytes_read == sum(r.length for r in result.regions)

    commands = [c[c.index("--") + 1:] for c in lab.ssh_calls() if "--" in c]
    tool = qdlpy_tool()
    pulls = [c for c in commands if c[:2] == [tool, "pull"]]
    assert pulls and "--usb-path" in pulls[-1] and "1-1.1" in pulls[-1]
    assert any(c[0] == "tar" for c in commands) and any(c[0] == "rm" for c in commands)
    assert list(lab.remote_tmp.iterdir()) == []  # the exporter's copy is gone


def test_a_failed_remote_pull_brings_back_what_was_saved(lab: RemoteLab,
                                                         tmp_path: Path) -> None:
    with pytest.raises(DeviceNak) as failed:
        lab.driver("nak").pull(tmp_path / "dump", elf=False)
    err = failed.value
    assert err.status == 0x19 and err.exit_code == 6
    assert err.details["output_dir"] == str(tmp_path / "dump")
    manifest = json.loads((tmp_path / "dump" / "manifest.json").read_text())
    assert manifest["status"] in ("partial", "error")
    saved = [r for r in manifest["regions"] if r["status"] == "complete"]
    for rec in saved:
        assert (tmp_path / "dump" / rec["filename"]).stat().st_size == rec["length"]
    assert list(lab.remote_tmp.iterdir()) == []


def test_a_tcp_relay_of_a_remote_place(lab: RemoteLab, tmp_path: Path) -> None:
    qdl = lab.driver("tcp")
    result = qdl.pull(tmp_path / "dump", elf=False)
    assert isinstance(result, PullResult) and result.status == "ok"
    assert result.manifest.transport == lab.sim.uri
