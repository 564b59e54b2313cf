"""The triage readers: one function per reader, each taking the raw bytes it parses
(``qdlpy.triage.fuzz``: an ELF core, a lockless printk ring, a log_buf, a vendor log_buf).

>>> A new reader is added here as ``"module:function"``: the harness imports it and feeds
>>> it the case's bytes; a reader must return or raise QdlpyError. <<<
While the list is empty the target reports itself as having no readers and runs no case.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fuzzcase import Input

NAME = "triage"

READERS: tuple[str, ...] = (
    "qdlpy.triage.fuzz:fuzz_elf_core",
    "qdlpy.triage.fuzz:fuzz_lockless_ring",
    "qdlpy.triage.fuzz:fuzz_log_buf",
    "qdlpy.triage.fuzz:fuzz_vendor_log_buf",
)


def _load() -> list[Callable[[bytes], object]]:
    out = []
    for spec in READERS:
        module, func = spec.split(":")
        out.append(getattr(importlib.import_module(module), func))
    return out


_FUNCS = _load()


def available() -> bool:
    return bool(_FUNCS)


def seeds() -> list[bytes]:
    """The first byte picks the reader; the kernel ELFs fuzz/fuzztemplates.py assembles are
    seeds of the ELF-core reader."""
    from fuzztemplates import elfs

    out = [b"\x00", b"\x01" + bytes(17) + bytes(range(256)) * 8, b"\x02" + bytes(8) + b"x" * 64,
           b"\x03" + b"\x10\x00" * 32]
    out += [b"\x00" + p.read_bytes()[:8192] for p in elfs() if p.name == "minidump.elf"]
    return out


def one_input(data: bytes) -> None:
    if not _FUNCS:
        return
    case = Input(data)
    reader = case.choice(_FUNCS)
    reader(case.rest())
