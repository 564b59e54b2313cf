"""Turn the fuzzer's bytes into decisions, the same way under every engine.

A harness reads its whole case through :class:`Input`, so a case found by atheris replays
byte for byte under the hypothesis engine (and as a regression test) without atheris.
Reads past the end give zeros / empty bytes: every input is a valid case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # annotations only (Python 3.10 has no typing.Self)
    from typing_extensions import Self

__all__ = ["Input", "Script"]

T = TypeVar("T")


class Input:
    """Consumes a fuzz case front to back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer at the end of the case)."""
        n = max(0, n)
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def uint(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "little")

    def int_in(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]`` (both included)."""
        span = hi - lo + 1
        if span <= 1:
            return lo
        nbytes = (span.bit_length() + 7) // 8
        return lo + self.uint(nbytes) % span

    def flag(self) -> bool:
        return bool(self.uint(1) & 1)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.int_in(0, len(options) - 1)]

    def blob(self, limit: int) -> bytes:
        """A length-prefixed byte string of at most ``limit`` bytes."""
        return self.take(self.int_in(0, limit))

    def rest(self) -> bytes:
        return self.take(self.remaining)


class Script:
    """The inverse of :class:`Input`: writes the bytes that make a harness take chosen
    decisions (for seeds that walk a whole protocol flow)."""

    def __init__(self) -> None:
        self.out = bytearray()

    def uint(self, value: int, nbytes: int) -> Self:
        self.out += value.to_bytes(nbytes, "little")
        return self

    def int_in(self, value: int, lo: int, hi: int) -> Self:
        span = hi - lo + 1
        if span > 1:
            self.uint(value - lo, (span.bit_length() + 7) // 8)
        return self

    def flag(self, value: bool) -> Self:
        self.out.append(1 if value else 0)
        return self

    def choice(self, index: int, count: int) -> Self:
        return self.int_in(index, 0, count - 1)

    def raw(self, data: bytes) -> Self:
        self.out += data
        return self

    def blob(self, data: bytes, limit: int) -> Self:
        return self.int_in(len(data), 0, limit).raw(data)

    def done(self) -> bytes:
        return bytes(self.out)
