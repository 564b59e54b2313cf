"""``qdlpy.reset``: take a device out of EDL or crash-dump mode with RESET
(docs/protocol.md#the-device-state-machine, docs/protocol.md#ending-the-session).

RESET is accepted in every device state and answered with RESET_RESP, then the SoC
reboots. On a crash-dump device (HELLO mode 2) that discards the dump, so it is refused
unless ``force`` is set: nothing tells the host whether the dump was pulled already.

States the host may find the device in:

* a fresh session: the HELLO is read and its mode decides (2 needs ``force``);
* left mid-session by an earlier run (no HELLO comes): SWITCH_MODE(2) re-provokes one
  (docs/protocol.md#re-provoking-a-lost-hello); a dump device left in WAIT_MEMORY_READ answers with
  mode 2 and is protected;
* after an error (WAIT_RESET, e.g. a refused read or client command): the re-provocation
  is answered with END_OF_IMAGE_TX; such a device accepts nothing but RESET, so RESET is
  sent (whatever it held can no longer be read anyway);
* silent even after re-provocation: RESET is sent blindly only with ``force``.

RESET_STATE_MACHINE (0x13) is not used: no device-side handler is known
(docs/protocol.md#command-table).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from qdlpy.errors import DeviceNak, InvalidArgument, NoHello, ProtocolError
from qdlpy.info import mode_name
from qdlpy.protocols.constants import Mode
from qdlpy.protocols.host import HostState
from qdlpy.session import open_session
from qdlpy.transport.base import DeviceIdentity, Transport

log = logging.getLogger("qdlpy.reset")


class DumpNotPulled(InvalidArgument):
    """RESET refused: the device still offers a crash dump that the reset would discard."""

    code = "dump-would-be-lost"
    default_hint = ("pull it first with `qdlpy pull` (which resets the device afterwards), or "
                    "pass --force to reset and discard the dump")


@dataclasses.dataclass
class ResetResult:
    """What ``reset_device`` did; ``to_dict()`` is the body of ``qdlpy.reset/1``."""

    identity: DeviceIdentity
    state_before: str  # "hello", "wait-reset" (after an error) or "unknown" (silent)
    mode_before: int | None  # the HELLO mode when one came
    acknowledged: bool  # RESET_RESP arrived (a device may reboot before sending it)
    reprovoked: int

    @property
    def dump_discarded(self) -> bool:
        return self.mode_before == Mode.MEMORY_DEBUG

    @property
    def dump_maybe_discarded(self) -> bool:
        """A silent device (reset blindly with --force) may have held a crash dump."""
        return self.state_before == "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "device": self.identity.to_dict(),
            "state_before": self.state_before,
            "mode_before": self.mode_before,
            "mode_name": None if self.mode_before is None else mode_name(self.mode_before),
            "reset_resp": self.acknowledged,
            "dump_discarded": self.dump_discarded,
            "dump_maybe_discarded": self.dump_maybe_discarded,
            "hello_reprovoked": self.reprovoked,
        }


def reset_device(transport: str | Transport | None = None, *, serial: str | None = None,
                 usb_path: str | None = None, timeout: float = 60.0,
                 hello_timeout: float = 1.0, force: bool = False) -> ResetResult:
    """RESET the device (see the module docstring for when it is refused)."""
    with open_session(transport, serial=serial, usb_path=usb_path, timeout=timeout,
                      hello_timeout=hello_timeout) as client:
        mode: int | None = None
        try:
            mode = client.wait_hello(Mode.MEMORY_DEBUG).mode
            state = "hello"
        except NoHello as exc:
            if not force:
                raise NoHello(f"{exc.message}; not sending RESET to a device in an unknown "
                              "state", hint="check `qdlpy list`; --force sends RESET anyway "
                                            "(a crash dump it holds would be lost)") from exc
            log.warning("no HELLO: sending RESET blindly (--force)")
            state = "unknown"
        except ProtocolError as exc:
            # The re-provocation was NAKed: the device sits in WAIT_RESET
            # (docs/protocol.md#the-device-state-machine) and takes nothing but RESET.
            # SaharaClient.wait_hello reports that NAK either as the DeviceNak itself or as a
            # ProtocolError caused by it.
            nak = exc if isinstance(exc, DeviceNak) else exc.__cause__
            if not isinstance(nak, DeviceNak):
                raise
            log.info("the device answers only RESET now (%s)", nak.message)
            state = "wait-reset"
        if mode == Mode.MEMORY_DEBUG and not force:
            raise DumpNotPulled(
                "the device holds a crash dump (memory-debug mode, HELLO mode 2): RESET "
                "reboots it and the dump would be lost; no RESET was sent")
        client.reset()
        acknowledged = client.machine.state is HostState.CLOSED
        return ResetResult(client.transport.identity(), state, mode, acknowledged,
                           client.reprovoked)
