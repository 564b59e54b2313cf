"""Errors of the real-kernel generator: every failure names the step it happened in.

They subclass qdlpy's root error so the house rule "every error is a QdlpyError" holds
for test tooling too. ``MissingTool`` is separate because the test tier turns it into a
skip on a developer machine (with the command that would enable the tier) and into a
failure in CI.
"""

from __future__ import annotations

from qdlpy.errors import QdlpyError

__all__ = ["GeneratorError", "MissingTool"]


class GeneratorError(QdlpyError):
    """A generator step failed; the message starts with ``[step]``."""

    code = "e2e-generator"
    default_hint = "run `python tests/e2e/generator -v` to see every command and its output"

    def __init__(self, step: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"[{step}] {message}", hint=hint)
        self.step = step


class MissingTool(GeneratorError):
    """A package or tool is missing and this process cannot install it."""

    code = "e2e-missing-tool"

    def __init__(self, step: str, message: str, *, enable_command: str) -> None:
        super().__init__(step, message, hint=f"enable the real-kernel tier with: {enable_command}")
        self.enable_command = enable_command
