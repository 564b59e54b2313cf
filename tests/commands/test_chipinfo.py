"""Decoding of command-mode answers (qdlpy.chipinfo; docs/protocol.md#client-commands,
docs/protocol.md#chip-identity)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from qdlpy.chipinfo import hash_name, parse_chip_id_v3, parse_hw_id, parse_u32, trim_pk_hash

SHA256 = hashlib.sha256(b"root").digest()
SHA384 = hashlib.sha384(b"root").digest()


def test_hw_id_keeps_all_32_bits_of_msm_id() -> None:
    raw = (0xAB0A50E1 << 32) | (0x0051 << 16) | 0x0103
    hw = parse_hw_id(struct.pack("<Q", raw))
    assert (hw.msm_id, hw.oem_id, hw.model_id) == (0xAB0A50E1, 0x51, 0x103)
    assert hw.to_dict()["msm_id"] == "0xab0a50e1"  # not edl's 24-bit 0x0a50e1
    assert hw.raw == raw


def test_hw_id_repeated_three_times_uses_the_first_copy() -> None:
    value = struct.pack("<Q", (0x1 << 32) | (0x2 << 16) | 0x3)
    hw = parse_hw_id(value * 3)
    assert (hw.msm_id, hw.oem_id, hw.model_id) == (1, 2, 3)


def test_hw_id_too_short() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        parse_hw_id(b"\1" * 7)


def _v3(msm: int, oem: int, model: int, alt: int | None = None, length: int = 48) -> bytes:
    body = bytearray(length)
    struct.pack_into("<I", body, 0, 0x77)
    struct.pack_into("<IHH", body, 36, msm, oem, model)
    if alt is not None:
        struct.pack_into("<H", body, 44, alt)
    return bytes(body)


def test_chip_id_v3_offsets() -> None:
    hw = parse_chip_id_v3(_v3(0x9600E1, 0x51, 0x2))
    assert (hw.msm_id, hw.oem_id, hw.model_id, hw.chip_id_v3) == (0x9600E1, 0x51, 0x2, 0x77)
    assert hw.source.startswith("0x0A")


def test_chip_id_v3_alternative_oem_id_when_40_is_zero() -> None:
    assert parse_chip_id_v3(_v3(1, 0, 2, alt=0x99)).oem_id == 0x99
    # the alternative needs 46 bytes: with 44 the zero stays
    assert parse_chip_id_v3(_v3(1, 0, 2, length=44)).oem_id == 0


def test_chip_id_v3_too_short() -> None:
    with pytest.raises(ValueError, match="at least 44"):
        parse_chip_id_v3(b"\0" * 43)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (SHA256 * 3, SHA256),  # once per root certificate
        (SHA256.ljust(0x60, b"\0"), SHA256),  # zero padded
        (SHA384.ljust(0x60, b"\0"), SHA384),  # SHA-384 padded: not cut at 32
        (SHA384 * 2, SHA384),
        (SHA256, SHA256),
        (SHA384, SHA384),
    ],
)
def test_pk_hash_trimmed(raw: bytes, expected: bytes) -> None:
    assert trim_pk_hash(raw) == expected


def test_pk_hash_with_trailing_zero_bytes_of_its_own_is_kept_whole() -> None:
    digest = SHA256[:30] + b"\0\0"
    assert trim_pk_hash(digest * 3) == digest
    assert trim_pk_hash(digest.ljust(0x60, b"\0")) == digest


def test_pk_hash_odd_width_is_rounded_up_to_a_standard_one() -> None:
    raw = bytes(range(1, 41)).ljust(0x60, b"\0")  # 40 meaningful bytes
    assert trim_pk_hash(raw) == raw[:48]


def test_pk_hash_all_zero_is_empty() -> None:
    assert trim_pk_hash(b"\0" * 0x60) == b""


def test_hash_names() -> None:
    assert hash_name(SHA256) == "sha256"
    assert hash_name(SHA384) == "sha384"
    assert hash_name(b"\1" * 20) is None


def test_u32() -> None:
    assert parse_u32(struct.pack("<I", 0x5A1B2C3D), "x") == 0x5A1B2C3D
    with pytest.raises(ValueError, match="expected 4"):
        parse_u32(b"\1\2", "SERIAL")
