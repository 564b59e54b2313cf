"""``qdlpy reset`` / ``qdlpy.reset.reset_device``: RESET, and never an unasked-for dump loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qdlpy.errors import NoHello
from qdlpy.protocols.device import DeviceState
from qdlpy.reset import DumpNotPulled, reset_device
from qdlpy.simulator.model import DeviceModel
from qdlpy.simulator.scenarios import build_model
from qdlpy.transport.sim import SimTransport

Cli = Callable[..., Any]


def _device(spec: str) -> tuple[SimTransport, DeviceModel]:
    model = build_model(spec)
    return SimTransport(spec, model=model), model


def test_edl_device_is_reset() -> None:
    t, model = _device("edl")
    r = reset_device(t)
    assert (r.state_before, r.mode_before, r.acknowledged) == ("hello", 0, True)
    assert not r.dump_discarded
    assert model.rebooted


def test_dump_device_is_refused_without_force(cli: Cli) -> None:
    run = cli("reset", "--transport", "sim:kmemdump", "--json")
    assert run.code == 2
    doc = run.json()
    assert doc["schema"] == "qdlpy.reset/1" and doc["status"] == "error"
    err = doc["error"]
    assert err["code"] == "dump-would-be-lost"
    assert "dump would be lost" in err["message"]
    assert "qdlpy pull" in err["hint"]
    assert "dump would be lost" in run.err and "qdlpy pull" in run.err
    # Nothing was sent that could cost the dump: the table is still offered.
    assert cli("regions", "--transport", "sim:kmemdump").code == 0


def test_dump_device_with_force() -> None:
    t, model = _device("kmemdump")
    with pytest.raises(DumpNotPulled):
        reset_device(t)
    assert not model.rebooted
    r = reset_device(t, force=True)
    assert r.dump_discarded and r.acknowledged
    assert model.rebooted


def test_device_left_mid_session_is_reprovoked_with_switch_mode(cli: Cli) -> None:
    spec = "sim:kmemdump"
    assert cli("regions", "--transport", spec).code == 0  # leaves it in WAIT_MEMORY_READ
    refused = cli("reset", "--transport", spec, "--json")
    assert refused.code == 2  # SWITCH_MODE(2) brought back a mode-2 HELLO: still protected
    done = cli("reset", "--force", "--transport", spec, "--json")
    assert done.code == 0, done.err
    doc = done.json()
    assert doc["hello_reprovoked"] >= 1 and doc["dump_discarded"] is True
    assert doc["reset_resp"] is True


def test_device_that_only_takes_reset_after_an_error(cli: Cli) -> None:
    spec = "sim:command?version=3&refuse_pkhash=1"
    info = cli("info", "--transport", spec, "--json")
    assert info.json()["left_in"] == "needs-reset"
    run = cli("reset", "--transport", spec, "--json")
    assert run.code == 0, run.err
    assert run.json()["state_before"] == "wait-reset"


def test_silent_device_is_reset_blindly_only_with_force() -> None:
    t, model = _device("edl?lose_hello=99")
    with pytest.raises(NoHello, match="unknown state"):
        reset_device(t)
    assert not model.rebooted
    r = reset_device(t, force=True)
    assert r.state_before == "unknown" and r.acknowledged
    assert model.rebooted and model.machine.state is DeviceState.REBOOTED


def test_text_output(cli: Cli) -> None:
    run = cli("reset", "--transport", "sim:edl")
    assert run.code == 0, run.err
    assert "5A1B2C3D: reset" in run.err


def test_over_tcp(simulator: Any, run_qdlpy: Callable[..., Any]) -> None:
    with simulator("kmemdump") as (uri, proc):
        refused = run_qdlpy("reset", "--transport", uri, "--json")
        assert refused.code == 2
        assert proc.poll() is None  # the simulated device is still in download mode
        done = run_qdlpy("reset", "--force", "--transport", uri, "--json")
        assert done.code == 0, done.err
        assert done.json()["dump_discarded"] is True
        assert proc.wait(timeout=60) == 0  # reset: the device left download mode


def test_over_the_usb_transport(run_qdlpy: Callable[..., Any]) -> None:
    run = run_qdlpy("reset", "--json", env={"QDLPY_USB_SIM": "edl"})
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["device"]["transport"] == "usb" and doc["mode_before"] == 0
    refused = run_qdlpy("reset", "--json", env={"QDLPY_USB_SIM": "kmemdump"})
    assert refused.code == 2


def test_forced_reset_of_a_silent_device_says_a_dump_may_be_gone(cli: Cli) -> None:
    run = cli("reset", "--force", "--transport", "sim:kmemdump?lose_hello=99")
    assert run.code == 0, run.err
    err = " ".join(run.err.split())  # rich wraps long lines
    assert "any crash dump it held was discarded" in err
