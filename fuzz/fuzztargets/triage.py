"""The triage readers: one function per reader, each taking the raw bytes it parses.

>>> Add each reader here as ``"module:function"``: the harness imports it and feeds it the
>>> case's bytes; a reader must return or raise QdlpyError. <<<
While the list is empty the target reports itself as having no readers and runs no case.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fuzzcase import Input

NAME = "triage"

READERS: tuple[str, ...] = ()


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
    return [b"\x00", b"\x01" + b"OSRELEASE=6.1.0\n"]


def one_input(data: bytes) -> None:
    if not _FUNCS:
        return
    case = Input(data)
    reader = case.choice(_FUNCS)
    reader(case.rest())
