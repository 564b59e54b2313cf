"""The simulated device's Sahara machine: the protocol's device role plus read faults.

``protocols/device.py`` models a healthy device. The fault knobs that change how a read is
answered (``eoi_at``, ``dead_at``) are simulator behaviour, so they live here, in a subclass
that answers MEMORY_READ before the healthy machine would.
"""

from __future__ import annotations

import logging

from qdlpy.protocols.constants import Status
from qdlpy.protocols.device import DeviceMachine, Personality

from .faults import Faults

log = logging.getLogger("qdlpy.simulator")


class SimulatedDevice(DeviceMachine):
    """A DeviceMachine whose reads obey the ``eoi_at`` and ``dead_at`` fault knobs."""

    def __init__(self, personality: Personality, faults: Faults) -> None:
        super().__init__(personality)
        self.faults = faults

    def memory_read(self, address: int, length: int) -> list[bytes]:
        if _covers(address, length, self.faults.dead_at):
            log.debug("fault: no answer to a read at 0x%x", self.faults.dead_at)
            return []  # the device hangs on this read; the host must time out
        if _covers(address, length, self.faults.eoi_at):
            log.debug("fault: unreadable memory at 0x%x", self.faults.eoi_at)
            return self.nak(Status.NAK_INVALID_MEMORY_READ)
        return super().memory_read(address, length)


def _covers(address: int, length: int, at: int | None) -> bool:
    return at is not None and address <= at < address + length
