"""Command ids, modes and status codes against docs/protocol.md#command-table,
docs/protocol.md#modes, docs/protocol.md#status-codes.

The expected values are typed in from the reference tables, never computed from the
module under test, so a shifted table (edl's ErrorDesc is off by one, docs/protocol.md#status-codes)
fails here.
"""

from __future__ import annotations

import pytest

from qdlpy.protocols.constants import (
    STATUS_TEXT,
    Cmd,
    Mode,
    Status,
    describe_status,
)
from qdlpy.protocols.errors import DeviceNak, ProtocolError, QdlpyError

# docs/protocol.md#command-table (id -> name as qdlpy spells it).
COMMANDS = {
    0x01: "HELLO",
    0x02: "HELLO_RESP",
    0x03: "READ_DATA",
    0x04: "END_OF_IMAGE_TX",
    0x05: "DONE",
    0x06: "DONE_RESP",
    0x07: "RESET",
    0x08: "RESET_RESP",
    0x09: "MEMORY_DEBUG",
    0x0A: "MEMORY_READ",
    0x0B: "CMD_READY",
    0x0C: "SWITCH_MODE",
    0x0D: "EXECUTE",
    0x0E: "EXECUTE_RESP",
    0x0F: "EXECUTE_DATA",
    0x10: "MEMORY_DEBUG_64",
    0x11: "MEMORY_READ_64",
    0x12: "READ_DATA_64",
    0x13: "RESET_STATE_MACHINE",
}

# docs/protocol.md#status-codes, code -> device-header name without the STATUS_/NAK_ split.
STATUS_NAMES = {
    0x00: "SUCCESS",
    0x01: "NAK_INVALID_CMD",
    0x02: "NAK_PROTOCOL_MISMATCH",
    0x03: "NAK_INVALID_TARGET_PROTOCOL",
    0x04: "NAK_INVALID_HOST_PROTOCOL",
    0x05: "NAK_INVALID_PACKET_SIZE",
    0x06: "NAK_UNEXPECTED_IMAGE_ID",
    0x07: "NAK_INVALID_HEADER_SIZE",
    0x08: "NAK_INVALID_DATA_SIZE",
    0x09: "NAK_INVALID_IMAGE_TYPE",
    0x0A: "NAK_INVALID_TX_LENGTH",
    0x0B: "NAK_INVALID_RX_LENGTH",
    0x0C: "NAK_GENERAL_TX_RX_ERROR",
    0x0D: "NAK_READ_DATA_ERROR",
    0x0E: "NAK_UNSUPPORTED_NUM_PHDRS",
    0x0F: "NAK_INVALID_PDHR_SIZE",
    0x10: "NAK_MULTIPLE_SHARED_SEG",
    0x11: "NAK_UNINIT_PHDR_LOC",
    0x12: "NAK_INVALID_DEST_ADDR",
    0x13: "NAK_INVALID_IMG_HDR_DATA_SIZE",
    0x14: "NAK_INVALID_ELF_HDR",
    0x15: "NAK_UNKNOWN_HOST_ERROR",
    0x16: "NAK_TIMEOUT_RX",
    0x17: "NAK_TIMEOUT_TX",
    0x18: "NAK_INVALID_HOST_MODE",
    0x19: "NAK_INVALID_MEMORY_READ",
    0x1A: "NAK_INVALID_DATA_SIZE_REQUEST",
    0x1B: "NAK_MEMORY_DEBUG_NOT_SUPPORTED",
    0x1C: "NAK_INVALID_MODE_SWITCH",
    0x1D: "NAK_CMD_EXEC_FAILURE",
    0x1E: "NAK_EXEC_CMD_INVALID_PARAM",
    0x1F: "NAK_EXEC_CMD_UNSUPPORTED",
    0x20: "NAK_EXEC_DATA_INVALID_CLIENT_CMD",
    0x21: "NAK_HASH_TABLE_AUTH_FAILURE",
    0x22: "NAK_HASH_VERIFICATION_FAILURE",
    0x23: "NAK_HASH_TABLE_NOT_FOUND",
    0x24: "NAK_TARGET_INIT_FAILURE",
    0x25: "NAK_IMAGE_AUTH_FAILURE",
    0x26: "NAK_INVALID_IMG_HASH_TABLE_SIZE",
    0x27: "NAK_TRANSPORT_INIT_FAILURE",
    0x28: "NAK_BULK_TRANSFER_ERROR",
    0x29: "NAK_CABLE_DISCONNECT_ERROR",
    0x10000: "NAK_ERROR_NOT_MAPPED",
}


def test_command_ids_match_reference_table() -> None:
    assert {int(c): c.name for c in Cmd} == COMMANDS


def test_modes_match_reference_table() -> None:
    # docs/protocol.md#modes: 0 image transfer pending, 1 complete, 2 memory debug, 3 command.
    assert (Mode.IMAGE_TX_PENDING, Mode.IMAGE_TX_COMPLETE, Mode.MEMORY_DEBUG, Mode.COMMAND) == (
        0,
        1,
        2,
        3,
    )
    assert all(m.label for m in Mode)


def test_status_values_and_names_match_reference_table() -> None:
    assert {int(s): s.name for s in Status} == STATUS_NAMES


def test_every_status_has_its_own_nonempty_text() -> None:
    assert set(STATUS_TEXT) == set(Status)
    assert all(text.strip() for text in STATUS_TEXT.values())
    # One text per code: a copy-paste that gives two codes the same text is a shift in disguise.
    assert len(set(STATUS_TEXT.values())) == len(STATUS_TEXT)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        # The texts an off-by-one table (edl's ErrorDesc, docs/protocol.md#status-codes) gets wrong.
        (0x00, "success"),
        (0x01, "invalid command"),
        (0x02, "protocol version"),
        (0x0B, "receive length"),
        (0x15, "host reported an error"),
        (0x18, "mode"),
        (0x19, "invalid memory read"),
        (0x1A, "size"),
        (0x1B, "memory debug"),
        (0x1C, "mode switch"),
        (0x1F, "not supported"),
        (0x20, "execute_data"),
        (0x21, "authentication"),
        (0x29, "disconnect"),
    ],
)
def test_status_text_spot_checks(code: int, words: str) -> None:
    name, text = describe_status(code)
    assert name == STATUS_NAMES[code]
    assert words in text.lower()


def test_neighbours_do_not_share_the_key_words() -> None:
    # edl reads 0x1B as "Invalid mode switch" (0x1C's text): make sure ours does not.
    assert "mode switch" not in STATUS_TEXT[Status(0x1B)].lower()
    assert "invalid command" not in STATUS_TEXT[Status(0x00)].lower()
    assert "memory read" not in STATUS_TEXT[Status(0x18)].lower()
    assert "memory read" not in STATUS_TEXT[Status(0x1A)].lower()


@pytest.mark.parametrize("code", [0x2A, 0x7FFFFFFF, 0xFFFFFFFF, 0x9999])
def test_unknown_status_is_described_not_rejected(code: int) -> None:
    name, text = describe_status(code)
    assert f"{code:x}" in name.lower()
    assert f"{code:x}" in text.lower()


def test_device_nak_names_the_status() -> None:
    exc = DeviceNak(0x19, "reading 0x80000000+0x1000")
    assert isinstance(exc, ProtocolError) and isinstance(exc, QdlpyError)
    assert exc.status == 0x19
    assert exc.status_name == "NAK_INVALID_MEMORY_READ"
    assert "0x19" in str(exc)
    assert "invalid memory read" in str(exc)
    assert "reading 0x80000000+0x1000" in str(exc)
    d = exc.to_dict()
    assert d["status"] == 0x19 and d["status_name"] == "NAK_INVALID_MEMORY_READ"
    assert d["exit_code"] == 6 and d["code"] == "device-nak"


def test_device_nak_with_unknown_status_still_builds_a_message() -> None:
    exc = DeviceNak(0x1234)
    assert "0x1234" in str(exc)
    assert exc.status_name.startswith("UNKNOWN")
