"""``sim:SCENARIO``: the built-in simulator as a real transport, in process.

Like python-can's virtual bus, this is a production transport: pull, regions and the
CLI run exactly the code they run against hardware, with the device's side played by
``qdlpy.simulator``. Devices are kept per process and spec, so a second connection in
the same process finds the device where the first left it (as real hardware would),
until a RESET reboots it.
"""

from __future__ import annotations

import threading

from qdlpy.errors import Disconnected, TransferTimeout, TransportError
from qdlpy.simulator.model import DeviceModel
from qdlpy.simulator.scenarios import build_model

from .base import DeviceIdentity, Transport

_MODELS: dict[str, DeviceModel] = {}
_LOCK = threading.Lock()


def shared_model(spec: str) -> DeviceModel:
    """The process's simulated device for ``spec`` (a fresh one after a reboot)."""
    with _LOCK:
        model = _MODELS.get(spec)
        if model is None or model.rebooted:
            model = _MODELS[spec] = build_model(spec)
        return model


class SimTransport(Transport):
    """In-process transport to a simulated device (see module docstring)."""

    scheme = "sim"
    message_boundaries = True

    def __init__(self, spec: str, model: DeviceModel | None = None) -> None:
        self.spec = spec
        self._model = model
        self._rest = b""
        self._open = False

    @property
    def model(self) -> DeviceModel:
        if self._model is None or self._model.rebooted:
            self._model = shared_model(self.spec)
        return self._model

    @property
    def max_packet_size(self) -> int:
        return self.model.faults.max_packet

    def open(self) -> None:
        if self._open:
            return
        self.model.connect()
        self._rest = b""
        self._open = True

    def close(self) -> None:
        if self._open and self._model is not None:
            self._model.disconnect()
        self._open = False
        self._rest = b""

    def _check(self) -> DeviceModel:
        if not self._open:
            raise TransportError("the simulated device is not open")
        m = self.model if self._model is None else self._model
        if m.unplugged:
            self._open = False
            raise Disconnected(f"simulated device {self.spec} dropped off the bus")
        return m

    def read(self, size: int, timeout: float) -> bytes:
        m = self._check()
        if not self._rest:
            t = m.next_transfer()
            if t is None:
                if m.unplugged:
                    self._open = False
                    raise Disconnected(f"simulated device {self.spec} dropped off the bus")
                # Nothing can arrive later: the simulated device only answers writes.
                raise TransferTimeout(f"no data from the simulated device within {timeout:g} s")
            self._rest = t
        out, self._rest = self._rest[:size], self._rest[size:]
        return out

    def write(self, data: bytes | memoryview, timeout: float) -> None:
        m = self._check()
        m.host_write(bytes(data))

    def identity(self) -> DeviceIdentity:
        ident = self.model.identity
        return DeviceIdentity(
            transport=f"sim:{self.spec}", serial=ident.serial, vid=ident.vid, pid=ident.pid,
            product=ident.product, interface_protocol=ident.interface_protocol,
            description=ident.scenario,
        )

    def label(self) -> str:
        return self.model.identity.scenario
