"""A simulated Sahara device: the device state machine plus a scenario plus faults.

The same model is served in process (``sim:`` transport), over TCP (``qdlpy simulate``),
behind a fake pyusb backend and behind umockdev's usbdevfs emulation, so every harness
runs the production host code against one device behaviour.

Host connections come and go; the device keeps its Sahara state between them, exactly
like a real device that stays in download mode (docs/protocol.md#the-device-state-machine: HELLO is
sent once per session). A host that connects to a device an earlier run left mid-session gets
no HELLO and must re-provoke one.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading

from qdlpy.protocols.constants import Cmd
from qdlpy.protocols.device import DeviceState, Personality

from .device import SimulatedDevice
from .faults import Faults

log = logging.getLogger("qdlpy.simulator")


@dataclasses.dataclass(frozen=True)
class SimIdentity:
    """How the simulated device presents itself on USB (and in manifests)."""

    scenario: str
    serial: str = "5A1B2C3D"
    vid: int = 0x05C6
    pid: int = 0x900E
    interface_protocol: int = 0x10

    @property
    def product(self) -> str:
        # The serial travels in iProduct as "_SN:" (docs/protocol.md#usb-devices-and-interfaces).
        return f"QUSB__BULK_CID:0402_SN:{self.serial}"


class DeviceModel:
    """Thread-safe simulated device (contract in docs/design.md, "Simulator layering")."""

    def __init__(self, personality: Personality, faults: Faults | None = None,
                 identity: SimIdentity | None = None,
                 load_cmm: bytes | None = None) -> None:
        self.personality = personality
        self.faults = faults or Faults()
        self.identity = identity or SimIdentity("custom")
        self.machine = SimulatedDevice(personality, self.faults)
        self.load_cmm = load_cmm
        self._queue: collections.deque[bytes] = collections.deque()
        self._lock = threading.RLock()
        self._fresh_session = True
        self._hellos_to_lose = self.faults.lose_hello
        self._memory_bytes_sent = 0
        self._disconnect_armed = self.faults.disconnect_after is not None
        self._stall_armed = self.faults.stall_after is not None
        self.unplugged = False
        self.connections = 0
        self._stream = False  # the last host write came from a byte stream (tcp)

    # ---- host attachment ------------------------------------------------------------------

    @property
    def rebooted(self) -> bool:
        """After RESET the device left download mode: it is gone for good."""
        return self.machine.rebooted

    def connect(self) -> None:
        """A host opened the device. The session's one HELLO goes out now if still owed."""
        with self._lock:
            self.connections += 1
            self.unplugged = False
            if self._fresh_session and not self.rebooted:
                self._fresh_session = False
                self._emit(self.machine.start())

    def disconnect(self) -> None:
        """The host closed the device: whatever it did not read is lost; state is kept."""
        with self._lock:
            self._queue.clear()

    # ---- traffic ----------------------------------------------------------------------------

    def host_write(self, data: bytes, *, stream: bool = False) -> None:
        """One host->device transfer (USB) or a piece of a byte stream (tcp, tty)."""
        with self._lock:
            if self.unplugged or self.rebooted:
                return
            self._stream = stream
            reads = self.machine.reads
            out = self.machine.receive_stream(data) if stream else self.machine.receive(data)
            self._emit(out, memory_data=self.machine.reads != reads)

    def next_transfer(self) -> bytes | None:
        """The next device->host transfer, or None when the device has nothing to say."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def pending(self) -> bool:
        with self._lock:
            return bool(self._queue)

    # ---- internals --------------------------------------------------------------------------

    def _emit(self, transfers: list[bytes], *, memory_data: bool = False) -> None:
        for t in transfers:
            if self._is_hello(t) and self._hellos_to_lose > 0:
                self._hellos_to_lose -= 1
                log.debug("fault: HELLO lost")
                continue
            if memory_data:
                kept = self._memory_faults(t)
                if kept is None:
                    return
                t = kept
            # A byte stream may cut anything anywhere; USB never splits a command packet
            # (a transfer of at most the device's 0x400-byte command size).
            may_split = self._stream or len(t) > 0x400
            if self.faults.fragment > 0 and len(t) > self.faults.fragment and may_split:
                step = self.faults.fragment
                self._queue.extend(t[i : i + step] for i in range(0, len(t), step))
            else:
                self._queue.append(t)

    def _memory_faults(self, t: bytes) -> bytes | None:
        """Apply stall/disconnect knobs to one transfer of memory data."""
        sent = self._memory_bytes_sent
        self._memory_bytes_sent += len(t)
        if self._stall_armed and self.faults.stall_after is not None \
                and sent + len(t) > self.faults.stall_after:
            self._stall_armed = False
            keep = max(0, self.faults.stall_after - sent)
            log.debug("fault: response stalls after %d bytes", keep)
            if keep:
                self._queue.append(t[:keep])
            return None
        if self._disconnect_armed and self.faults.disconnect_after is not None \
                and sent + len(t) > self.faults.disconnect_after:
            self._disconnect_armed = False
            keep = max(0, self.faults.disconnect_after - sent)
            log.debug("fault: device drops off the bus after %d more bytes", keep)
            if keep:
                self._queue.append(t[:keep])
            self.unplugged = True
            # XBL restarts Sahara when it comes back: a fresh session with a new HELLO.
            self._fresh_session = True
            self.machine.state = DeviceState.WAIT_HELLO_RESP
            return None
        return t

    @staticmethod
    def _is_hello(t: bytes) -> bool:
        return len(t) == 0x30 and int.from_bytes(t[:4], "little") == Cmd.HELLO
