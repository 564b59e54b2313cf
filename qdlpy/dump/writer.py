"""Streaming a region to disk: NAME.part, incremental sha256, fsync, rename.

Memory stays flat: every chunk goes straight from the session's read buffer to the file
and the hash. A resumed region continues the NAME.part whose first bytes the manifest
vouches for (their hash state is handed in, or computed here). NAME.part is opened through
the pull's folder (:class:`~qdlpy.dump.folder.PullFolder`): never through a link.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from qdlpy.atomic_write import output_error
from qdlpy.errors import FolderRemoved

from .folder import PullFolder

# Start writeback every this many bytes so the final fsync does not wait for a whole
# multi-GiB region at once (and the page cache does not fill with dirty data first).
WRITEBACK_EVERY = 32 * 1024 * 1024
PART_SUFFIX = ".part"


class RegionWriter:
    """Writes one region file; ``done`` bytes are durable once ``sync()`` returned."""

    def __init__(self, folder: PullFolder, filename: str, *, resume_from: int = 0,
                 resume_hash: Any = None) -> None:
        """``resume_from`` bytes of NAME.part are kept; ``resume_hash`` is their sha256
        state if the caller already hashed them (else they are read and hashed here)."""
        self.folder = folder
        self.final = filename
        self.part = filename + PART_SUFFIX
        self.sha = hashlib.sha256()
        self.done = 0
        self._flushed = 0
        self.fd = -1
        if resume_from:
            self.fd = folder.reopen_file(self.part)
            if os.fstat(self.fd).st_size < resume_from:  # replaced since it was checked
                resume_from, resume_hash = 0, None
        if resume_from:
            if resume_hash is not None:
                self.sha, self.done = resume_hash.copy(), resume_from
            else:
                self.sha, self.done = hash_prefix(folder, self.part, resume_from)
        elif self.fd < 0:
            self.fd = folder.create_file(self.part)
        try:
            os.ftruncate(self.fd, self.done)
            os.lseek(self.fd, self.done, os.SEEK_SET)
        except OSError as exc:
            self.close()
            raise output_error(exc, folder.path / self.part) from exc
        self._flushed = self.done

    def write(self, data: memoryview) -> None:
        try:
            written = 0
            while written < len(data):
                written += os.write(self.fd, data[written:])
        except OSError as exc:
            # Keep only whole chunks: the manifest's byte count must match the file.
            try:
                os.ftruncate(self.fd, self.done)
            except OSError:
                pass
            raise output_error(exc, self.folder.path / self.part) from exc
        sha = self.sha.copy()
        sha.update(data)
        # One statement with no call in it: a signal handler that stops the pull at once
        # (qdlpy/dump/stop.py) runs before or after it, never between the hash and the count.
        self.sha, self.done = sha, self.done + len(data)
        if self.done - self._flushed >= WRITEBACK_EVERY:
            self._start_writeback()
        if os.fstat(self.fd).st_nlink == 0:
            raise FolderRemoved(f"{self.folder.path / self.part} was deleted during the pull")

    def _start_writeback(self) -> None:
        """Ask the kernel to write what we have so far, without waiting for it.

        POSIX_FADV_DONTNEED on Linux starts asynchronous writeback of dirty pages in the
        range (and drops clean ones), so the disk works while the device keeps sending.
        """
        advise = getattr(os, "posix_fadvise", None)
        if advise is not None:
            try:
                advise(self.fd, self._flushed, self.done - self._flushed,
                       os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        self._flushed = self.done

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise output_error(exc, self.folder.path / self.part) from exc

    def hexdigest(self) -> str:
        return self.sha.hexdigest()

    def finish(self) -> str:
        """fsync, close, rename NAME.part -> NAME, fsync the folder; return the sha256."""
        self.sync()
        self._close_fd()
        self.folder.rename(self.part, self.final)
        self.folder.sync()
        return self.hexdigest()

    def close(self) -> None:
        """Keep NAME.part (partial data) durable and closed (a no-op once closed)."""
        if self.fd < 0:
            return
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        self._close_fd()

    def _close_fd(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def hash_prefix(folder: PullFolder, name: str, limit: int | None = None) -> tuple[Any, int]:
    """sha256 state of the first ``limit`` bytes of ``name`` in ``folder`` (all of it for
    None), and how many bytes there were; never through a symbolic link (OSError)."""
    h = hashlib.sha256()
    done = 0
    with folder.open_read(name) as f:
        while limit is None or done < limit:
            block = f.read(1 << 20 if limit is None else min(1 << 20, limit - done))
            if not block:
                break
            h.update(block)
            done += len(block)
    return h, done


def file_sha256(folder: PullFolder, name: str) -> str:
    return str(hash_prefix(folder, name)[0].hexdigest())
