"""Shared CLI plumbing: the per-invocation state, JSON documents and the stderr console.

Rules (docs/design.md#output-streams): data goes to stdout, everything else (logs, progress, errors)
to stderr; under ``--json`` stdout carries exactly one JSON document, also on failure.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from qdlpy._version import __version__
from qdlpy.errors import QdlpyError

if TYPE_CHECKING:
    from rich.console import Console


@dataclasses.dataclass
class CliState:
    """Per-invocation state stored in ``click.Context.obj``."""

    verbosity: int = 0  # -v count minus -q count
    log_file: str | None = None  # --log-file, kept to re-apply logging after a late -v/-q
    json_schema: str | None = None  # set by a command running with --json
    json_emitted: bool = False
    _console: Console | None = dataclasses.field(default=None, repr=False)

    @property
    def json_mode(self) -> bool:
        return self.json_schema is not None

    @property
    def console(self) -> Console:
        """rich's console on stderr, made on first use (rich costs start-up time)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    @property
    def stderr_is_terminal(self) -> bool:
        """What rich would decide, without importing rich for it."""
        if self._console is not None:
            return self._console.is_terminal
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False


def state() -> CliState:
    """The CliState of the running command."""
    ctx = click.get_current_context()
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def start_json(schema: str | None) -> None:
    """Declare that this command answers with one JSON document of ``schema`` (or not)."""
    state().json_schema = schema


def document(schema: str, body: dict[str, Any]) -> dict[str, Any]:
    """Wrap a command's result in the versioned envelope every --json output shares."""
    return {"schema": schema, "qdlpy_version": __version__, **body}


def emit_json(doc: dict[str, Any], st: CliState | None = None) -> None:
    """Print the command's one JSON document on stdout."""
    st = st or state()
    if st.json_emitted:
        raise RuntimeError("a command tried to print a second JSON document")
    st.json_emitted = True
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def error_document(
    schema: str, err: QdlpyError, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", **(extra or {}), "error": err.to_dict()}
    return document(schema, body)
