"""Run the ``qdlpy`` command and SIGKILL it at a chosen file-system call (tests and bench).

    python kill_at.py PLAN COUNTS [--checkpoint BYTES] -- pull -t sim:... -o DIR ...

PLAN is ``FUNC:N:WHEN[:MATCH]``: the process kills itself (SIGKILL, nothing runs after it)
``before`` or ``after`` the Nth call of ``os.FUNC`` whose arguments mention MATCH (any call
without MATCH). FUNC is one of the calls every write path of a pull goes through: ``write``
(region chunks, whole-file writes), ``fsync``, ``replace`` (a finished NAME.part, the
manifest and every other whole-file rewrite) and ``ftruncate``. PLAN ``count`` kills nothing
and writes the number of calls of each FUNC (as JSON) to COUNTS when the process ends.

``--checkpoint`` makes a region in progress counted in the manifest every BYTES (instead of
every 2 s), so small test dumps have kill points around those rewrites too.

A SIGKILL ends a process between two system calls, so killing it at each of these calls
covers every state a killed pull can leave on disk (a power loss is another matter:
fsync orders that).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

FUNCS = ("write", "fsync", "replace", "ftruncate")


def _mentions(args: tuple[Any, ...], match: str) -> bool:
    """Whether a call's arguments name ``match`` (a file name or an fd open on it)."""
    for arg in args:
        if isinstance(arg, (str, os.PathLike)) and match in os.fspath(arg):
            return True
        if isinstance(arg, int) and not isinstance(arg, bool):
            try:
                if match in os.readlink(f"/proc/self/fd/{arg}"):
                    return True
            except OSError:
                pass
    return False


def _install(plan: str, counts_file: str) -> None:
    counts = dict.fromkeys(FUNCS, 0)
    target = plan.split(":") if plan != "count" else []
    if target:
        func, nth, when = target[0], int(target[1]), target[2]
        match = target[3] if len(target) > 3 else ""
        assert func in FUNCS and when in ("before", "after"), plan

    def wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            hit = False
            if target and name == func and (not match or _mentions(args, match)):
                counts[name] += 1
                hit = counts[name] == nth
            elif not target:
                counts[name] += 1
            if hit and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(*args, **kwargs)
            if hit:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return hooked

    for name in FUNCS:
        setattr(os, name, wrap(name, getattr(os, name)))
    if not target:
        def save() -> None:
            with open(counts_file, "w", encoding="utf-8") as f:
                json.dump(counts, f)
        atexit.register(save)


def main() -> None:
    plan, counts_file, *rest = sys.argv[1:]
    if rest[0] == "--checkpoint":
        from qdlpy.dump import loop

        loop.CHECKPOINT_BYTES = int(rest[1])
        rest = rest[2:]
    assert rest[0] == "--", "usage: kill_at.py PLAN COUNTS [--checkpoint BYTES] -- ARGS..."
    argv = rest[1:]
    _install(plan, counts_file)
    from qdlpy.cli.main import main as qdlpy_main

    sys.exit(qdlpy_main(argv))  # atexit handlers (the counts) run on the way out


if __name__ == "__main__":
    main()
