"""Shared fixtures for the transport tests (tests/transport/).

``StubModel`` implements the four-method DeviceModel contract (docs/design.md "Simulator
layering") with a tiny scripted device, so the USB layers are tested on their own:

* ``connect()`` queues ``b"HELLO"`` once (the Sahara HELLO is sent once per session);
* ``host_write(b"GEN <n> [<count>]")`` queues ``count`` transfers of ``n`` pattern bytes;
* any other write is echoed back as one transfer.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator

import pytest

from qdlpy.simulator.pyusb_backend import FakeBackend, SimUsbDevice
from qdlpy.simulator.usb_pipe import UsbPipe
from qdlpy.transport import usb_backend


def pattern(n: int, seed: int = 0) -> bytes:
    """n bytes where a dropped/duplicated byte shows (a 251-periodic ramp)."""
    return bytes((i + seed) % 251 for i in range(n))


class StubModel:
    def __init__(self) -> None:
        self.queue: collections.deque[bytes] = collections.deque()
        self.unplugged = False
        self.connections = 0
        self.hello_sent = False
        self.writes: list[bytes] = []

    def connect(self) -> None:
        self.connections += 1
        self.unplugged = False
        if not self.hello_sent:
            self.hello_sent = True
            self.queue.append(b"HELLO")

    def disconnect(self) -> None:
        self.queue.clear()

    def host_write(self, data: bytes) -> None:
        self.writes.append(data)
        if data.startswith(b"GEN "):
            parts = data.split()
            n = int(parts[1])
            count = int(parts[2]) if len(parts) > 2 else 1
            for k in range(count):
                self.queue.append(pattern(n, k))
        elif data == b"DROP":
            self.unplugged = True  # the device falls off the bus by itself
        else:
            self.queue.append(data)

    def next_transfer(self) -> bytes | None:
        return self.queue.popleft() if self.queue else None


@pytest.fixture
def make_pipe() -> Callable[..., UsbPipe]:
    def make(model: StubModel | None = None, **kw: object) -> UsbPipe:
        return UsbPipe(model or StubModel(), **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def fake_bus(make_pipe: Callable[..., UsbPipe]) -> Callable[..., FakeBackend]:
    """``fake_bus(dict(serial="A"), dict(serial="B", max_packet=1024), ...)`` -> backend.

    Each dict holds UsbPipe keyword arguments plus optional SimUsbDevice flags
    (kernel_driver_bound, deny_open, busy_on_claim). Devices sit on ports 1-2, 1-3, ...
    """

    def make(*specs: dict[str, object]) -> FakeBackend:
        devices = []
        for i, spec in enumerate(specs or ({},)):
            spec = dict(spec)
            flags = {k: spec.pop(k) for k in ("kernel_driver_bound", "deny_open",
                                              "busy_on_claim", "auto_replug") if k in spec}
            spec.setdefault("serial", f"SN{i:04d}")
            spec.setdefault("port_numbers", (i + 2,))
            devices.append(SimUsbDevice(make_pipe(**spec), **flags))  # type: ignore[arg-type]
        return FakeBackend(devices)

    return make


@pytest.fixture(autouse=True)
def _isolated_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test resolves the USB backend afresh and sees no inherited QDLPY_* choice."""
    monkeypatch.delenv("QDLPY_USB_SIM", raising=False)
    monkeypatch.delenv("QDLPY_LIBUSB", raising=False)
    usb_backend.reset_backend_cache()
    yield
    usb_backend.reset_backend_cache()


@pytest.fixture
def new_model() -> Callable[[], StubModel]:
    return StubModel


@pytest.fixture
def pattern_bytes() -> Callable[..., bytes]:
    return pattern
