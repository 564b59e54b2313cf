"""Root of qdlpy's exception tree and the protocol-level errors.

The root lives here, in the sans-I/O layer, because ``protocols/`` may import nothing but
the stdlib and construct; ``qdlpy.errors`` re-exports it and adds the transport, output
and input classes. Every class carries a process exit code (docs/design.md#exit-codes), a
stable machine-readable ``code`` for JSON output, and a default ``hint`` telling the
user the way out.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "QdlpyError",
    "ProtocolError",
    "MalformedPacket",
    "UnexpectedPacket",
    "DeviceNak",
    "TableError",
    "NoHello",
]


class QdlpyError(Exception):
    """Base of every error qdlpy raises on purpose.

    ``exit_code``: the process exit status the CLI uses for it.
    ``code``: a short kebab-case identifier, stable across releases (JSON ``error.code``).
    ``hint``: what the user can do about it (one sentence, may name a command).
    """

    exit_code: ClassVar[int] = 1
    code: ClassVar[str] = "internal-error"
    default_hint: ClassVar[str] = "this is a bug in qdlpy: please report it with qdlpy.log attached"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        #: Extra facts for the JSON error object (e.g. where a failed pull saved its files).
        self.details: dict[str, object] = {}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """The ``error`` object of every ``--json`` document."""
        return {
            "code": self.code,
            "exit_code": self.exit_code,
            "message": self.message,
            "hint": self.hint,
            "type": type(self).__name__,
            **self.details,
        }


class ProtocolError(QdlpyError):
    """The device said something Sahara does not allow here (exit 6)."""

    exit_code = 6
    code = "protocol-error"
    default_hint = (
        "the device is not speaking Sahara as expected; run again with -v and, if it persists, "
        "power-cycle the device (an unpulled dump is lost by a power-cycle)"
    )


class MalformedPacket(ProtocolError):
    """Bytes that do not form a valid Sahara packet (wrong length field, truncated...)."""

    code = "malformed-packet"


class UnexpectedPacket(ProtocolError):
    """A well-formed packet that is not valid in the current protocol state."""

    code = "unexpected-packet"


class NoHello(ProtocolError):
    """The device never sent HELLO, even after a safe re-provocation."""

    code = "no-hello"
    default_hint = (
        "the device is not in Sahara (crash-dump or EDL) mode, or another program holds it; "
        "check `qdlpy list`, close other tools (qdl, edl, QPST) and try again"
    )


class TableError(ProtocolError):
    """The memory-debug region table is unusable (size, entry count, hostile contents)."""

    code = "bad-region-table"
    default_hint = (
        "the device offered a region table qdlpy cannot trust; run again with "
        "`-v --log-file qdlpy.log` and report it: the log holds the raw table bytes"
    )


class DeviceNak(ProtocolError):
    """The device reported a failure with END_OF_IMAGE_TX and a non-zero status.

    The status is decoded where it is raised, e.g.
    ``device NAK 0x19: invalid memory read access (reading 0x80000000+0x80000)``.
    """

    code = "device-nak"

    def __init__(self, status: int, context: str = "", *, hint: str | None = None) -> None:
        from .constants import describe_status  # local: constants imports nothing from here

        self.status = status
        self.context = context
        name, text = describe_status(status)
        message = f"device NAK 0x{status:02x}: {text}"
        if context:
            message += f" ({context})"
        self.status_name = name
        super().__init__(message, hint=hint)

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d["status"] = self.status
        d["status_name"] = self.status_name
        return d
