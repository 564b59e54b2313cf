"""``qdlpy.info``: chip identity from Sahara command mode (docs/protocol.md#command-mode).

Flow: HELLO, HELLO_RESP(3) (an EDL device in image-transfer mode is switched this way),
CMD_READY, then client commands in an order that puts the ones a device may refuse last
(a refusal, END_OF_IMAGE_TX 0x1F, can leave the session unusable,
docs/protocol.md#command-mode-flow):

1. 0x01 serial number;
2. v2: 0x02 MSM_HW_ID_READ; v3: 0x0A READ_CHIP_ID_V3 (v3 devices no longer answer 0x02,
   docs/protocol.md#what-differs-between-versions, so it is never sent to them);
3. 0x07 SBL software version;
4. 0x03 OEM PK hash (may be refused on v3: reported as unavailable).

Leaving: SWITCH_MODE, never RESET (docs/protocol.md#leaving-command-mode: RESET can leave a device
deaf until a power cycle). An EDL device goes back with SWITCH_MODE(0).

Crash-dump devices (HELLO mode 2). SWITCH_MODE only restarts the Sahara session: the
boot loader keeps RAM untouched, so a dump survives a visit to command mode, and going
back with SWITCH_MODE(2) makes the next HELLO offer it again (docs/protocol.md#wait_memory_read,
docs/protocol.md#ending-the-session). What is not safe is a *refusal*: a device that NAKs
HELLO_RESP(3) or a client command accepts only RESET afterwards (docs/protocol.md#wait_reset), and
RESET reboots the dump away. So by default ``read_info`` does not enter command mode on a dump
device; it reports what HELLO and USB say and leaves the HELLO unanswered (the next ``qdlpy pull``
re-provokes it). ``force=True`` queries it anyway.

A lost HELLO is re-provoked with SWITCH_MODE(2): a device waiting for HELLO_RESP just
resends HELLO, and one left in WAIT_MEMORY_READ by an earlier run keeps offering its dump
(SWITCH_MODE(3) would relabel a dump device as a command-mode device).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from qdlpy.chipinfo import HwId, hash_name, parse_chip_id_v3, parse_hw_id, parse_u32, trim_pk_hash
from qdlpy.errors import DeviceNak, ProtocolError, WrongMode
from qdlpy.protocols.constants import ExecCmd, Mode
from qdlpy.protocols.packets import Hello
from qdlpy.session import SaharaClient, open_session
from qdlpy.transport.base import DeviceIdentity, Transport

log = logging.getLogger("qdlpy.info")

T = TypeVar("T")

DUMP_SKIPPED = (
    "this device holds a crash dump (HELLO mode 2): command mode was not entered, because "
    "a device that refuses it accepts only RESET afterwards and RESET loses the dump; "
    "pull the dump first (`qdlpy pull`), or pass --force to query it anyway (the dump "
    "survives the mode switch itself)"
)


def mode_name(mode: int) -> str:
    try:
        return Mode(mode).label
    except ValueError:
        return f"unknown mode {mode}"


@dataclasses.dataclass
class InfoResult:
    """What ``read_info`` learnt; ``to_dict()`` is the body of ``qdlpy.info/1``."""

    identity: DeviceIdentity
    hello: Hello
    command_mode: str  # "queried", "skipped" (crash dump, no force), "unsupported" (v1)
    serial_number: int | None = None
    hw_id: HwId | None = None
    pk_hash: bytes | None = None
    pk_hash_raw_length: int | None = None
    sbl_version: int | None = None
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)
    left_in: str = "untouched"  # device state afterwards (see _leave)
    warnings: list[str] = dataclasses.field(default_factory=list)
    reprovoked: int = 0

    @property
    def holds_dump(self) -> bool:
        return self.hello.mode == Mode.MEMORY_DEBUG

    def to_dict(self) -> dict[str, Any]:
        h = self.hello
        pk: dict[str, Any] | None = None
        if self.pk_hash is not None:
            pk = {"hex": self.pk_hash.hex(), "algorithm": hash_name(self.pk_hash),
                  "raw_length": self.pk_hash_raw_length}
        return {
            "status": "ok",
            "device": self.identity.to_dict(),
            "sahara": {"version": h.version, "version_supported": h.version_supported,
                       "mode": h.mode, "mode_name": mode_name(h.mode),
                       "cmd_packet_length": h.cmd_packet_length},
            "holds_dump": self.holds_dump,
            "command_mode": self.command_mode,
            "serial_number": None if self.serial_number is None else f"0x{self.serial_number:08x}",
            "hw_id": None if self.hw_id is None else self.hw_id.to_dict(),
            "oem_pk_hash": pk,
            "sbl_version": None if self.sbl_version is None else f"0x{self.sbl_version:08x}",
            "unavailable": dict(self.unavailable),
            "left_in": self.left_in,
            "hello_reprovoked": self.reprovoked,
            "warnings": list(self.warnings),
        }


class _Commands:
    """Runs client commands until the device refuses one; later ones are not sent."""

    def __init__(self, client: SaharaClient, result: InfoResult) -> None:
        self.client = client
        self.result = result
        self.refused: DeviceNak | None = None

    def run(self, field: str, cmd: ExecCmd, parse: Callable[[bytes], T]) -> T | None:
        label = f"0x{int(cmd):02X} {cmd.name}"
        if self.refused is not None:
            self.result.unavailable[field] = (
                f"{label} not sent: the device stopped taking commands after "
                f"NAK 0x{self.refused.status:02x}")
            return None
        try:
            data = self.client.execute(cmd)
        except DeviceNak as nak:
            self.refused = nak
            self.result.unavailable[field] = f"{label} refused: {nak.message}"
            log.debug("%s refused by the device: %s", label, nak.message)
            return None
        try:
            return parse(data)
        except ValueError as exc:
            self.result.unavailable[field] = f"{label}: malformed answer ({exc})"
            return None


class DumpLost(ProtocolError):
    """``--force`` on a dump device that refused command mode: the dump can no longer be
    pulled (the device now accepts only RESET, docs/protocol.md#wait_reset). ``result`` holds what
    was learnt before the refusal."""

    code = "dump-lost"
    default_hint = ("the device now accepts only RESET: run `qdlpy reset` (it needs no "
                    "--force for a device in that state) or power-cycle it")

    def __init__(self, message: str, result: InfoResult, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


def read_info(transport: str | Transport | None = None, *, serial: str | None = None,
              usb_path: str | None = None, timeout: float = 60.0, hello_timeout: float = 1.0,
              force: bool = False) -> InfoResult:
    """Query serial number, HW id, OEM PK hash and SBL version (see the module docstring).

    Raises DumpLost (exit 6, with the result attached) when ``force`` cost a crash dump.
    """
    with open_session(transport, serial=serial, usb_path=usb_path, timeout=timeout,
                      hello_timeout=hello_timeout) as client:
        hello = client.wait_hello(Mode.MEMORY_DEBUG)
        result = InfoResult(client.transport.identity(), hello, "queried")
        result.reprovoked = client.reprovoked
        if result.holds_dump and not force:
            result.command_mode = "skipped"
            result.warnings.append(DUMP_SKIPPED)
            return result
        if hello.version < 2:
            # Command mode appeared in protocol 2.1 (docs/protocol.md#minimum-version-per-command):
            # do not even ask.
            result.command_mode = "unsupported"
            result.warnings.append(f"Sahara version {hello.version} has no command mode")
            return result
        _enter(client, result)
        _query(client, result)
        _leave(client, result)
        if result.holds_dump and result.left_in == "needs-reset":
            raise DumpLost("the device refused a command and now accepts only RESET: the "
                           "crash dump can no longer be pulled", result)
        return result


def _enter(client: SaharaClient, result: InfoResult) -> None:
    try:
        client.open_command_mode()
    except WrongMode as exc:
        if result.holds_dump:
            raise WrongMode(
                f"{exc.message}; the device now accepts only RESET, which reboots it: the "
                "crash dump can no longer be pulled", hint="`qdlpy reset` (no --force "
                "needed: the device takes only RESET now) or power-cycle it to get the "
                "device back") from exc
        raise


def _query(client: SaharaClient, result: InfoResult) -> None:
    cmds = _Commands(client, result)
    result.serial_number = cmds.run("serial_number", ExecCmd.SERIAL_NUM_READ,
                                    lambda d: parse_u32(d, "SERIAL_NUM_READ"))
    if result.hello.version >= 3:
        result.hw_id = cmds.run("hw_id", ExecCmd.READ_CHIP_ID_V3, parse_chip_id_v3)
    else:
        result.hw_id = cmds.run("hw_id", ExecCmd.MSM_HW_ID_READ, parse_hw_id)
    result.sbl_version = cmds.run("sbl_version", ExecCmd.GET_SOFTWARE_VERSION_SBL,
                                  lambda d: parse_u32(d, "GET_SOFTWARE_VERSION_SBL"))
    raw = cmds.run("oem_pk_hash", ExecCmd.OEM_PK_HASH_READ, bytes)
    if raw is not None:
        trimmed = trim_pk_hash(raw)
        if trimmed:
            result.pk_hash, result.pk_hash_raw_length = trimmed, len(raw)
        else:
            result.unavailable["oem_pk_hash"] = "all zero (no OEM key provisioned)"


def _leave(client: SaharaClient, result: InfoResult) -> None:
    """SWITCH_MODE back to the mode the device offered (2 keeps a dump offered, else 0)."""
    back = Mode.MEMORY_DEBUG if result.holds_dump else Mode.IMAGE_TX_PENDING
    try:
        hello = client.leave_command_mode(back)
    except DeviceNak as nak:
        result.left_in = "needs-reset"
        lost = " (the crash dump can no longer be pulled)" if result.holds_dump else ""
        result.warnings.append(
            f"after the refusal the device accepts only RESET ({nak.message}){lost}: "
            "run `qdlpy reset` (no --force needed in this state) or power-cycle it before "
            "using it again")
        return
    except ProtocolError as exc:
        result.left_in = "unknown"
        result.warnings.append(f"leaving command mode: {exc.message}")
        return
    if hello is None:
        result.left_in = "unknown"
        result.warnings.append("the device sent no HELLO after SWITCH_MODE")
    else:
        result.left_in = "memory-debug" if hello.mode == Mode.MEMORY_DEBUG else "image-transfer"
