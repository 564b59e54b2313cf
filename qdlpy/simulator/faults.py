"""Fault knobs of the simulated device, usable from tests and the command line.

Given as URI query parameters (``sim:kmemdump?lose_hello=1&fragment=7``) or as
``qdlpy simulate --fault KEY=VALUE``. Each knob models a failure seen in the field
(docs/protocol.md, docs/testing.md#fault-knobs).
"""

from __future__ import annotations

import dataclasses

from qdlpy.errors import InvalidArgument
from qdlpy.units import parse_size


@dataclasses.dataclass
class Faults:
    """The knobs. Defaults are a healthy device."""

    #: Split every device->host transfer into pieces of this many bytes (fragmented writes).
    fragment: int = 0
    #: Drop this many HELLOs (a HELLO eaten by a driver, or sent before the host listened).
    lose_hello: int = 0
    #: A read covering this address gets END_OF_IMAGE_TX 0x19; then only RESET is accepted.
    eoi_at: int | None = None
    #: After this many bytes of memory data the device drops off the bus once and comes back
    #: with a fresh Sahara session (dump intact).
    disconnect_after: int | None = None
    #: After this many bytes of memory data, the rest of that one response is lost (the
    #: host times out once and must retry).
    stall_after: int | None = None
    #: Reads covering this address are never answered (a region the device hangs on).
    dead_at: int | None = None
    #: USB IN wMaxPacketSize (512 high speed, 1024 super speed): decides where ZLPs go.
    max_packet: int = 512
    #: Regions (by file name or address) served through a 4 KiB bounce buffer.
    restricted: tuple[str, ...] = ()

    KEYS = ("fragment", "lose_hello", "eoi_at", "disconnect_after", "stall_after",
            "dead_at", "max_packet", "restricted")

    @classmethod
    def from_knobs(cls, knobs: dict[str, str]) -> Faults:
        f = cls()
        for key, value in knobs.items():
            if key in ("fragment", "lose_hello", "max_packet", "eoi_at", "disconnect_after",
                       "stall_after", "dead_at"):
                setattr(f, key, parse_size(value))
            elif key == "restricted":
                f.restricted = tuple(v for v in value.split(",") if v)
            else:
                raise InvalidArgument(f"unknown simulator fault knob {key!r}; known: "
                                      + ", ".join(cls.KEYS))
        if f.max_packet not in (8, 16, 32, 64, 512, 1024):
            raise InvalidArgument(f"max_packet must be 64, 512 or 1024, not {f.max_packet}")
        return f
