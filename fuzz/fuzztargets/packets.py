"""The Sahara packet parser: arbitrary bytes as one command packet.

Besides "QdlpyError or a packet", a packet that parses must serialise to bytes that parse
back to the same bytes (build is the inverse of parse once normalised).
"""

from __future__ import annotations

from qdlpy.errors import QdlpyError
from qdlpy.protocols.constants import Cmd
from qdlpy.protocols.packets import (
    PACKET_SIZES,
    build_packet,
    packet_length,
    parse_packet,
)

NAME = "packets"


def seeds() -> list[bytes]:
    out = []
    for cmd, size in PACKET_SIZES.items():
        head = int(cmd).to_bytes(4, "little") + size.to_bytes(4, "little")
        out.append(head + bytes(range(size - 8)))
    hello_v1 = int(Cmd.HELLO).to_bytes(4, "little") + (20).to_bytes(4, "little")
    out.append(hello_v1 + (1).to_bytes(4, "little") * 3)
    return out


def one_input(data: bytes) -> None:
    try:
        packet_length(data[:8])
    except QdlpyError:
        pass
    packet = parse_packet(data)  # QdlpyError (MalformedPacket) is the allowed answer
    first = build_packet(packet)
    again = build_packet(parse_packet(first))
    assert again == first, (packet, first.hex(), again.hex())
