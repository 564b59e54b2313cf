"""``command``: a device that answers Sahara command mode (docs/protocol.md#command-mode).

Parameters:

* ``version=2|3`` (default 2). A v3 device refuses 0x02 MSM_HW_ID_READ (END_OF_IMAGE_TX
  0x1F) and answers 0x0A READ_CHIP_ID_V3 instead (docs/protocol.md#what-differs-between-versions,
  docs/protocol.md#client-commands).
* ``refuse_pkhash=1``: 0x03 OEM_PK_HASH_READ is refused too (some v3 devices do,
  docs/protocol.md#client-commands).
* ``oem_at_44=1`` (v3): the OEM_ID at offset 40 is zero and the real one sits at 44
  (docs/protocol.md#chip-identity).
* ``hwid_repeat=0|1`` (v2, default 1): 0x02 answers 0x18 bytes (the value three times),
  as some devices do; 0 answers the plain 8 bytes.
* ``no_command=1``: command mode itself is refused (HELLO_RESP(3) gets NAK 0x18).
* ``mode=0|2`` (default 0): the HELLO mode at power-on. 0 is a PBL in EDL; 2 is a
  crash-dump boot loader that also has command mode (a small memory-debug table is
  offered so a test can prove the dump survives a visit to command mode).
* ``sbl_version=N`` (decimal or 0x hex, default ``SBL_VERSION``): the u32 that 0x07
  GET_SOFTWARE_VERSION_SBL answers. 4 is a real-world value whose answer, ``04 00 00 00``,
  starts like an END_OF_IMAGE_TX header.
* ``answer=CMD:HEX[,CMD:HEX...]``: client command CMD (a hex id) answers exactly these bytes
  (hex, may be empty), added to the table or replacing a built-in answer; e.g.
  ``answer=03:0400000010000000`` for answers that look like packets.

All values are deterministic (``IDENTITY``) so tests can assert them. The OEM PK hash
is served the way devices pad it: a SHA-256 repeated three times to 0x60 bytes on v2, a
SHA-384 zero-padded to 0x60 bytes on v3 (docs/protocol.md#client-commands).
"""

from __future__ import annotations

import hashlib
import struct

from qdlpy.errors import InvalidArgument
from qdlpy.protocols.constants import ExecCmd, Mode
from qdlpy.protocols.device import Personality
from qdlpy.simulator.faults import Faults
from qdlpy.simulator.memory import address_pattern

from .common import SimRegion, memory_debug_personality
from .registry import ScenarioBuild

#: What the simulated chip reports. MSM_ID has bit 29 set on purpose: a tool that keeps
#: only 24 bits of it (edl, docs/protocol.md#chip-identity) would report a different value.
SERIAL_NUMBER = 0x5A1B2C3D  # the same value the simulated USB iProduct carries as _SN:
MSM_ID = 0x200A50E1
OEM_ID = 0x0051
MODEL_ID = 0x0103
CHIP_ID_V3 = 0x0000_1A2B
SBL_VERSION = 0x0002_0005
PK_HASH_256 = hashlib.sha256(b"qdlpy simulated OEM root certificate").digest()
PK_HASH_384 = hashlib.sha384(b"qdlpy simulated OEM root certificate").digest()
# devices pad or repeat the hash to this width (docs/protocol.md#client-commands)
PK_HASH_WIDTH = 0x60


class RecordingResponses(dict[int, bytes]):
    """Client-command answers that remember which commands the host asked for.

    The device machine looks commands up with ``get()``; recording there lets a test
    prove, e.g., that a v3 device was never sent 0x02.
    """

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    def get(self, key: int, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        self.asked.append(key)
        return super().get(key, default)


def chip_id_v3(*, oem_at_44: bool = False) -> bytes:
    """A READ_CHIP_ID_V3 answer (docs/protocol.md#chip-identity): identifier at 0, MSM_ID at 36,
    OEM/MODEL at 40/42."""
    body = bytearray(48)
    struct.pack_into("<I", body, 0, CHIP_ID_V3)
    struct.pack_into("<IHH", body, 36, MSM_ID, 0 if oem_at_44 else OEM_ID, MODEL_ID)
    if oem_at_44:
        struct.pack_into("<H", body, 44, OEM_ID)
    return bytes(body)


def command_responses(version: int = 2, *, refuse_pkhash: bool = False,
                      oem_at_44: bool = False, hwid_repeat: bool = True,
                      sbl_version: int = SBL_VERSION,
                      answers: dict[int, bytes] | None = None) -> RecordingResponses:
    """The client-command table of a simulated device of Sahara ``version``.

    ``answers`` adds or replaces answers byte for byte (the ``answer=`` knob).
    """
    hwid = struct.pack("<Q", (MSM_ID << 32) | (OEM_ID << 16) | MODEL_ID)
    table: dict[int, bytes] = {
        ExecCmd.NOP: b"",
        ExecCmd.SERIAL_NUM_READ: struct.pack("<I", SERIAL_NUMBER),
        ExecCmd.GET_SOFTWARE_VERSION_SBL: struct.pack("<I", sbl_version),
    }
    if version >= 3:
        table[ExecCmd.READ_CHIP_ID_V3] = chip_id_v3(oem_at_44=oem_at_44)
        pk = PK_HASH_384.ljust(PK_HASH_WIDTH, b"\0")
    else:
        table[ExecCmd.MSM_HW_ID_READ] = hwid * 3 if hwid_repeat else hwid
        pk = PK_HASH_256 * (PK_HASH_WIDTH // len(PK_HASH_256))
    if not refuse_pkhash:
        table[ExecCmd.OEM_PK_HASH_READ] = pk
    table.update(answers or {})
    table[ExecCmd.GET_COMMAND_ID_LIST] = b"".join(
        struct.pack("<I", c) for c in sorted([*table, ExecCmd.GET_COMMAND_ID_LIST]))
    out = RecordingResponses()
    out.update({int(k): v for k, v in table.items()})
    return out


def _flag(params: dict[str, str], key: str, default: str = "0") -> bool:
    return params.pop(key, default) not in ("0", "", "false", "no")


def _version(params: dict[str, str]) -> int:
    text = params.pop("version", "2")
    if text not in ("2", "3"):
        raise InvalidArgument(f"command scenario: version must be 2 or 3, not {text!r}")
    return int(text)


def _sbl_version(params: dict[str, str]) -> int:
    text = params.pop("sbl_version", None)
    if text is None:
        return SBL_VERSION
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFF_FFFF:
        raise InvalidArgument(f"command scenario: sbl_version must be a u32 (e.g. 4 or "
                              f"0x20005), not {text!r}")
    return value


def _answers(params: dict[str, str]) -> dict[int, bytes]:
    """``answer=CMD:HEX[,CMD:HEX...]`` -> {command id: answer bytes}."""
    text = params.pop("answer", "")
    answers: dict[int, bytes] = {}
    for item in filter(None, text.split(",")):
        cmd, sep, data = item.partition(":")
        try:
            if not sep:
                raise ValueError("no ':'")
            answers[int(cmd, 16)] = bytes.fromhex(data)
        except ValueError:
            raise InvalidArgument(
                f"command scenario: answer wants CMD:HEX (a hex command id, then the "
                f"answer's bytes in hex), not {item!r}",
                hint="e.g. answer=07:04000000 or answer=01:04000000,03:0400000010000000",
            ) from None
    return answers


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    version = _version(params)
    responses = command_responses(
        version,
        refuse_pkhash=_flag(params, "refuse_pkhash"),
        oem_at_44=_flag(params, "oem_at_44"),
        hwid_repeat=_flag(params, "hwid_repeat", "1"),
        sbl_version=_sbl_version(params),
        answers=_answers(params),
    )
    supported = not _flag(params, "no_command")
    mode = params.pop("mode", "0")
    if mode == "2":
        regions = [SimRegion("OCIMEM", "OCIMEM.BIN", 0x1468_0000, 0x1_0000,
                             generate=address_pattern)]
        personality, script = memory_debug_personality(regions, faults)
        personality.version = version
        personality.command_responses = responses
        personality.command_mode_supported = supported
        return ScenarioBuild(personality, script)
    if mode != "0":
        raise InvalidArgument(f"command scenario: mode must be 0 or 2, not {mode!r}")
    personality = Personality(mode=Mode.IMAGE_TX_PENDING, version=version,
                              command_responses=responses, command_mode_supported=supported)
    return ScenarioBuild(personality, pid=0x9008, interface_protocol=0xFF)
