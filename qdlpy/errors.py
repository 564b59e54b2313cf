"""qdlpy's one exception tree, with an exit code and a hint per class.

Exit codes (docs/design.md#exit-codes; README "Exit codes" documents the same table):

====  =====================================================================
0     success
1     internal error / no usable USB backend
2     usage error, ambiguous device selection
3     no matching device before --timeout
4     permission denied opening the device
5     device busy (claimed by another program or a kernel driver)
6     protocol error (NAK, unexpected packet, no HELLO, wrong mode)
7     transfer error or timeout mid-transfer (disconnect, I/O)
8     partial dump (some regions failed; everything else is saved)
9     output error (directory not empty, no space, write failure)
10    input error (a dump folder or ELF that cannot be used)
129   hung up (SIGHUP): as 130
130   interrupted (Ctrl-C, SIGINT): the manifest says "interrupted", --resume continues
143   terminated (SIGTERM, e.g. a CI or board-farm job timeout): as 130
====  =====================================================================

Classes that have a matching built-in also subclass it (python-can style), so
``except TimeoutError`` works for callers who do not know qdlpy.
"""

from __future__ import annotations

from qdlpy.protocols.errors import (
    DeviceNak,
    MalformedPacket,
    NoHello,
    ProtocolError,
    QdlpyError,
    TableError,
    UnexpectedPacket,
)

__all__ = [
    "QdlpyError",
    "ProtocolError",
    "MalformedPacket",
    "UnexpectedPacket",
    "NoHello",
    "DeviceNak",
    "TableError",
    "WrongMode",
    "BackendUnavailable",
    "InvalidArgument",
    "AmbiguousDevice",
    "DeviceNotFound",
    "NoUsbBus",
    "PermissionDenied",
    "DeviceBusy",
    "TransportError",
    "TransferTimeout",
    "Disconnected",
    "PartialDump",
    "OutputError",
    "OutputExists",
    "DifferentDevice",
    "FolderLocked",
    "FolderRemoved",
    "NoSpace",
    "InputError",
    "EncryptedDump",
    "Interrupted",
    "HungUp",
    "Terminated",
    "EXIT_CODES",
]

UDEV_HINT = (
    "install the udev rule with `sudo \"$(command -v qdlpy)\" udev install` and re-plug the "
    "device (see `qdlpy doctor`), or run as root"
)


class WrongMode(ProtocolError):
    """The device is in a Sahara mode that cannot do what was asked (e.g. EDL for a dump)."""

    code = "wrong-mode"


class BackendUnavailable(QdlpyError):
    """No libusb could be loaded (exit 1)."""

    code = "no-usb-backend"
    default_hint = (
        "install libusb (`apt-get install libusb-1.0-0`) or `pip install libusb-package`; "
        "QDLPY_LIBUSB=/path/to/libusb-1.0.so.0 picks a specific library"
    )


class InvalidArgument(QdlpyError):
    """A command-line or API argument that cannot work (exit 2)."""

    exit_code = 2
    code = "invalid-argument"
    default_hint = "see `qdlpy COMMAND --help`"


class AmbiguousDevice(InvalidArgument):
    """Several devices match and none was selected (exit 2)."""

    code = "ambiguous-device"
    default_hint = "pick one with --serial SN or --usb-path BUS-PORT (see `qdlpy list`)"


class DeviceNotFound(QdlpyError):
    """No matching device appeared before the timeout (exit 3)."""

    exit_code = 3
    code = "no-device"
    default_hint = (
        "check the cable and that the device is in crash-dump/EDL mode (`qdlpy list`); "
        "--timeout 0 waits forever"
    )

    def __init__(self, message: str, *, hint: str | None = None,
                 nothing_visible: bool = False) -> None:
        super().__init__(message, hint=hint)
        #: No candidate device at all was seen (as opposed to some that did not match).
        self.nothing_visible = nothing_visible


class NoUsbBus(DeviceNotFound):
    """This machine shows no USB bus at all (a container without /sys/bus/usb): waiting for
    a USB device cannot succeed, so it is not attempted (exit 3)."""

    code = "no-usb-bus"
    default_hint = (
        "run qdlpy where the device is plugged in, pass the host's USB into the container "
        "(-v /sys/bus/usb -v /dev/bus/usb), or use --transport tcp:HOST:PORT / serial: / "
        "chardev:; `qdlpy doctor` explains"
    )


class PermissionDenied(QdlpyError, PermissionError):
    """The OS refused access to the device node (exit 4)."""

    exit_code = 4
    code = "permission-denied"
    default_hint = UDEV_HINT


class DeviceBusy(QdlpyError):
    """Another program or a kernel driver holds the device (exit 5)."""

    exit_code = 5
    code = "device-busy"
    default_hint = (
        "another tool (qdl, edl, QPST, ModemManager) may hold it: close it, or find it with "
        "`fuser -v /dev/bus/usb/BBB/DDD`"
    )


class TransportError(QdlpyError):
    """I/O failed between host and device (exit 7)."""

    exit_code = 7
    code = "transport-error"
    default_hint = "check the cable/hub and run the same command with --resume"


class TransferTimeout(TransportError, TimeoutError):
    """The device did not answer in time."""

    code = "transfer-timeout"


class Disconnected(TransportError, ConnectionError):
    """The device went away (unplugged, reset, re-enumerating)."""

    code = "disconnected"


class PartialDump(QdlpyError):
    """Some regions failed; every completed region is saved (exit 8)."""

    exit_code = 8
    code = "partial-dump"
    default_hint = "see manifest.json for the failed regions; completed regions are kept"


class OutputError(QdlpyError):
    """Cannot write the output (exit 9)."""

    exit_code = 9
    code = "output-error"
    default_hint = "choose another --output directory"


class OutputExists(OutputError):
    """The output directory is not empty."""

    code = "output-exists"
    default_hint = ("choose another -o DIR; --force pulls into a non-empty folder that holds no "
                    "qdlpy pull (nothing there is replaced); --resume continues a pull")


class DifferentDevice(OutputExists):
    """--resume reached a device that is not the one the folder was pulled from."""

    code = "different-device"
    default_hint = ("pull this device into a new -o DIR; the files here are kept (connect the "
                    "device the folder came from to continue it)")


class FolderLocked(OutputError):
    """Another pull is writing to the output folder (it holds DIR/.qdlpy.lock)."""

    code = "folder-locked"
    default_hint = ("wait for the other pull to end (or stop it: Ctrl-C keeps what it saved), "
                    "then continue with --resume; or pull into another -o DIR")


class FolderRemoved(OutputError):
    """The output folder was deleted, moved or replaced while a pull wrote to it."""

    code = "output-removed"
    default_hint = ("the device still holds the dump: pull again into a folder nothing else "
                    "removes (a moved folder can be continued there with --resume)")


class NoSpace(OutputError):
    """Not enough free disk space for the selected regions."""

    code = "no-space"
    default_hint = "free some space or choose -o on a larger disk, then re-run with --resume"


class InputError(QdlpyError):
    """A dump folder, region file or ELF that cannot be used (exit 10)."""

    exit_code = 10
    code = "bad-input"
    default_hint = "run `qdlpy inspect` on it to see what is there"


class EncryptedDump(InputError):
    """The minidump's regions are ciphertext or zeroed by a secure device's firmware."""

    code = "encrypted-minidump"
    default_hint = (
        "decrypt with the OEM's tools, or dump from a device that does not require "
        "minidump encryption; the raw region files are kept"
    )


class Interrupted(QdlpyError):
    """Ctrl-C (SIGINT), or the caller's interrupt event; state was saved first (exit 130).

    Its subclasses are the other signals that end a pull the same way, each exiting with
    128 + the signal's number as a shell reports it."""

    exit_code = 130
    code = "interrupted"
    default_hint = "run the same command with --resume to continue"


class Terminated(Interrupted):
    """SIGTERM (a job timeout, ``kill``, a service stop); state was saved first (exit 143)."""

    exit_code = 143
    code = "terminated"


class HungUp(Interrupted):
    """SIGHUP (the terminal or SSH session closed); state was saved first (exit 129)."""

    exit_code = 129
    code = "hangup"


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error, or no usable USB backend",
    2: "usage error or ambiguous device selection",
    3: "no matching device before --timeout",
    4: "permission denied",
    5: "device busy",
    6: "protocol error (NAK, unexpected packet, wrong mode, no HELLO)",
    7: "transfer error or timeout (disconnect, I/O)",
    8: "partial dump",
    9: "output error (directory not empty, no space, write failure)",
    10: "input error (unusable dump folder or ELF)",
    129: "hung up (SIGHUP)",
    130: "interrupted (Ctrl-C, SIGINT)",
    143: "terminated (SIGTERM)",
}
