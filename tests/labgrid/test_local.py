"""QDLDriver in a local labgrid environment: a tcp relay (``qdlpy simulate``) and local USB
devices (matched from udev-like properties, served by ``QDLPY_USB_SIM`` in the qdlpy
command the driver runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Simulator
from labgrid_support import need_labgrid, usb_device, write_env

need_labgrid()

from labgrid import Environment  # noqa: E402

from qdlpy.dump import PullResult  # noqa: E402
from qdlpy.errors import DeviceNak, DeviceNotFound, OutputExists  # noqa: E402
from qdlpy.regions import RegionsResult, read_regions  # noqa: E402
from qdlpy.reset import DumpNotPulled, ResetResult  # noqa: E402

SPEC = "fulldump?size=4M"


def tcp_target(tmp_path: Path, uri: str, timeout: float = 20) -> object:
    host, port = uri.removeprefix("tcp:").rsplit(":", 1)
    env = write_env(tmp_path / "env.yaml", {"main": {
        "resources": {"QDLTCPDevice": {"host": host, "port": int(port)}},
        "drivers": {"QDLDriver": {"timeout": timeout}}}})
    return Environment(str(env)).get_target("main")


def test_regions_pull_and_reset_over_a_tcp_relay(tmp_path: Path) -> None:
    with Simulator(SPEC) as sim:
        qdl = tcp_target(tmp_path, sim.uri).get_driver("QDLDriver")  # type: ignore[attr-defined]
        regions = qdl.regions()
        assert isinstance(regions, RegionsResult)
        direct = read_regions(sim.uri)  # the same table, read without labgrid
        assert regions.table.raw == direct.table.raw
        assert [r.filename for r in regions.table.regions] == \
            [r.filename for r in direct.table.regions]

        result = qdl.pull(tmp_path / "dump", after="none")
        assert isinstance(result, PullResult) and result.status == "ok"
        assert result.output_dir == tmp_path / "dump"
        assert result.bytes_read == sum(r.length for r in result.regions)
        assert result.manifest.transport == sim.uri

        with pytest.raises(OutputExists):
            qdl.pull(tmp_path / "dump")  # refused before the device is touched
        with pytest.raises(DumpNotPulled) as refused:
            qdl.reset()
        assert refused.value.exit_code == 2
        reset = qdl.reset(force=True)
        assert isinstance(reset, ResetResult) and reset.dump_discarded
        sim.wait(30)  # the simulated board rebooted out of download mode
        qdl.timeout = 1
        with pytest.raises(DeviceNotFound):
            qdl.regions()


def test_a_failed_pull_raises_the_same_error_with_what_was_saved(tmp_path: Path) -> None:
    with Simulator(f"{SPEC}&eoi_at=0x80100000") as sim:
        qdl = tcp_target(tmp_path, sim.uri).get_driver("QDLDriver")  # type: ignore[attr-defined]
        with pytest.raises(DeviceNak) as failed:
            qdl.pull(tmp_path / "dump")
    assert failed.value.details["output_dir"] == str(tmp_path / "dump")
    assert (tmp_path / "dump" / "manifest.json").is_file()


@pytest.mark.parametrize("resource", ["QDLDevice", "USBFlashableDevice"])
def test_a_local_usb_device_found_by_udev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          resource: str) -> None:
    # Two simulated devices in the command the driver runs; udev reports the second one.
    monkeypatch.setenv("QDLPY_USB_SIM", f"{SPEC},{SPEC}")
    env = write_env(tmp_path / "env.yaml", {"main": {
        "resources": {resource: {"match": {"ID_PATH": "pci-0000:00:14.0-usb-0:1.2"}}},
        "drivers": {"QDLDriver": {}}}})
    target = Environment(str(env)).get_target("main")
    device = target.get_resource(resource, wait_avail=False)
    assert device.try_match(usb_device("1-1.2", "05c6", "900e", ":ffffff:",
                                       product="QUSB__BULK_CID:0402_SN:5A1B2C02"))
    qdl = target.get_driver("QDLDriver")
    result = qdl.pull(tmp_path / "dump", after="none")
    assert isinstance(result, PullResult) and result.status == "ok"
    assert result.manifest.device["usb_path"] == "1-1.2"
    assert result.manifest.device["serial"] == "5A1B2C02"
