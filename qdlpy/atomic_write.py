"""Replace a file so that readers (and a crash or power loss) see the old or the new one.

One durability policy for every file qdlpy writes whole (manifest.json, table.bin,
dump_info.txt, the assembled ELFs, the installed udev rule):

1. create a temporary file in the target's own folder (same filesystem, so the rename is
   atomic) with ``O_CREAT | O_EXCL``: a file or symlink already at that name is never
   opened or followed;
2. write it (the caller does, through the file descriptor);
3. ``fsync`` the file, so its bytes are on disk before its name is;
4. ``rename`` it over the target (``rename`` replaces a symlink at the target, it does not
   write through it);
5. ``fsync`` the folder, so the new name survives a power loss.

Every step is relative to one directory file descriptor opened once. With ``beneath=``,
that descriptor is reached from the ``beneath`` folder one component at a time with
``O_NOFOLLOW`` (missing folders are created the same way): a folder on the way that is a
symbolic link is refused (``ELOOP``), so a link planted inside a dump folder can never send
a write elsewhere. The path up to ``beneath`` itself is the caller's and is followed.

:func:`atomic_file` hands out the file descriptor and raises ``OSError``;
:func:`write_atomic` writes bytes and maps a failure to a :class:`~qdlpy.errors.QdlpyError`
(:func:`output_error` unless the caller passes its own mapping).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from qdlpy.errors import NoSpace, OutputError, QdlpyError

__all__ = ["atomic_file", "write_atomic", "fsync_dir", "output_error", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"  # folder scans skip these (and the leading dot hides them)
_NAME_KEEP = 200  # of the target's name in the temporary name: stays under NAME_MAX (255)
_ATTEMPTS = 16


def output_error(exc: OSError, path: Path) -> OutputError:
    """The OutputError for a failed write: NoSpace when the disk or quota is full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(f"no space left writing {path}")
    if exc.errno == errno.ELOOP:
        return OutputError(f"cannot write {path}: {exc.filename or 'a folder on the way'} is a "
                           "symbolic link, and qdlpy never writes through a link",
                           hint="give a path whose folders are not links")
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _open_beneath(folder: Path, beneath: Path) -> int:
    """``folder``'s descriptor, walked from ``beneath`` without following any link and
    creating missing folders (mode 0o777 minus the umask)."""
    rel = os.path.relpath(os.path.abspath(folder), os.path.abspath(beneath))
    if rel == os.curdir:
        return os.open(beneath, _DIR_FLAGS)
    if rel.startswith(os.pardir):
        raise ValueError(f"{folder} is not under {beneath}")
    fd = os.open(beneath, _DIR_FLAGS)
    walked = beneath
    try:
        for part in rel.split(os.sep):
            walked = walked / part
            try:
                os.mkdir(part, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                nxt = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(walked)) from exc
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_folder(folder: Path, beneath: Path | None = None) -> int:
    if beneath is not None:
        return _open_beneath(folder, beneath)
    return os.open(folder, _DIR_FLAGS)


def _open_temp(dir_fd: int, target_name: str, mode: int) -> tuple[str, int]:
    """(name, fd) of a new, empty, exclusively created file in ``dir_fd``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_ATTEMPTS):
        name = f".{target_name[:_NAME_KEEP]}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            return name, os.open(name, flags, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", target_name)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int | None = None,
                beneath: Path | None = None) -> Iterator[int]:
    """A file descriptor to write ``path``'s new content to; it replaces ``path`` when the
    ``with`` block ends without an exception, and is removed otherwise.

    ``mode``: the new file's permission bits; None = 0o666 minus the umask, like any file
    the user creates. ``beneath``: a folder above ``path`` from which no link is followed
    (see the module docstring; missing folders are then created); without it the folder
    must exist. Raises ``OSError`` (``ELOOP`` for a link on the way).
    """
    dir_fd = _open_folder(path.parent, beneath)
    try:
        name, fd = _open_temp(dir_fd, path.name, 0o666 if mode is None else 0o600)
        try:
            try:
                if mode is not None:
                    os.fchmod(fd, mode)  # exact, whatever the umask
                yield fd
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            _unlink_quietly(name, dir_fd)
            raise
        _sync_folder(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None,
                 beneath: Path | None = None,
                 error: Callable[[OSError, Path], QdlpyError] = output_error) -> None:
    """Replace ``path`` with ``data`` (see the module docstring). A failure raises
    ``error(exc, path)``: by default OutputError, or NoSpace when the disk is full."""
    try:
        with atomic_file(path, mode=mode, beneath=beneath) as fd:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except OSError as exc:
        raise error(exc, path) from exc


def _sync_folder(dir_fd: int) -> None:
    # Best effort: some filesystems cannot fsync a directory, and the file's own bytes
    # were synced before the rename.
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (step 5 alone, for callers that
    rename by themselves, like a finished region's NAME.part)."""
    try:
        fd = _open_folder(folder)
    except OSError:
        return
    try:
        _sync_folder(fd)
    finally:
        os.close(fd)
