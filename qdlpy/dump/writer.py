"""Streaming a region to disk: NAME.part, incremental sha256, fsync, rename.

Memory stays flat: every chunk goes straight from the session's read buffer to the file
and the hash. A resumed region first re-hashes the bytes already in NAME.part.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from qdlpy.atomic_write import fsync_dir, output_error

# Start writeback every this many bytes so the final fsync does not wait for a whole
# multi-GiB region at once (and the page cache does not fill with dirty data first).
WRITEBACK_EVERY = 32 * 1024 * 1024


class RegionWriter:
    """Writes one region file; ``done`` bytes are durable once ``sync()`` returned."""

    def __init__(self, folder: Path, filename: str, *, resume_from: int = 0,
                 resume_hash: Any = None) -> None:
        """``resume_from`` bytes of NAME.part are kept; ``resume_hash`` is their sha256
        state if the caller already hashed them (else they are read and hashed here)."""
        self.final = folder / filename
        self.part = folder / (filename + ".part")
        self.sha = hashlib.sha256()
        self.done = 0
        self._flushed = 0
        try:
            if resume_from:
                if resume_hash is not None:
                    self.sha, self.done = resume_hash.copy(), resume_from
                else:
                    self.sha, self.done = hash_prefix(self.part, resume_from)
                self.f = open(self.part, "r+b", buffering=0)  # noqa: SIM115 - closed in close()
                self.f.truncate(self.done)
                self.f.seek(self.done)
                self._flushed = self.done
            else:
                self.f = open(self.part, "wb", buffering=0)  # noqa: SIM115
        except OSError as exc:
            raise output_error(exc, self.part) from exc

    def write(self, data: memoryview) -> None:
        try:
            written = 0
            while written < len(data):
                written += self.f.write(data[written:]) or 0
        except OSError as exc:
            # Keep only whole chunks: the manifest's byte count must match the file.
            try:
                self.f.truncate(self.done)
            except OSError:
                pass
            raise output_error(exc, self.part) from exc
        self.sha.update(data)
        self.done += len(data)
        if self.done - self._flushed >= WRITEBACK_EVERY:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Ask the kernel to write what we have so far, without waiting for it.

        POSIX_FADV_DONTNEED on Linux starts asynchronous writeback of dirty pages in the
        range (and drops clean ones), so the disk works while the device keeps sending.
        """
        advise = getattr(os, "posix_fadvise", None)
        if advise is not None:
            try:
                advise(self.f.fileno(), self._flushed, self.done - self._flushed,
                       os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        self._flushed = self.done

    def sync(self) -> None:
        try:
            os.fsync(self.f.fileno())
        except OSError as exc:
            raise output_error(exc, self.part) from exc

    def hexdigest(self) -> str:
        return self.sha.hexdigest()

    def finish(self) -> str:
        """fsync, close, rename NAME.part -> NAME; return the sha256."""
        self.sync()
        self.f.close()
        try:
            os.replace(self.part, self.final)
        except OSError as exc:
            raise output_error(exc, self.final) from exc
        fsync_dir(self.final.parent)
        return self.hexdigest()

    def close(self) -> None:
        """Keep NAME.part (partial data) durable and closed (a no-op once closed)."""
        if self.f.closed:
            return
        try:
            os.fsync(self.f.fileno())
        except OSError:
            pass
        self.f.close()


def hash_prefix(path: Path, limit: int | None = None) -> tuple[Any, int]:
    """sha256 state of the first ``limit`` bytes of ``path`` (all of it for None), and
    how many bytes there were."""
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while limit is None or done < limit:
            block = f.read(1 << 20 if limit is None else min(1 << 20, limit - done))
            if not block:
                break
            h.update(block)
            done += len(block)
    return h, done


def file_sha256(path: Path) -> str:
    return str(hash_prefix(path)[0].hexdigest())

