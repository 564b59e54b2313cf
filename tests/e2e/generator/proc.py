"""Running external commands: always with a timeout, failures name the step and the command."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import GeneratorError

__all__ = ["run", "describe"]

log = logging.getLogger("qdlpy.e2e")

_TAIL = 2000  # characters of stderr/stdout quoted in an error message


def describe(argv: Sequence[str | os.PathLike[str]]) -> str:
    return shlex.join(str(a) for a in argv)


def run(
    step: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; raise GeneratorError(step) on a missing binary, a timeout or (with
    ``check``) a non-zero exit. Output is captured as text (undecodable bytes replaced)."""
    cmd = describe(argv)
    log.debug("[%s] $ %s", step, cmd)
    try:
        proc = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input_text,
            stdin=subprocess.DEVNULL if input_text is None else None,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as e:
        raise GeneratorError(step, f"`{argv[0]}` not found: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise GeneratorError(step, f"`{cmd}` timed out after {timeout:.0f} s") from e
    if check and proc.returncode != 0:
        raise GeneratorError(
            step,
            f"`{cmd}` exited {proc.returncode}: "
            f"{(proc.stderr or proc.stdout)[-_TAIL:].strip()}",
        )
    return proc
