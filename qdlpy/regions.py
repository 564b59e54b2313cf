"""``qdlpy.regions``: read a crash-dump device's region table and leave it waiting.

No RESET and no SWITCH_MODE at the end: the device stays in WAIT_MEMORY_READ, and the
next host run (``qdlpy pull``) re-provokes HELLO with SWITCH_MODE(2) and finds the dump
intact (docs/protocol.md#the-device-state-machine, docs/protocol.md#re-provoking-a-lost-hello).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from qdlpy.session import DumpTable, open_session
from qdlpy.transport.base import DeviceIdentity, Transport


@dataclasses.dataclass
class RegionsResult:
    identity: DeviceIdentity
    table: DumpTable
    reprovoked: int

    def to_dict(self) -> dict[str, Any]:
        t = self.table
        return {
            "device": {**self.identity.to_dict(), "sahara_version": t.hello.version,
                       "mode": t.hello.mode},
            "table": {"address": f"0x{t.address:x}", "length": len(t.raw), "is64": t.is64,
                      "entries": len(t.regions)},
            "regions": [r.to_dict() for r in t.regions],
            "total_bytes": sum(r.length for r in t.regions),
            "hello_reprovoked": self.reprovoked,
        }


def read_regions(transport: str | Transport | None = None, *, serial: str | None = None,
                 usb_path: str | None = None, timeout: float = 60.0,
                 hello_timeout: float = 1.0) -> RegionsResult:
    """Handshake in memory-debug mode, read the table, release the device untouched."""
    with open_session(transport, serial=serial, usb_path=usb_path, timeout=timeout,
                      hello_timeout=hello_timeout) as client:
        table = client.open_memory_debug()
        return RegionsResult(client.transport.identity(), table, client.reprovoked)
