"""Targets that break the rules on purpose, so the runner's checks can be seen to work
(tests/test_fuzz.py runs them; ``fuzz/run.py`` runs them only when named)."""

from __future__ import annotations

import time

NAME = "canary"


def seeds() -> list[bytes]:
    return [b"quiet"]


def escape(data: bytes) -> None:
    raise ValueError(f"an exception that is not a QdlpyError ({data[:8]!r})")


def hang(data: bytes) -> None:
    while True:
        time.sleep(0.01)


def memory(data: bytes) -> None:
    hog = []
    while True:
        hog.append(bytearray(64 * 1024 * 1024))
