"""Where ``qdlpy watch`` puts each pull: ``ROOT/<device>/<UTC time>/`` (docs/lab.md#folders).

``<device>`` is the serial, else the USB path, else the relay's host-port; one folder per
pull, holding exactly what ``qdlpy pull -o`` writes. What is already under a device's folder
tells what to do when the device is seen after a restart of the watch: an unfinished pull
is continued in its folder; a complete one that left the device waiting (``--after none``)
is not pulled twice.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from qdlpy.errors import QdlpyError
from qdlpy.formats import manifest as mf

log = logging.getLogger("qdlpy.watch")

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def folder_key(text: str) -> str:
    """A device name made safe as one folder name (``127.0.0.1:5555`` -> ``127.0.0.1-5555``)."""
    safe = "".join(c if c in _SAFE else "-" if c == ":" else "_" for c in text.strip())
    safe = safe.lstrip(".")
    return safe[:120] or "device"


def new_dump_dir(root: Path, key: str, taken: set[Path]) -> Path:
    """``ROOT/KEY/<UTC time>``, with ``-2``, ``-3``... when that name is already used."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = root / key / stamp
    candidate, n = base, 1
    while candidate in taken or candidate.exists():
        n += 1
        candidate = base.with_name(f"{stamp}-{n}")
    return candidate


@dataclasses.dataclass(frozen=True)
class PastPull:
    """The newest pull folder of a device left by an earlier run."""

    folder: Path
    status: str
    after: str | None

    @property
    def unfinished(self) -> bool:
        return self.status != mf.OK

    @property
    def left_waiting(self) -> bool:
        """Complete, and the device was not reset: it may still offer the same dump."""
        return self.status == mf.OK and self.after != "reset"


def last_pull(root: Path, key: str) -> PastPull | None:
    """The newest folder under ``ROOT/KEY`` that holds a readable manifest, if any."""
    try:
        folders = sorted((p for p in (root / key).iterdir() if p.is_dir()), reverse=True)
    except OSError:
        return None
    for folder in folders:
        if not (folder / mf.NAME).is_file():
            continue
        try:
            manifest = mf.Manifest.load(folder)
        except QdlpyError as exc:
            log.warning("%s: ignoring a folder whose manifest cannot be read (%s)", folder, exc)
            continue
        return PastPull(folder, manifest.status, manifest.after)
    return None


def has_manifest(folder: Path | None) -> bool:
    return folder is not None and (folder / mf.NAME).is_file()
