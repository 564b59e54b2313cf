"""A stand-in for ``ssh`` that runs the remote command on this machine (no sshd needed).

The labgrid tests install it as ``ssh`` first on PATH. It understands what labgrid's ssh
manager sends: ``-O check|cancel|exit`` control commands (answered as if a master
connection were up), the ``cat`` keepalive, and ``HOST -- WORDS...``, which real ssh joins
with spaces and hands to the remote shell, so ``sh -c`` runs them here the same way. Every
call is appended to ``$STANDIN_SSH_LOG``; ``STANDIN_SSH_ENV`` (JSON) adds variables to the
"remote" environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: ssh options that take a value (``-o X`` or ``-oX``).
WITH_VALUE = set("BbcDEeFIiJLlmOoPpQRSWw")


def split(args: list[str]) -> tuple[str | None, str, list[str]]:
    """(control command, host, remote words)."""
    control = None
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        letters = args[i][1:]
        for j, letter in enumerate(letters):
            if letter in WITH_VALUE:
                value = letters[j + 1:]
                if not value:
                    i += 1
                    value = args[i]
                if letter == "O":
                    control = value
                break
        i += 1
    host = args[i]
    words = args[i + 1:]
    if words[:1] == ["--"]:
        words = words[1:]
    return control, host, words


def main() -> int:
    log = os.environ.get("STANDIN_SSH_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(sys.argv[1:]) + "\n")
    control, _host, words = split(sys.argv[1:])
    if control is not None or not words:
        return 0  # -O check/cancel/exit, or a master connection (-N): "it is up"
    env = dict(os.environ)
    env.update(json.loads(os.environ.get("STANDIN_SSH_ENV", "{}")))
    return subprocess.call(["sh", "-c", " ".join(words)], env=env)


if __name__ == "__main__":
    sys.exit(main())
