"""Byte pipes to Sahara devices, chosen by URI, and waiting for a device to appear.

URIs (docs/design.md "Transport URIs"): ``usb`` (default; ``?serial=``, ``?path=``,
``?device=VID:PID``), ``serial:/dev/ttyUSB0[?baud=N]``, ``chardev:/dev/mhi0_SAHARA``,
``tcp:HOST:PORT``, ``sim:SCENARIO[?knob=value&...]``.

Transport classes are imported lazily by scheme, so ``qdlpy --help`` or a tcp run never
loads pyusb.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from qdlpy.errors import (
    DeviceBusy,
    DeviceNotFound,
    InvalidArgument,
    NoUsbBus,
    PermissionDenied,
    QdlpyError,
)

from .base import DeviceIdentity, Transport

__all__ = [
    "Transport",
    "DeviceIdentity",
    "SCHEMES",
    "parse_uri",
    "make_transport",
    "connect",
]

#: scheme -> "module:Class" under qdlpy.transport (imported on first use).
SCHEMES: dict[str, str] = {
    "usb": "usb:UsbTransport",
    "serial": "serial:SerialTransport",
    "chardev": "chardev:ChardevTransport",
    "tcp": "tcp:TcpTransport",
    "sim": "sim:SimTransport",
}

#: How long a device that is visible but refuses us (EACCES, EBUSY) keeps being retried
#: while waiting: udev applies permissions and ModemManager lets go shortly after a
#: device appears; after that the error is real and is raised.
REFUSAL_GRACE_S = 3.0
#: Even when the bus looks unchanged, rescan this often (belt and braces).
RESCAN_EVERY_S = 2.0
#: How often a waiting connect() looks at the bus (a sysfs read when nothing changed).
POLL_S = 0.25

log = logging.getLogger("qdlpy.transport")


def parse_uri(uri: str) -> tuple[str, str, dict[str, str]]:
    """``"sim:kmemdump?lose_hello=1"`` -> ``("sim", "kmemdump", {"lose_hello": "1"})``."""
    text = uri.strip()
    if not text:
        raise InvalidArgument("empty transport URI", hint="e.g. usb, tcp:127.0.0.1:5555")
    head, _, query = text.partition("?")
    scheme, _, rest = head.partition(":")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidArgument(
            f"unknown transport {scheme!r} in {uri!r}; known: {', '.join(SCHEMES)}",
            hint="e.g. usb, serial:/dev/ttyUSB0, chardev:/dev/mhi0_SAHARA, tcp:HOST:PORT, "
            "sim:kmemdump",
        )
    try:
        knobs = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise InvalidArgument(f"cannot parse the options {query!r} in {uri!r}") from None
    return scheme, rest, knobs


def _transport_class(scheme: str) -> type[Transport]:
    module, _, name = SCHEMES[scheme].partition(":")
    cls: type[Transport] = getattr(importlib.import_module(f"qdlpy.transport.{module}"), name)
    return cls


def make_transport(
    uri: str | None = None, *, serial: str | None = None, usb_path: str | None = None
) -> Transport:
    """Build (not open) the transport for ``uri`` (default ``usb``)."""
    text = uri or "usb"
    scheme, rest, knobs = parse_uri(text)
    if scheme != "usb" and (serial is not None or usb_path is not None):
        raise InvalidArgument(
            f"--serial/--usb-path select USB devices; they do not apply to {scheme}:"
        )
    cls = _transport_class(scheme)
    if scheme == "usb":
        from .usb import UsbTransport

        return UsbTransport.from_uri(rest, knobs, serial=serial, usb_path=usb_path)
    from_uri = getattr(cls, "from_uri", None)
    if from_uri is not None:
        made: Transport = from_uri(rest, knobs)
        return made
    # sim: the scenario spec is everything after "sim:", options included.
    return cls(text.strip().partition(":")[2])  # type: ignore[call-arg]


def connect(
    uri: str | Transport | None = None,
    *,
    serial: str | None = None,
    usb_path: str | None = None,
    timeout: float = 60.0,
) -> Transport:
    """Wait for the device and open it.

    ``timeout`` 0 waits forever (docs/design.md#waiting-for-a-device: finite default, 0 for
    people waiting on a crash). What is seen is logged (``qdlpy.transport``, INFO) each time
    it changes ("Waiting for ...", "2 Qualcomm devices visible, none matches serial X"),
    never once per poll. Raises ``DeviceNotFound`` (exit 3) saying what is seen,
    ``AmbiguousDevice`` (exit 2) listing the candidates, or the open's own
    ``PermissionDenied``/``DeviceBusy`` once they outlast a short grace period.
    """
    if timeout < 0:
        raise InvalidArgument("--timeout must be 0 (wait forever) or a positive number")
    transport = uri if isinstance(uri, Transport) else \
        make_transport(uri, serial=serial, usb_path=usb_path)
    label = uri.identity().transport if isinstance(uri, Transport) else uri
    waiter = _Waiter(transport, label, serial, usb_path)
    deadline = None if timeout == 0 else time.monotonic() + timeout
    while True:
        now = time.monotonic()
        if waiter.worth_trying(now) and waiter.attempt(now):
            return transport
        if deadline is not None and now >= deadline:
            raise waiter.gave_up(timeout)
        time.sleep(POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - now)))


class _Waiter:
    """connect()'s state while it waits: when to rescan, what to say, a refusal in progress."""

    def __init__(self, transport: Transport, uri: str | None, serial: str | None,
                 usb_path: str | None) -> None:
        self.transport, self.uri, self.serial, self.usb_path = transport, uri, serial, usb_path
        self.bus_changed: Callable[[], bool] | None = getattr(transport, "bus_changed", None)
        self.last_message = ""
        self.last_scan = -1e9
        self.refused_since: float | None = None
        self.refusal: PermissionDenied | DeviceBusy | None = None

    def worth_trying(self, now: float) -> bool:
        return (self.bus_changed is None or self.refused_since is not None
                or now - self.last_scan >= RESCAN_EVERY_S or bool(self.bus_changed()))

    def attempt(self, now: float) -> bool:
        """Try to open the device once: True when it is open."""
        self.last_scan = now
        try:
            self.transport.open()
            return True
        except NoUsbBus:
            raise  # no USB at all: waiting cannot help
        except DeviceNotFound as exc:
            self.refused_since, self.refusal = None, None
            self._tell(_waiting_line(exc, self.uri, self.serial, self.usb_path))
        except (PermissionDenied, DeviceBusy) as exc:
            # A device that just appeared: udev may not have applied the rule yet,
            # or ModemManager is probing it. Retry briefly, then report.
            if self.refused_since is None:
                self.refused_since = now
            self.refusal = exc
            if now - self.refused_since >= REFUSAL_GRACE_S:
                raise
            self._tell(f"{exc} (retrying)")
        return False

    def gave_up(self, timeout: float) -> QdlpyError:
        """The error to raise when the time is up."""
        if self.refusal is not None:
            return self.refusal  # the device is there: exit 4/5 says more than "not found"
        first, nl, rest = self.last_message.partition("\n")
        colon = ":" if first.endswith(":") else ""
        first = first.removesuffix(":")
        return DeviceNotFound(f"{first} (waited {timeout:g} s){colon}{nl}{rest}")

    def _tell(self, message: str) -> None:
        if message != self.last_message:
            self.last_message = message
            log.info("%s", message)


def _waiting_line(
    exc: DeviceNotFound, uri: str | None, serial: str | None, usb_path: str | None
) -> str:
    """'Waiting for ...' for the first, empty state; the transport's own words otherwise."""
    text = str(exc)
    if exc.nothing_visible:
        wanted = [f"serial {serial}" if serial else "", f"USB path {usb_path}" if usb_path else ""]
        which = " and ".join(w for w in wanted if w)
        return "Waiting for a Qualcomm Sahara USB device" + (f" with {which}" if which else "")
    if uri and not text.lower().startswith("waiting"):
        return f"Waiting for {uri}: {text}"
    return text
