"""parse_uri / make_transport / connect: choosing a transport and waiting for a device."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import qdlpy.transport as transport_pkg
from qdlpy.errors import (
    AmbiguousDevice,
    DeviceBusy,
    DeviceNotFound,
    InvalidArgument,
    PermissionDenied,
)
from qdlpy.simulator.pyusb_backend import FakeBackend, plug_from_environment
from qdlpy.transport import connect, make_transport, parse_uri, usb_backend
from qdlpy.transport.usb import UsbTransport, sysfs_signature


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("usb", ("usb", "", {})),
        ("USB?serial=AB12&path=1-2", ("usb", "", {"serial": "AB12", "path": "1-2"})),
        ("serial:/dev/ttyUSB0?baud=921600", ("serial", "/dev/ttyUSB0", {"baud": "921600"})),
        ("chardev:/dev/mhi0_SAHARA", ("chardev", "/dev/mhi0_SAHARA", {})),
        ("tcp:127.0.0.1:5555", ("tcp", "127.0.0.1:5555", {})),
        ("tcp:[::1]:5555", ("tcp", "[::1]:5555", {})),
        ("sim:kmemdump?lose_hello=1&fragment=7",
         ("sim", "kmemdump", {"lose_hello": "1", "fragment": "7"})),
        ("sim:dir:/tmp/x", ("sim", "dir:/tmp/x", {})),
    ],
)
def test_parse_uri(uri: str, expected: tuple[str, str, dict[str, str]]) -> None:
    assert parse_uri(uri) == expected


@pytest.mark.parametrize("uri", ["", "bluetooth:x", "/dev/ttyUSB0", "usb?=&&"])
def test_parse_uri_rejects(uri: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_uri(uri)
    assert info.value.exit_code == 2


def test_make_transport_classes() -> None:
    from qdlpy.transport.chardev import ChardevTransport
    from qdlpy.transport.serial import SerialTransport
    from qdlpy.transport.sim import SimTransport
    from qdlpy.transport.tcp import TcpTransport

    assert isinstance(make_transport(), UsbTransport)
    assert isinstance(make_transport("serial:/dev/ttyUSB0"), SerialTransport)
    assert isinstance(make_transport("chardev:/dev/mhi0_SAHARA"), ChardevTransport)
    tcp = make_transport("tcp:[::1]:5555")
    assert isinstance(tcp, TcpTransport) and (tcp.host, tcp.port) == ("::1", 5555)
    sim = make_transport("sim:fulldump?size=1M")
    assert isinstance(sim, SimTransport) and sim.spec == "fulldump?size=1M"


def test_make_transport_usb_selectors() -> None:
    t = make_transport("usb?serial=AB&device=1234:5678&out_zlp=0", usb_path="1-2")
    assert isinstance(t, UsbTransport)
    assert (t.serial, t.usb_path, t.out_zlp) == ("AB", "1-2", False)
    assert (0x1234, 0x5678) in t.extra_ids
    with pytest.raises(InvalidArgument, match="two different serials"):
        make_transport("usb?serial=AB", serial="CD")
    with pytest.raises(InvalidArgument, match="select USB devices"):
        make_transport("tcp:127.0.0.1:1", serial="AB")
    with pytest.raises(InvalidArgument):
        make_transport("usb?bogus=1")
    with pytest.raises(InvalidArgument):
        make_transport("tcp:nohostport")


# -- waiting for a USB device (simulated bus through QDLPY_USB_SIM) ----------------------


@pytest.fixture(autouse=True)
def _fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_pkg, "POLL_S", 0.001)


@contextlib.contextmanager
def waiting_lines(react: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """The lines connect() logs while it waits; ``react`` runs on each (the test's chance
    to plug a device in while connect() is waiting)."""
    lines: list[str] = []

    class Tap(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())
            if react is not None:
                react(lines[-1])

    logger = logging.getLogger("qdlpy.transport")
    tap, level = Tap(logging.INFO), logger.level
    logger.addHandler(tap)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(tap)
        logger.setLevel(level)


@pytest.fixture
def sim_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBackend]:
    monkeypatch.setenv(
        "QDLPY_USB_SIM", "fulldump?size=1M&usb_serial=AAAA,fulldump?size=1M&usb_serial=BBBB")
    assert plug_from_environment()
    backend = usb_backend.get_backend()
    assert isinstance(backend, FakeBackend)
    yield backend


def test_connect_opens_the_selected_device(sim_bus: FakeBackend) -> None:
    t = connect(serial="BBBB", timeout=1)
    try:
        assert t.identity().serial == "BBBB"
        assert len(t.read(4096, 1.0)) == 0x30  # its HELLO
    finally:
        t.close()


def test_connect_ambiguous_fails_at_once(sim_bus: FakeBackend) -> None:
    with pytest.raises(AmbiguousDevice, match="SN AAAA"):
        connect(timeout=0)  # would wait forever if it were treated as "not found"


def test_connect_timeout_says_what_is_seen(sim_bus: FakeBackend) -> None:
    with waiting_lines() as messages, pytest.raises(DeviceNotFound) as info:
        connect(serial="CCCC", timeout=0.05)
    assert str(info.value).startswith(
        "2 Qualcomm devices visible, none matches serial CCCC (waited 0.05 s):\n")
    assert len(messages) == 1  # one line per state change, not one per poll


def test_connect_waits_for_the_device_to_appear(sim_bus: FakeBackend) -> None:
    for sim in sim_bus.devices:
        sim.unplug()
    def on_wait(line: str) -> None:
        sim_bus.devices[1].replug()  # the board shows up while we wait

    with waiting_lines(on_wait) as messages:
        connect(serial="BBBB", timeout=0).close()
    assert messages == ["Waiting for a Qualcomm Sahara USB device with serial BBBB"]


def test_connect_reports_each_state_change(sim_bus: FakeBackend) -> None:
    for sim in sim_bus.devices:
        sim.unplug()
    seen: list[str] = []

    def on_wait(line: str) -> None:
        seen.append(line)
        if len(seen) == 1:
            sim_bus.devices[0].replug()  # a different board appears first
        else:
            sim_bus.devices[1].replug()

    with waiting_lines(on_wait) as messages:
        connect(serial="BBBB", timeout=0).close()
    assert messages[0].startswith("Waiting for a Qualcomm Sahara USB device")
    assert messages[1].startswith("1 Qualcomm device visible, none matches serial BBBB")
    assert len(messages) == 2


def test_permission_denied_is_retried_briefly_then_raised(
    sim_bus: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_bus.devices[0].deny_open = True
    def on_wait(line: str) -> None:
        sim_bus.devices[0].deny_open = False  # udev applied the rule

    with waiting_lines(on_wait) as lines:
        connect(serial="AAAA", timeout=0).close()
    assert "retrying" in lines[0]

    sim_bus.devices[0].deny_open = True
    monkeypatch.setattr(transport_pkg, "REFUSAL_GRACE_S", 0.0)
    with pytest.raises(PermissionDenied):
        connect(usb_path="1-1.1", timeout=0)


def test_bus_changed_and_stale_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from usb.backend import libusb1

    backend = usb_backend.get_backend()
    if not isinstance(backend, libusb1._LibUSB):
        pytest.skip("needs the system libusb backend")
    current = {"sig": frozenset({"1-1@2"})}
    monkeypatch.setattr(usb_backend, "bus_signature", lambda root=None: current["sig"])
    t = UsbTransport()
    assert t.bus_changed() is True  # first look
    assert t.bus_changed() is False  # nothing moved: no libusb scan needed
    fresh = usb_backend.fresh_context(backend)  # made while the bus looked like 1-1@2
    assert usb_backend.current_context(fresh) is fresh
    current["sig"] = frozenset({"1-1@3"})  # the board re-enumerated (new devnum)
    assert t.bus_changed() is True
    newer = usb_backend.current_context(fresh)
    assert newer is not fresh and isinstance(newer, libusb1._LibUSB)
    assert usb_backend.current_context(newer) is newer  # and that one is up to date


def test_open_uses_a_context_that_saw_the_current_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    from usb.backend import libusb1

    backend = usb_backend.get_backend()
    if not isinstance(backend, libusb1._LibUSB):
        pytest.skip("needs the system libusb backend")
    current = {"sig": frozenset({"1-1@2"})}
    monkeypatch.setattr(usb_backend, "bus_signature", lambda root=None: current["sig"])
    stale = usb_backend.fresh_context(backend)
    current["sig"] = frozenset({"1-1@9"})
    t = UsbTransport(backend=stale)
    with pytest.raises(DeviceNotFound):
        t.open()  # no devices in this container; what matters is the context it used
    assert t.backend is not stale


def test_sysfs_signature(tmp_path: Path) -> None:
    for name, devnum in (("1-2", "5"), ("usb1", "1")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "devnum").write_text(devnum + "\n")
    (tmp_path / "1-2:1.0").mkdir()  # an interface directory: ignored
    assert sysfs_signature(str(tmp_path)) == frozenset({"1-2@5", "usb1@1"})
    assert sysfs_signature(str(tmp_path / "missing")) is None


# -- waiting for a tcp endpoint -----------------------------------------------------------


def test_connect_waits_for_a_tcp_listener() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    accepted: list[socket.socket] = []

    def on_wait(line: str) -> None:
        server.bind(("127.0.0.1", port))
        server.listen(1)
        threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()

    with waiting_lines(on_wait) as lines:
        t = connect(f"tcp:127.0.0.1:{port}", timeout=10)
    try:
        assert lines and lines[0].startswith(f"Waiting for tcp:127.0.0.1:{port}")
    finally:
        t.close()
        server.close()
        for s in accepted:
            s.close()


def test_timeout_during_a_refusal_reports_the_refusal(sim_bus: FakeBackend) -> None:
    sim_bus.devices[0].busy_on_claim = True
    with pytest.raises(DeviceBusy) as info:
        connect(serial="AAAA", timeout=0.05)  # shorter than the grace period
    assert info.value.exit_code == 5


def test_no_usb_bus_is_said_at_once_instead_of_waiting(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """A container without /sys/bus/usb: pull/regions say so now, not after --timeout."""
    from usb.backend import libusb1

    if not isinstance(usb_backend.get_backend(), libusb1._LibUSB):
        pytest.skip("needs the system libusb (apt-get install libusb-1.0-0)")
    import qdlpy
    from qdlpy.errors import NoUsbBus
    from qdlpy.transport import usb as usb_transport

    monkeypatch.setattr(usb_transport, "SYSFS_USB_BUS", str(tmp_path / "no-such-bus"))
    with pytest.raises(NoUsbBus) as info:
        qdlpy.pull("usb", output=tmp_path / "dump", timeout=0)  # 0: would wait forever
    assert info.value.exit_code == 3 and "no USB bus" in info.value.message
    assert "container" in info.value.hint and not (tmp_path / "dump").exists()


def test_an_ambiguous_choice_lists_the_candidates_as_data_in_json(tmp_path: Path) -> None:
    """Scripts pick a device from the JSON, not by parsing the message."""
    from helpers import run_qdlpy

    sim = "fulldump?size=1M&usb_serial=AAAA,fulldump?size=1M&usb_serial=BBBB"
    run = run_qdlpy("pull", "--json", "-o", tmp_path / "d", "--timeout", "5",
                    env={"QDLPY_USB_SIM": sim})
    assert run.returncode == 2, run.stderr
    err = json.loads(run.stdout)["error"]
    assert err["code"] == "ambiguous-device"
    cands = err["candidates"]
    assert [c["serial"] for c in cands] == ["AAAA", "BBBB"]
    assert {c["usb_path"] for c in cands} == {"1-1.1", "1-1.2"}
    assert all(c["vid"] == "05c6" and isinstance(c["interface_protocol"], int) for c in cands)
    listed = json.loads(run_qdlpy("list", "--json", env={"QDLPY_USB_SIM": sim}).stdout)
    assert [d["interface_protocol"] for d in listed["devices"]] == [0x10, 0x10]
