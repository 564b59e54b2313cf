"""Sahara command ids, modes, status codes and client-command ids.

Values and names come from docs/protocol.md#command-table (command table), docs/protocol.md#modes
(modes), docs/protocol.md#status-codes (status codes; the device header's names, *not* edl's
off-by-one description table) and docs/protocol.md#client-commands (client commands).
"""

from __future__ import annotations

import enum


class Cmd(enum.IntEnum):
    """Sahara command ids (docs/protocol.md#command-table)."""

    HELLO = 0x01
    HELLO_RESP = 0x02
    READ_DATA = 0x03
    END_OF_IMAGE_TX = 0x04
    DONE = 0x05
    DONE_RESP = 0x06
    RESET = 0x07
    RESET_RESP = 0x08
    MEMORY_DEBUG = 0x09
    MEMORY_READ = 0x0A
    CMD_READY = 0x0B
    SWITCH_MODE = 0x0C
    EXECUTE = 0x0D
    EXECUTE_RESP = 0x0E
    EXECUTE_DATA = 0x0F
    MEMORY_DEBUG_64 = 0x10
    MEMORY_READ_64 = 0x11
    READ_DATA_64 = 0x12
    RESET_STATE_MACHINE = 0x13


class Mode(enum.IntEnum):
    """Sahara modes as carried in HELLO / HELLO_RESP / SWITCH_MODE (docs/protocol.md#modes)."""

    IMAGE_TX_PENDING = 0
    IMAGE_TX_COMPLETE = 1
    MEMORY_DEBUG = 2
    COMMAND = 3

    @property
    def label(self) -> str:
        return {
            Mode.IMAGE_TX_PENDING: "image transfer (EDL)",
            Mode.IMAGE_TX_COMPLETE: "image transfer complete",
            Mode.MEMORY_DEBUG: "memory debug (crash dump)",
            Mode.COMMAND: "command",
        }[self]


class ExecCmd(enum.IntEnum):
    """Client commands run in command mode (docs/protocol.md#client-commands)."""

    NOP = 0x00
    SERIAL_NUM_READ = 0x01
    MSM_HW_ID_READ = 0x02
    OEM_PK_HASH_READ = 0x03
    SWITCH_TO_DMSS_DLOAD = 0x04
    SWITCH_TO_STREAM_DLOAD = 0x05
    READ_DEBUG_DATA = 0x06
    GET_SOFTWARE_VERSION_SBL = 0x07
    GET_COMMAND_ID_LIST = 0x08
    GET_TRAINING_DATA = 0x09
    READ_CHIP_ID_V3 = 0x0A


class ImageTxStatus(enum.IntEnum):
    """DONE_RESP image_tx_status (docs/protocol.md#done_resp)."""

    PENDING = 0
    COMPLETE = 1


class SavePref(enum.IntEnum):
    """Debug-table save_pref (docs/protocol.md#region-table-formats)."""

    OPTIONAL_NO_SAVE = 0
    OPTIONAL_SAVE = 1
    MANDATORY = 2


class Status(enum.IntEnum):
    """END_OF_IMAGE_TX status codes, named as in the device header boot_sahara.h
    (docs/protocol.md#status-codes)."""

    SUCCESS = 0x00
    NAK_INVALID_CMD = 0x01
    NAK_PROTOCOL_MISMATCH = 0x02
    NAK_INVALID_TARGET_PROTOCOL = 0x03
    NAK_INVALID_HOST_PROTOCOL = 0x04
    NAK_INVALID_PACKET_SIZE = 0x05
    NAK_UNEXPECTED_IMAGE_ID = 0x06
    NAK_INVALID_HEADER_SIZE = 0x07
    NAK_INVALID_DATA_SIZE = 0x08
    NAK_INVALID_IMAGE_TYPE = 0x09
    NAK_INVALID_TX_LENGTH = 0x0A
    NAK_INVALID_RX_LENGTH = 0x0B
    NAK_GENERAL_TX_RX_ERROR = 0x0C
    NAK_READ_DATA_ERROR = 0x0D
    NAK_UNSUPPORTED_NUM_PHDRS = 0x0E
    NAK_INVALID_PDHR_SIZE = 0x0F
    NAK_MULTIPLE_SHARED_SEG = 0x10
    NAK_UNINIT_PHDR_LOC = 0x11
    NAK_INVALID_DEST_ADDR = 0x12
    NAK_INVALID_IMG_HDR_DATA_SIZE = 0x13
    NAK_INVALID_ELF_HDR = 0x14
    NAK_UNKNOWN_HOST_ERROR = 0x15
    NAK_TIMEOUT_RX = 0x16
    NAK_TIMEOUT_TX = 0x17
    NAK_INVALID_HOST_MODE = 0x18
    NAK_INVALID_MEMORY_READ = 0x19
    NAK_INVALID_DATA_SIZE_REQUEST = 0x1A
    NAK_MEMORY_DEBUG_NOT_SUPPORTED = 0x1B
    NAK_INVALID_MODE_SWITCH = 0x1C
    NAK_CMD_EXEC_FAILURE = 0x1D
    NAK_EXEC_CMD_INVALID_PARAM = 0x1E
    NAK_EXEC_CMD_UNSUPPORTED = 0x1F
    NAK_EXEC_DATA_INVALID_CLIENT_CMD = 0x20
    NAK_HASH_TABLE_AUTH_FAILURE = 0x21
    NAK_HASH_VERIFICATION_FAILURE = 0x22
    NAK_HASH_TABLE_NOT_FOUND = 0x23
    NAK_TARGET_INIT_FAILURE = 0x24
    NAK_IMAGE_AUTH_FAILURE = 0x25
    NAK_INVALID_IMG_HASH_TABLE_SIZE = 0x26
    NAK_TRANSPORT_INIT_FAILURE = 0x27
    NAK_BULK_TRANSFER_ERROR = 0x28
    NAK_CABLE_DISCONNECT_ERROR = 0x29
    NAK_ERROR_NOT_MAPPED = 0x10000


# Human-readable meaning of each status (docs/protocol.md#status-codes, in our words). Keyed by
# the enum itself so a shifted table like edl's cannot happen: tests/protocols check
# that every member has exactly one entry.
STATUS_TEXT: dict[Status, str] = {
    Status.SUCCESS: "success",
    Status.NAK_INVALID_CMD: "invalid command for the device's current state",
    Status.NAK_PROTOCOL_MISMATCH: "host and device protocol versions are incompatible",
    Status.NAK_INVALID_TARGET_PROTOCOL: "invalid target protocol version",
    Status.NAK_INVALID_HOST_PROTOCOL: "invalid host protocol version",
    Status.NAK_INVALID_PACKET_SIZE: "packet length field is wrong for the command",
    Status.NAK_UNEXPECTED_IMAGE_ID: "image id not expected",
    Status.NAK_INVALID_HEADER_SIZE: "invalid image header size",
    Status.NAK_INVALID_DATA_SIZE: "invalid image data size",
    Status.NAK_INVALID_IMAGE_TYPE: "invalid image type",
    Status.NAK_INVALID_TX_LENGTH: "invalid transmit length",
    Status.NAK_INVALID_RX_LENGTH:
        "invalid receive length (host sent fewer or more bytes than asked)",
    Status.NAK_GENERAL_TX_RX_ERROR: "general transport error on the device",
    Status.NAK_READ_DATA_ERROR: "error while sending READ_DATA",
    Status.NAK_UNSUPPORTED_NUM_PHDRS: "too many ELF program headers in the image",
    Status.NAK_INVALID_PDHR_SIZE: "invalid program-header data length",
    Status.NAK_MULTIPLE_SHARED_SEG: "multiple shared segments in the ELF image",
    Status.NAK_UNINIT_PHDR_LOC: "uninitialised program-header location",
    Status.NAK_INVALID_DEST_ADDR: "segment load address not allowed",
    Status.NAK_INVALID_IMG_HDR_DATA_SIZE: "bad data size in the image header",
    Status.NAK_INVALID_ELF_HDR: "not a valid ELF image, or the wrong ELF class",
    Status.NAK_UNKNOWN_HOST_ERROR: "the host reported an error in HELLO_RESP",
    Status.NAK_TIMEOUT_RX: "device timed out waiting for host data",
    Status.NAK_TIMEOUT_TX: "device timed out transmitting",
    Status.NAK_INVALID_HOST_MODE: "requested mode is not allowed",
    Status.NAK_INVALID_MEMORY_READ:
        "invalid memory read access (address or length outside the permitted regions)",
    Status.NAK_INVALID_DATA_SIZE_REQUEST: "the device cannot serve a read of this size",
    Status.NAK_MEMORY_DEBUG_NOT_SUPPORTED:
        "memory debug (crash dump) is not supported or not enabled on this device",
    Status.NAK_INVALID_MODE_SWITCH: "invalid mode switch",
    Status.NAK_CMD_EXEC_FAILURE: "client command failed",
    Status.NAK_EXEC_CMD_INVALID_PARAM: "bad client-command parameter",
    Status.NAK_EXEC_CMD_UNSUPPORTED: "client command not supported by this device",
    Status.NAK_EXEC_DATA_INVALID_CLIENT_CMD:
        "EXECUTE_DATA for a different command than the pending EXECUTE",
    Status.NAK_HASH_TABLE_AUTH_FAILURE:
        "image signature / hash-table authentication failed (wrong programmer for a secure "
        "device?)",
    Status.NAK_HASH_VERIFICATION_FAILURE: "image segment hash mismatch",
    Status.NAK_HASH_TABLE_NOT_FOUND: "image hash segment missing (unsigned image?)",
    Status.NAK_TARGET_INIT_FAILURE: "target failed to initialise",
    Status.NAK_IMAGE_AUTH_FAILURE: "image authentication failure",
    Status.NAK_INVALID_IMG_HASH_TABLE_SIZE: "image hash table too big or too small",
    Status.NAK_TRANSPORT_INIT_FAILURE: "device transport enumeration failed",
    Status.NAK_BULK_TRANSFER_ERROR: "device hardware bulk-transfer error",
    Status.NAK_CABLE_DISCONNECT_ERROR: "USB cable disconnect seen by the device",
    Status.NAK_ERROR_NOT_MAPPED: "client error not mapped to a Sahara status",
}


def describe_status(status: int) -> tuple[str, str]:
    """(name, meaning) of a status code; unknown codes are described, never rejected."""
    try:
        member = Status(status)
    except ValueError:
        return (f"UNKNOWN_0x{status:x}", f"unknown status code 0x{status:x}")
    return (member.name, STATUS_TEXT[member])


# Sahara framing facts used across the package (docs/protocol.md).
HEADER_SIZE = 8
MAX_COMMAND_PACKET = 0x400  # the device's command buffer / HELLO cmd_packet_length
ENTRY_SIZE_32 = 52  # MEMORY_DEBUG (0x09) table entry
ENTRY_SIZE_64 = 64  # MEMORY_DEBUG_64 (0x10) table entry
# qdl's cap; the kernel uses 0xFFFF (docs/protocol.md#reading-the-table)
MAX_TABLE_SIZE = 64 * 1024
# The device keeps read lengths in a u32; qdl and QSaharaServer cap a request at 1 MiB
# (docs/protocol.md#request-sizing).
MAX_READ_SIZE = 1024 * 1024
# an END_OF_IMAGE_TX is 16 bytes: never request exactly this much raw data
# (docs/protocol.md#why-a-16-byte-request-is-never-sent)
EOI_SIZE = 16
# HELLO_RESP.version (docs/protocol.md#version-negotiation: "2 / 1" works with v2 and v3 devices)
HOST_VERSION = 2
HOST_VERSION_SUPPORTED = 1
