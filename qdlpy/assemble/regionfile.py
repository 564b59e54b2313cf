"""Opening a region file: only the resolved regular file the folder scan chose.

The folder scan (:mod:`.folder`) resolves every region's path inside the dump folder;
these helpers then open it with ``O_NOFOLLOW`` (a link swapped in since is refused) and
``O_NONBLOCK`` (a FIFO swapped in cannot block), and refuse anything but a regular file.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from qdlpy.errors import InputError

__all__ = ["open_fd", "open_region", "read_bounded"]


def open_fd(path: Path, what: str) -> int:
    """A read-only descriptor of the region file at ``path`` (already resolved inside the
    dump folder by the folder scan): never through a link swapped in since, never a FIFO
    or device that would block or stream forever. InputError otherwise."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"cannot read {what} ({path}): {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{what} ({path}) is not a regular file")
    return fd


@contextlib.contextmanager
def open_region(path: Path, what: str) -> Iterator[io.BufferedReader]:
    """:func:`open_fd` as a binary file object."""
    f = os.fdopen(open_fd(path, what), "rb")
    try:
        yield f
    finally:
        f.close()


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The whole file, InputError when it cannot be read or is over ``limit`` bytes."""
    try:
        with open_region(path, what) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} ({path}): {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise InputError(f"{what} is over {limit} bytes; not a minidump header")
    return data
