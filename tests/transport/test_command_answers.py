"""Client-command answers that look like an END_OF_IMAGE_TX come through every transport.

An answer's length is announced by EXECUTE_RESP, so its bytes are the answer whatever they
look like: an SBL version of 4 (``04 00 00 00``) or a hash whose first 16 bytes parse as an
END_OF_IMAGE_TX must reach the caller at once, on message transports (``sim:``, USB on the
simulator's pyusb backend, an MHI char device) and on byte streams (tcp to ``qdlpy simulate``,
a serial tty), however the stream is cut.

The serial tty and the MHI node are the slave side of a raw pty whose master side a thread
here connects to the simulator's DeviceModel: on the tty every byte goes both ways as a
stream (``fragment=`` cuts the device's writes further); as an MHI node each device transfer
is one write, which the host reads whole, one transfer per read as MHI delivers them.

Expected values come from the answers the test itself chose (they are the oracle); the
simulator only serves them. The last tests type a device in here (no simulator) whose
END_OF_IMAGE_TX comes where an answer was announced: where it cannot be the answer the
session reports the NAK, and an answer that stops short is a timeout saying how far it got.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import struct
import threading
import tty
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import Simulator, run_qdlpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qdlpy.errors import DeviceNak, TransferTimeout
from qdlpy.protocols.constants import Mode
from qdlpy.session import open_session
from qdlpy.simulator.pyusb_backend import backend_from_spec
from qdlpy.simulator.scenarios import build_model
from qdlpy.transport import sim
from qdlpy.transport.base import Transport
from qdlpy.transport.chardev import ChardevTransport
from qdlpy.transport.serial import SerialTransport
from qdlpy.transport.sim import SimTransport
from qdlpy.transport.usb import UsbTransport

#: The client commands that carry the chosen answers, one per length under test.
ANSWER_LENGTHS = {0x01: 4, 0x02: 8, 0x03: 32, 0x0A: 48}
u32 = st.integers(0, 0xFFFF_FFFF)


def eoi(image_id: int, status: int) -> bytes:
    return struct.pack("<4I", 0x04, 0x10, image_id, status)


@st.composite
def eoi_like_answer(draw: st.DrawFn, length: int) -> bytes:
    """``length`` bytes whose first 4..16 bytes are an END_OF_IMAGE_TX's, then anything."""
    head = eoi(draw(u32), draw(st.sampled_from([0x01, 0x19, 0x1F, 0x20, 0])))
    matched = draw(st.integers(4, min(16, length)))
    rest = draw(st.binary(min_size=length - matched, max_size=length - matched))
    return head[:matched] + rest


answer_sets = st.fixed_dictionaries(
    {cmd: eoi_like_answer(length) for cmd, length in ANSWER_LENGTHS.items()})


def scenario(answers: dict[int, bytes], *extra: str) -> str:
    knob = ",".join(f"{cmd:02x}:{data.hex()}" for cmd, data in answers.items())
    return "&".join([f"command?answer={knob}", *extra])


# ---- a simulated device behind a pty ---------------------------------------------------------


class PtyDevice:
    """A device played on the master side of a raw pty; the host opens ``path``.

    ``answer(data)`` gets what the host wrote and returns the device's transfers; ``first``
    are sent before the host opens the slave (they wait in the pty, as a HELLO would).
    """

    def __init__(self, answer: Callable[[bytes], list[bytes]], first: list[bytes]) -> None:
        self.answer = answer
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self._slave)  # no line discipline: bytes pass as written
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._send(first)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _send(self, transfers: list[bytes]) -> None:
        for transfer in transfers:
            os.write(self.master, transfer)

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if ready:
                self._send(self.answer(os.read(self.master, 1 << 16)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.master, self._slave):
            os.close(fd)


def _model_device(spec: str, *, stream: bool) -> PtyDevice:
    """The simulator's DeviceModel for ``spec`` behind a pty (a tty if ``stream``, else an
    MHI node: one write per device transfer)."""
    model = build_model(spec)

    def drain() -> list[bytes]:
        out = []
        while (transfer := model.next_transfer()) is not None:
            out.append(transfer)
        return out

    def answer(data: bytes) -> list[bytes]:
        model.host_write(data, stream=stream)
        return drain()

    model.connect()
    return PtyDevice(answer, drain())


@contextlib.contextmanager
def pty_device(spec: str, *, stream: bool) -> Iterator[PtyDevice]:
    device = _model_device(spec, stream=stream)
    try:
        yield device
    finally:
        device.close()


# ---- one device per transport ----------------------------------------------------------------


@contextlib.contextmanager
def device_on(kind: str, spec: str) -> Iterator[Transport | str]:
    """A transport (or URI) to a fresh simulated device of ``spec`` over ``kind``."""
    if kind == "sim":
        yield SimTransport(spec, model=build_model(spec))
    elif kind == "usb":
        yield UsbTransport(backend=backend_from_spec(spec))
    elif kind == "serial":
        with pty_device(spec, stream=True) as device:
            yield SerialTransport(device.path)
    elif kind == "chardev":
        with pty_device(spec, stream=False) as device:
            yield ChardevTransport(device.path)
    else:
        assert kind == "tcp"
        with Simulator(spec) as simulator:
            yield simulator.uri


def read_answers(transport: Transport | str, commands: list[int]) -> dict[int, bytes]:
    """Enter command mode, run ``commands``, leave with SWITCH_MODE(0)."""
    with open_session(transport, timeout=10) as client:
        client.open_command_mode()
        answers = {cmd: client.execute(cmd) for cmd in commands}
        assert client.leave_command_mode(Mode.IMAGE_TX_PENDING) is not None
    return answers


IN_PROCESS = ["sim", "usb", "serial", "chardev"]
STREAM_CUTS = st.sampled_from(["", "fragment=1", "fragment=3", "fragment=5", "fragment=8"])


@pytest.mark.parametrize("kind", IN_PROCESS)
@settings(deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=answer_sets, cut=STREAM_CUTS)
def test_eoi_like_answers_come_through(kind: str, answers: dict[int, bytes], cut: str) -> None:
    spec = scenario(answers, cut) if kind == "serial" and cut else scenario(answers)
    with device_on(kind, spec) as transport:
        assert read_answers(transport, list(answers)) == answers


@settings(deadline=None, max_examples=5)
@given(answers=answer_sets, cut=STREAM_CUTS)
def test_eoi_like_answers_come_through_tcp(answers: dict[int, bytes], cut: str) -> None:
    with device_on("tcp", scenario(answers, *filter(None, [cut]))) as uri:
        assert read_answers(uri, list(answers)) == answers


# ---- ``qdlpy info`` on a device whose SBL version is 4 ---------------------------------------

PK_HASH = eoi(0, 0x19) + bytes(range(1, 17))  # a SHA-256 that starts like a NAK
INFO_SPEC = f"command?sbl_version=4&answer=03:{PK_HASH.hex()}"


def _check_info(doc: dict[str, Any]) -> None:
    assert doc["status"] == "ok", doc
    assert doc["command_mode"] == "queried"
    assert doc["sbl_version"] == "0x00000004"
    assert doc["oem_pk_hash"]["hex"] == PK_HASH.hex()
    assert doc["unavailable"] == {} and doc["warnings"] == []
    assert doc["left_in"] == "image-transfer"


@pytest.fixture
def in_process_cli(capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    from qdlpy.cli.main import main

    monkeypatch.setattr(sim, "_MODELS", {})

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


@pytest.mark.parametrize("kind", ["sim", "serial", "chardev"])
def test_info_reports_sbl_version_4(kind: str,
                                   in_process_cli: Callable[..., tuple[int, str]]) -> None:
    with contextlib.ExitStack() as stack:
        if kind == "sim":
            uri = f"sim:{INFO_SPEC}"
        else:
            device = stack.enter_context(pty_device(INFO_SPEC, stream=kind == "serial"))
            uri = f"{kind}:{device.path}"
        code, out = in_process_cli("info", "--json", "--transport", uri)
    assert code == 0, out
    _check_info(json.loads(out))


def test_info_reports_sbl_version_4_over_tcp() -> None:
    with Simulator(f"{INFO_SPEC}&fragment=1") as simulator:
        run = run_qdlpy("info", "--json", "--transport", simulator.uri, timeout=60)
    assert run.returncode == 0, run.stderr
    _check_info(json.loads(run.stdout))


def test_info_reports_sbl_version_4_over_usb() -> None:
    run = run_qdlpy("info", "--json", env={"QDLPY_USB_SIM": INFO_SPEC}, timeout=60)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["device"]["transport"] == "usb"
    _check_info(doc)


# ---- an END_OF_IMAGE_TX where it cannot be the answer, through the session ------------------


def packet(*words: int) -> bytes:
    """A command packet: cmd, total length, then the fields (all u32 little-endian)."""
    return struct.pack(f"<{1 + len(words)}I", words[0], 4 * (len(words) + 1), *words[1:])


HELLO_EDL = packet(0x01, 2, 1, 0x400, 0, 0, 0, 0, 0, 0, 0)


def scripted_tty(announced: int, sent: bytes) -> PtyDevice:
    """A tty device whose EXECUTE_RESP announces ``announced`` bytes and then sends ``sent``
    for them (a device that is not the simulator, typed in here)."""

    def answer(data: bytes) -> list[bytes]:
        cmd = int.from_bytes(data[:4], "little")
        if cmd == 0x02:  # HELLO_RESP
            return [packet(0x0B)]  # CMD_READY
        if cmd == 0x0D:  # EXECUTE
            return [packet(0x0E, int.from_bytes(data[8:12], "little"), announced)]
        if cmd == 0x0F:  # EXECUTE_DATA
            return [sent]
        return []

    return PtyDevice(answer, [HELLO_EDL])


@pytest.mark.parametrize(("announced", "sent"), [(4, eoi(0, 0x20)), (32, eoi(0, 0x20))])
def test_eoi_where_it_cannot_be_the_answer_is_a_nak(announced: int, sent: bytes) -> None:
    device = scripted_tty(announced, sent)
    try:
        with open_session(SerialTransport(device.path), timeout=10) as client:
            client.open_command_mode()
            with pytest.raises(DeviceNak) as info:
                client.execute(0x07)
    finally:
        device.close()
    assert info.value.status == 0x20


def test_answer_that_stops_short_is_a_timeout_that_says_how_far_it_got() -> None:
    device = scripted_tty(32, eoi(0, 0x20)[:12])
    try:
        with open_session(SerialTransport(device.path), timeout=10) as client:
            client.open_command_mode()
            with pytest.raises(TransferTimeout, match="12 of the 32 bytes"):
                client.execute(0x07)
    finally:
        device.close()
