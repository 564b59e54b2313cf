"""Running the ``qdlpy`` command for the driver, here or on an exporter (docs/lab.md#remote).

A remote run goes through the resource's command prefix (labgrid's ssh connection to the
exporter), the way labgrid's own drivers run their tools there: the pull writes into a
temporary folder on the exporter, which is then streamed back with ``tar`` over the same
prefix and removed. Nothing but ``sh``, ``mktemp``, ``tar``, ``rm`` and ``qdlpy`` is needed
on the exporter.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

from labgrid.driver.exception import ExecutionError

from qdlpy.errors import OutputError

Wrap = Callable[[list[str]], list[str]]


class ToolRunner:
    """``qdlpy`` (the environment's ``tools: qdlpy:``) run through ``wrap``."""

    def __init__(self, tool: str, wrap: Wrap | None, logger: logging.Logger) -> None:
        self.tool = tool
        self.wrap: Wrap = wrap or (lambda command: command)
        self.remote = wrap is not None
        self.logger = logger

    def _command(self, words: Sequence[str]) -> list[str]:
        return self.wrap(list(words))

    def json(self, args: Sequence[str]) -> tuple[int, dict[str, Any]]:
        """Run ``qdlpy ARGS --json``; (exit code, its JSON document)."""
        command = self._command([self.tool, *args, "--json"])
        self.logger.debug("running %s", command)
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", check=False)
        for line in proc.stderr.splitlines():
            self.logger.info("%s", line)
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ExecutionError(f"{' '.join(command)} exited with {proc.returncode} and no "
                                 "JSON document (is qdlpy installed there? see tools: qdlpy:)",
                                 stdout=proc.stdout.splitlines(),
                                 stderr=proc.stderr.splitlines())
        return proc.returncode, doc

    def _check(self, words: Sequence[str]) -> str:
        command = self._command(words)
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise ExecutionError(f"{' '.join(command)} failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}", stderr=proc.stderr.splitlines())
        return proc.stdout.strip()

    def make_temp_dir(self) -> str:
        """A new folder on the exporter for one pull."""
        return self._check(["mktemp", "-d", "-t", "qdlpy-labgrid.XXXXXXXX"])

    def remove(self, path: str) -> None:
        try:
            self._check(["rm", "-rf", "--", path])
        except ExecutionError as exc:
            self.logger.warning("could not remove %s on the exporter: %s", path, exc)

    def fetch(self, remote: str, local: Path) -> None:
        """Copy the remote folder's contents into ``local`` (created; must not hold files)."""
        command = self._command(["tar", "-C", remote, "-cf", "-", "."])
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            with proc.stdout:
                extract(proc.stdout, local)
        finally:
            err = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            code = proc.wait()
        if code != 0:
            raise ExecutionError(f"copying {remote} back failed ({code}): {err.strip()}")


def _safe_name(name: str) -> PurePosixPath | None:
    """A member path inside the folder, or None for the folder itself; hostile names fail."""
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts:
        raise OutputError(f"refusing to copy {name!r}: it points outside the dump folder")
    return PurePosixPath(*parts) if parts else None


def extract(stream: IO[bytes], dest: Path) -> None:
    """Unpack a tar stream of plain files and folders into ``dest`` (nothing else is taken)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            rel = _safe_name(member.name)
            if rel is None:
                continue
            target = dest.joinpath(*rel.parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                with source, open(target, "xb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
            else:
                raise OutputError(f"refusing to copy {member.name!r}: not a plain file")
