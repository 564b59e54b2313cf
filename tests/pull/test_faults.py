"""Each simulator fault knob against `qdlpy pull`, in process (`sim:`) and over tcp.

The pull must either survive the fault with files equal to the device's bytes (fragmented
replies, lost HELLO, a disconnect, a stalled reply, restricted regions, 1024-byte packets)
or, for END_OF_IMAGE_TX mid-region, stop with exit 6 keeping everything read before it,
without the error packet in the region file and without resetting the device.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Simulator, run_qdlpy
from pull_support import (
    CODERAM_BASE,
    check_complete_folder,
    expected_regions,
    load_manifest,
    regions_by_name,
    sha256,
)

from qdlpy.dump import pull
from qdlpy.errors import DeviceNak
from qdlpy.protocols.device import DeviceState
from qdlpy.transport.sim import SimTransport, shared_model

SIZE = "fulldump?size=4M"

SURVIVABLE = {
    "fragment": f"{SIZE}&fragment=1000",
    "lose-hello": f"{SIZE}&lose_hello=1",
    "lose-hello+fragment": f"{SIZE}&lose_hello=1&fragment=1000",
    "disconnect": f"{SIZE}&disconnect_after=3M",
    "stall": f"{SIZE}&stall_after=1M",
    "restricted": f"{SIZE}&restricted=OCIMEM.BIN,CODERAM.BIN",
    "max-packet-1024": f"{SIZE}&max_packet=1024",
    "legacy32-fragment": "legacy32?fragment=333&lose_hello=1",
}


@pytest.mark.parametrize("spec", SURVIVABLE.values(), ids=SURVIVABLE.keys())
def test_sim_pull_survives(tmp_path: Path, spec: str) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{spec}", "-o", out, "--json", "--io-timeout", "1")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    check_complete_folder(out, spec, doc)
    if "disconnect_after" in spec:
        assert doc["stats"]["reconnects"] == 1
    if "stall_after" in spec:
        assert doc["stats"]["retries"] >= 1


@pytest.mark.parametrize("spec", SURVIVABLE.values(), ids=SURVIVABLE.keys())
def test_tcp_pull_survives(tmp_path: Path, spec: str) -> None:
    out = tmp_path / "dump"
    with Simulator(spec) as sim:
        proc = run_qdlpy("pull", "-t", sim.uri, "-o", out, "--json", "--io-timeout", "1",
                         "--timeout", "10")
        assert proc.returncode == 0, proc.stderr
        assert sim.wait() == 0  # reset after the complete pull
    doc = json.loads(proc.stdout)
    check_complete_folder(out, spec, doc)
    if "disconnect_after" in spec:
        assert doc["stats"]["reconnects"] == 1
    if "stall_after" in spec:
        assert doc["stats"]["retries"] >= 1


def test_disconnect_mid_region_in_the_api(tmp_path: Path) -> None:
    """The same device comes back with a fresh Sahara session; the pull continues from
    the last complete chunk instead of starting the region again."""
    spec = f"{SIZE}&disconnect_after=1500K"
    result = pull(f"sim:{spec}", output=tmp_path / "d", chunk_size=256 * 1024)
    assert result.status == "ok"
    assert result.reconnects == 1
    # Nothing read twice: every byte of every region crossed the link once (the partial
    # chunk cut by the disconnect is read again, so allow one chunk).
    total = sum(r.length for r in result.regions)
    assert total <= result.bytes_read <= total + 256 * 1024
    check_complete_folder(tmp_path / "d", spec)


# ---- END_OF_IMAGE_TX mid-region ---------------------------------------------------------

# CODERAM (0x200000, 0x28000) is the third region; with 64 KiB reads the device refuses
# the read at 0x220000, after two good chunks of CODERAM.
EOI_AT = CODERAM_BASE + 0x2_0000 + 0x100
EOI_SPEC = f"fulldump?size=1M&eoi_at=0x{EOI_AT:x}"
SAVED = 0x2_0000


def check_eoi_folder(out: Path) -> dict[str, object]:
    m = load_manifest(out)
    assert m["status"] == "partial"
    assert m["after"] != "reset"
    regions = regions_by_name(m)
    expected = expected_regions(EOI_SPEC)
    for name in ("DDRCS0_0.BIN", "OCIMEM.BIN"):  # earlier regions: complete and right
        assert regions[name]["status"] == "complete"
        assert (out / name).read_bytes() == expected[name]
    cr = regions["CODERAM.BIN"]
    assert cr["status"] == "partial"
    assert cr["bytes"] == SAVED
    assert cr["error"]["status"] == 0x19
    assert cr["error"]["status_name"] == "NAK_INVALID_MEMORY_READ"
    assert "invalid memory read" in cr["error"]["message"]
    # The 16-byte END_OF_IMAGE_TX is not in the region file: exactly the good chunks are.
    part = (out / "CODERAM.BIN.part").read_bytes()
    assert part == expected["CODERAM.BIN"][:SAVED]
    assert cr["sha256"] == sha256(part)
    assert not (out / "CODERAM.BIN").exists()
    assert regions["load.cmm"]["status"] == "pending"
    assert not (out / "load.cmm").exists()
    err = m["error"]
    assert isinstance(err, dict)
    assert err["code"] == "device-nak" and err["exit_code"] == 6 and err["status"] == 0x19
    return m


def test_eoi_mid_region_sim_cli(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:{EOI_SPEC}", "-o", out, "--chunk-size", "64K")
    assert proc.returncode == 6, proc.stderr
    assert "0x19" in proc.stderr and "invalid memory read" in proc.stderr
    check_eoi_folder(out)


def test_eoi_mid_region_api_does_not_reset_the_device(tmp_path: Path) -> None:
    with pytest.raises(DeviceNak) as info:
        pull(f"sim:{EOI_SPEC}", output=tmp_path / "d", chunk_size=64 * 1024)
    assert info.value.status == 0x19
    check_eoi_folder(tmp_path / "d")
    model = shared_model(EOI_SPEC)  # the same process-wide device the pull used
    assert not model.rebooted  # no RESET was sent: the dump is still there
    assert model.machine.state is DeviceState.WAIT_RESET  # the device only takes RESET now


def test_eoi_mid_region_over_tcp_leaves_the_device_up(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    with Simulator(EOI_SPEC) as sim:
        proc = run_qdlpy("pull", "-t", sim.uri, "-o", out, "--chunk-size", "64K",
                         "--io-timeout", "1")
        assert proc.returncode == 6, proc.stderr
        check_eoi_folder(out)
        # A RESET would have made the simulator exit; instead it still answers, and (after
        # an EOI the device accepts only RESET) it answers a new session with a NAK.
        again = run_qdlpy("regions", "-t", sim.uri, "--timeout", "5")
        assert again.returncode == 6, again.stderr
        assert sim.running


def test_eoi_on_the_first_chunk_marks_the_region_failed(tmp_path: Path) -> None:
    spec = "fulldump?size=1M&eoi_at=0x14680010"  # first bytes of OCIMEM
    with pytest.raises(DeviceNak):
        pull(f"sim:{spec}", output=tmp_path / "d")
    regions = regions_by_name(load_manifest(tmp_path / "d"))
    assert regions["DDRCS0_0.BIN"]["status"] == "complete"
    assert regions["OCIMEM.BIN"]["status"] == "failed"
    assert regions["OCIMEM.BIN"]["bytes"] == 0
    assert regions["OCIMEM.BIN"]["error"]["status"] == 0x19


class _RecordingStream(SimTransport):
    """The in-process device seen as a byte stream (like tcp): records each read timeout."""

    message_boundaries = False

    def __init__(self, spec: str) -> None:
        super().__init__(spec)
        self.timeouts: list[float] = []

    def read(self, size: int, timeout: float) -> bytes:
        self.timeouts.append(timeout)
        return super().read(size, timeout)


def test_eoi_on_a_byte_stream_is_confirmed_by_a_short_idle_wait(tmp_path: Path) -> None:
    t = _RecordingStream(EOI_SPEC)
    with pytest.raises(DeviceNak):
        pull(t, output=tmp_path / "d", chunk_size=64 * 1024, io_timeout=30.0)
    # The last read is the one that waits for silence after the 16 EOI bytes: it must use
    # the client's idle timeout (0.25 s), not the 30 s data timeout.
    assert t.timeouts[-1] <= 1.0, t.timeouts[-3:]
