"""``qdlpy info`` / ``qdlpy.info.read_info`` against the simulated devices.

In process through ``sim:`` (with the model at hand to see what the device was asked),
over tcp through a ``qdlpy simulate`` subprocess, and through the production USB
transport on the fake pyusb backend (``QDLPY_USB_SIM``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qdlpy.info import DumpLost, read_info
from qdlpy.protocols.constants import ExecCmd
from qdlpy.protocols.device import DeviceState
from qdlpy.simulator.model import DeviceModel
from qdlpy.simulator.scenarios import build_model
from qdlpy.simulator.scenarios import command as cs
from qdlpy.transport.sim import SimTransport

Cli = Callable[..., Any]


def _device(spec: str) -> tuple[SimTransport, DeviceModel]:
    model = build_model(spec)
    return SimTransport(spec, model=model), model


def _asked(model: DeviceModel) -> list[int]:
    responses = model.personality.command_responses
    assert isinstance(responses, cs.RecordingResponses)
    return responses.asked


def test_v2_reads_every_field_and_switches_back_to_image_transfer() -> None:
    t, model = _device("command")
    r = read_info(t)
    assert r.command_mode == "queried"
    assert r.serial_number == cs.SERIAL_NUMBER
    assert r.hw_id is not None
    assert (r.hw_id.msm_id, r.hw_id.oem_id, r.hw_id.model_id) == (cs.MSM_ID, cs.OEM_ID, cs.MODEL_ID)
    assert r.pk_hash == cs.PK_HASH_256 and r.pk_hash_raw_length == 0x60
    assert r.sbl_version == cs.SBL_VERSION
    assert r.unavailable == {} and r.warnings == []
    assert _asked(model) == [ExecCmd.SERIAL_NUM_READ, ExecCmd.MSM_HW_ID_READ,
                             ExecCmd.GET_SOFTWARE_VERSION_SBL, ExecCmd.OEM_PK_HASH_READ]
    # SWITCH_MODE(0), not RESET: the device restarted its session in image-transfer mode.
    assert r.left_in == "image-transfer"
    assert not model.rebooted
    assert model.machine.state is DeviceState.WAIT_HELLO_RESP and model.machine.mode == 0


def test_v2_plain_8_byte_hw_id() -> None:
    t, _ = _device("command?hwid_repeat=0")
    r = read_info(t)
    assert r.hw_id is not None and r.hw_id.msm_id == cs.MSM_ID


def test_v3_never_sends_0x02_and_reads_chip_id_v3() -> None:
    t, model = _device("command?version=3")
    r = read_info(t)
    assert ExecCmd.MSM_HW_ID_READ not in _asked(model)
    assert ExecCmd.READ_CHIP_ID_V3 in _asked(model)
    assert r.hw_id is not None
    assert r.hw_id.source.startswith("0x0A")
    assert (r.hw_id.msm_id, r.hw_id.oem_id, r.hw_id.chip_id_v3) == (cs.MSM_ID, cs.OEM_ID,
                                                                    cs.CHIP_ID_V3)
    assert r.pk_hash == cs.PK_HASH_384  # SHA-384 zero-padded to 0x60: trimmed to 48
    assert r.left_in == "image-transfer"


def test_v3_alternative_oem_id() -> None:
    t, _ = _device("command?version=3&oem_at_44=1")
    r = read_info(t)
    assert r.hw_id is not None and r.hw_id.oem_id == cs.OEM_ID


def test_v3_refused_pk_hash_is_unavailable_not_a_crash(cli: Cli) -> None:
    run = cli("info", "--transport", "sim:command?version=3&refuse_pkhash=1", "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["schema"] == "qdlpy.info/1" and doc["status"] == "ok"
    assert doc["oem_pk_hash"] is None
    assert "0x1f" in doc["unavailable"]["oem_pk_hash"]
    assert doc["serial_number"] == f"0x{cs.SERIAL_NUMBER:08x}"
    assert doc["hw_id"]["msm_id"] == f"0x{cs.MSM_ID:08x}"
    # The simulated device, like several real ones (docs/protocol.md#command-mode-flow), takes only
    # RESET after that.
    assert doc["left_in"] == "needs-reset"
    assert any("accepts only RESET" in w for w in doc["warnings"])


def test_device_without_command_mode_is_exit_6(cli: Cli) -> None:
    run = cli("info", "--transport", "sim:command?no_command=1", "--json")
    assert run.code == 6
    err = run.json()["error"]
    assert err["code"] == "wrong-mode" and "command mode" in err["message"]


def test_text_output(cli: Cli) -> None:
    run = cli("info", "--transport", "sim:command")
    assert run.code == 0, run.err
    assert f"0x{cs.MSM_ID:08x}" in run.out and cs.PK_HASH_256.hex() in run.out


def test_info_then_load_on_the_same_edl_device(cli: Cli, make_elf64: Callable[..., Any]) -> None:
    prog = make_elf64([4096])
    spec = f"sim:edl?file={prog}"
    info = cli("info", "--transport", spec, "--json")
    assert info.code == 0, info.err
    assert info.json()["left_in"] == "image-transfer"
    load = cli("load", str(prog), "--transport", spec, "--json")
    assert load.code == 0, load.err
    # info read the HELLO that followed SWITCH_MODE(0): load had to re-provoke one.
    assert load.json()["hello_reprovoked"] >= 1


def test_crash_dump_device_is_not_switched_by_default(cli: Cli) -> None:
    run = cli("info", "--transport", "sim:kmemdump", "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command_mode"] == "skipped" and doc["holds_dump"] is True
    assert doc["serial_number"] is None
    assert any("crash dump" in w for w in doc["warnings"])
    # The dump is still there: the next tool finds the table.
    regions = cli("regions", "--transport", "sim:kmemdump", "--json")
    assert regions.code == 0, regions.err
    assert regions.json()["regions"]


def test_crash_dump_device_with_force_keeps_the_dump(cli: Cli) -> None:
    spec = "sim:command?mode=2"
    run = cli("info", "--force", "--transport", spec, "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["command_mode"] == "queried"
    assert doc["serial_number"] == f"0x{cs.SERIAL_NUMBER:08x}"
    assert doc["left_in"] == "memory-debug"  # SWITCH_MODE(2): the dump is offered again
    regions = cli("regions", "--transport", spec, "--json")
    assert regions.code == 0, regions.err
    assert regions.json()["regions"][0]["filename"] == "OCIMEM.BIN"


def test_force_on_a_dump_device_that_refuses_commands_says_what_was_lost() -> None:
    # kmemdump answers no client command: the first refusal leaves it taking only RESET.
    t, model = _device("kmemdump")
    with pytest.raises(DumpLost) as exc:
        read_info(t, force=True)
    assert exc.value.exit_code == 6
    r = exc.value.result
    assert r.left_in == "needs-reset"
    assert set(r.unavailable) == {"serial_number", "hw_id", "sbl_version", "oem_pk_hash"}
    assert any("can no longer be pulled" in w for w in r.warnings)
    assert model.machine.state is DeviceState.WAIT_RESET


def test_lost_hello_is_reprovoked(cli: Cli) -> None:
    run = cli("info", "--transport", "sim:command?lose_hello=1", "--json")
    assert run.code == 0, run.err
    assert run.json()["hello_reprovoked"] == 1


def test_over_tcp(simulator: Any, run_qdlpy: Callable[..., Any]) -> None:
    with simulator("command?version=3") as (uri, proc):
        run = run_qdlpy("info", "--transport", uri, "--json")
        assert run.code == 0, run.err
        doc = run.json()
        assert doc["sahara"]["version"] == 3
        assert doc["hw_id"]["source"].startswith("0x0A")
        assert doc["oem_pk_hash"]["hex"] == cs.PK_HASH_384.hex()
        assert proc.poll() is None  # no RESET: the device is still in download mode


def test_over_the_usb_transport(run_qdlpy: Callable[..., Any]) -> None:
    run = run_qdlpy("info", "--json", env={"QDLPY_USB_SIM": "command"})
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["device"]["transport"] == "usb"
    assert doc["device"]["serial"] == "5A1B2C3D"
    assert doc["device"]["pid"] == "9008"
    assert doc["hw_id"]["msm_id"] == f"0x{cs.MSM_ID:08x}"


def test_no_device_is_exit_3(run_qdlpy: Callable[..., Any]) -> None:
    # A non-Qualcomm VID: the USB transport sees no Sahara device at all.
    run = run_qdlpy("info", "--json", "--timeout", "0.5",
                    env={"QDLPY_USB_SIM": "command?usb_vid=1234&usb_protocol=00"})
    assert run.code == 3, run.err
    assert run.json()["error"]["code"] == "no-device"


def test_force_losing_the_dump_is_exit_6_with_a_warning(cli: Cli) -> None:
    run = cli("info", "--force", "--transport", "sim:kmemdump")
    assert run.code == 6
    err = " ".join(run.err.split())  # rich wraps long lines
    assert "warning:" in err and "can no longer be pulled" in err
    assert "note:" not in err
    # reset handles a device that takes only RESET without --force (reset.py WAIT_RESET).
    assert "add --force" not in err and "reset --force" not in err
    assert "no --force" in err


def test_force_losing_the_dump_json_keeps_what_was_learnt(cli: Cli) -> None:
    run = cli("info", "--force", "--transport", "sim:kmemdump", "--json")
    assert run.code == 6
    doc = run.json()
    assert doc["status"] == "error" and doc["error"]["code"] == "dump-lost"
    assert doc["left_in"] == "needs-reset" and doc["holds_dump"] is True
    hint = doc["error"]["hint"]
    assert "qdlpy reset" in hint and "no --force" in hint and "reset --force" not in hint
    # and the advice holds: plain reset takes the device out of WAIT_RESET.
    reset = cli("reset", "--transport", "sim:kmemdump", "--json")
    assert reset.code == 0, reset.err
    assert reset.json()["state_before"] == "wait-reset"


def test_info_connects_through_transport_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    # One way in for every command (review 9 #20b): read_info uses qdlpy.transport.connect.
    import qdlpy.transport as transport_pkg

    seen: list[object] = []
    real = transport_pkg.connect

    def spy(uri: Any = None, **kw: Any) -> Any:
        seen.append(uri)
        return real(uri, **kw)

    monkeypatch.setattr(transport_pkg, "connect", spy)
    t, _ = _device("command")
    read_info(t)
    assert seen == [t]
