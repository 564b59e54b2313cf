"""The repair policy of one assemble run: warn and repair by default, refuse under --strict."""

from __future__ import annotations

from qdlpy.errors import InputError

__all__ = ["Policy"]


class Policy:
    """Collects warnings; under ``--strict`` a repairable problem is refused instead."""

    def __init__(self, strict: bool, warnings: list[str]) -> None:
        self.strict = strict
        self.warnings = warnings

    def repairable(self, message: str, *, strict_hint: str | None = None) -> None:
        """A problem qdlpy repairs (zero-fill, pad, truncate) and reports."""
        if self.strict:
            raise InputError(f"--strict: {message}",
                             hint=strict_hint or "run without --strict to let qdlpy repair it "
                             "(zero-fill / pad / truncate, reported)")
        self.warnings.append(message)

    def warn(self, message: str) -> None:
        """Something odd that needs no repair: reported only, --strict accepts it."""
        self.warnings.append(message)
