"""Decoding of command-mode answers (docs/protocol.md#client-commands,
docs/protocol.md#chip-identity); pure functions.

Kept apart from the I/O in ``qdlpy.info`` so every rule is unit-tested on bytes.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

HASH_SIZES = (32, 48, 64)  # SHA-256, SHA-384, SHA-512 widths an OEM PK hash can have
HASH_NAMES = {32: "sha256", 48: "sha384", 64: "sha512"}
# READ_CHIP_ID_V3 carries MSM/OEM/MODEL ids up to offset 44 (docs/protocol.md#chip-identity)
V3_MIN_LENGTH = 44
V3_ALT_OEM_LENGTH = 46  # the alternative OEM_ID at offset 44 needs 46 bytes


@dataclasses.dataclass(frozen=True)
class HwId:
    """Chip identity. MSM_ID keeps all 32 bits (docs/protocol.md#chip-identity: qdl, not edl's
    24)."""

    msm_id: int
    oem_id: int
    model_id: int
    source: str  # which client command it came from
    raw: int | None = None  # the u64 of 0x02
    chip_id_v3: int | None = None  # offset 0 of 0x0A

    def to_dict(self) -> dict[str, Any]:
        return {
            "msm_id": f"0x{self.msm_id:08x}",
            "oem_id": f"0x{self.oem_id:04x}",
            "model_id": f"0x{self.model_id:04x}",
            "source": self.source,
            "raw": None if self.raw is None else f"0x{self.raw:016x}",
            "chip_id_v3": None if self.chip_id_v3 is None else f"0x{self.chip_id_v3:08x}",
        }


def parse_u32(data: bytes, what: str) -> int:
    if len(data) < 4:
        raise ValueError(f"{what}: {len(data)} bytes, expected 4")
    value: int = struct.unpack_from("<I", data)[0]
    return value


def parse_hw_id(data: bytes) -> HwId:
    """0x02 MSM_HW_ID_READ: a u64 (some devices repeat it to 0x18 bytes,
    docs/protocol.md#client-commands).

    Split as qdl does (docs/protocol.md#chip-identity): MSM_ID bits 63-32, OEM_ID bits 31-16,
    MODEL_ID bits 15-0.
    """
    if len(data) < 8:
        raise ValueError(f"MSM_HW_ID_READ: {len(data)} bytes, expected at least 8")
    raw: int = struct.unpack_from("<Q", data)[0]
    return HwId(msm_id=raw >> 32, oem_id=(raw >> 16) & 0xFFFF, model_id=raw & 0xFFFF,
                source="0x02 MSM_HW_ID_READ", raw=raw)


def parse_chip_id_v3(data: bytes) -> HwId:
    """0x0A READ_CHIP_ID_V3 (docs/protocol.md#chip-identity): MSM_ID at 36, OEM_ID at 40
    (or 44 when 40 is 0), MODEL at 42."""
    if len(data) < V3_MIN_LENGTH:
        raise ValueError(f"READ_CHIP_ID_V3: {len(data)} bytes, expected at least {V3_MIN_LENGTH}")
    (chip_id,) = struct.unpack_from("<I", data, 0)
    msm_id, oem_id, model_id = struct.unpack_from("<IHH", data, 36)
    if oem_id == 0 and len(data) >= V3_ALT_OEM_LENGTH:
        (oem_id,) = struct.unpack_from("<H", data, 44)
    return HwId(
        msm_id=msm_id,
        oem_id=oem_id,
        model_id=model_id,
        source="0x0A READ_CHIP_ID_V3",
        chip_id_v3=chip_id,
    )


def _repeats_of(data: bytes, size: int) -> bool:
    """``data`` is data[:size] repeated, each repetition possibly replaced by zero padding."""
    first = data[:size]
    if not first.strip(b"\0"):
        return False
    for i in range(size, len(data), size):
        piece = data[i : i + size]
        if piece != first[: len(piece)] and piece.strip(b"\0"):
            return False
    return True


def trim_pk_hash(data: bytes) -> bytes:
    """The OEM PK hash without its repeats and zero padding (docs/protocol.md#client-commands).

    Devices send the hash once per root certificate and/or zero-padded to a fixed width
    (up to 0x60). The hash is the shortest standard width (32, 48, 64) whose first block
    the rest only repeats or pads; otherwise the bytes up to the last non-zero one,
    rounded up to a standard width. All zero: b"" (nothing provisioned).
    """
    if not data.strip(b"\0"):
        return b""
    for size in HASH_SIZES:
        if len(data) >= size and _repeats_of(data, size):
            return data[:size]
    used = len(data.rstrip(b"\0"))
    width = next((s for s in HASH_SIZES if used <= s), used)
    return data[:width]


def hash_name(digest: bytes) -> str | None:
    return HASH_NAMES.get(len(digest))
