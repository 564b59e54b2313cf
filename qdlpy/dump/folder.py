"""The output folder of one pull: opened once, locked, and never followed out of.

Everything a pull writes goes through :class:`PullFolder` (docs/formats.md#pull-folder-safety):

* the folder is opened once (a directory file descriptor) and every file in it is opened,
  renamed or removed relative to that descriptor (whole-file rewrites too, through
  ``/proc/self/fd``), so a folder renamed or replaced mid-pull cannot redirect a write;
* ``DIR/.qdlpy.lock`` is ``flock``-ed for the whole run: a second pull into the folder is
  refused at once (``FolderLocked``), and the kernel drops the lock with a dead process;
* files are opened with ``O_NOFOLLOW``; new ones with ``O_EXCL`` after removing whatever
  stood at that name (a symbolic link is removed, never followed); a file kept from an
  earlier run (a partial NAME.part, qdlpy.log) is reused only if it is a regular file with
  one link, so neither a symbolic nor a hard link leads a write outside DIR;
* the folder is checked to still exist, under its name, as the pull goes
  (``FolderRemoved``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from pathlib import Path
from typing import IO

from qdlpy.atomic_write import output_error, write_atomic
from qdlpy.errors import FolderLocked, FolderRemoved, OutputError, QdlpyError

__all__ = ["LOCK_NAME", "PullFolder"]

LOCK_NAME = ".qdlpy.lock"
LOG_NAME = "qdlpy.log"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Temporary files of the whole-file rewrites a pull makes (qdlpy/atomic_write.py names them
# .<target>.<8 hex>.tmp); one left by a killed pull is removed by the next one.
_STALE_TEMP = re.compile(r"\.(manifest\.json|table\.bin|dump_info\.txt)\.[0-9a-f]{8}\.tmp")
# What a pull leaves before its first manifest: a folder holding only these is still empty.
_BOOKKEEPING = frozenset({LOCK_NAME, LOG_NAME})


def _cannot(action: str, where: Path, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return output_error(exc, where)
    return OutputError(f"cannot {action} {where}: {exc.strerror or exc}",
                       hint="choose another -o DIR, or make this one writable")


class PullFolder:
    """One pull's output folder (see the module docstring). Close it when the pull ends."""

    def __init__(self, path: Path, dir_fd: int) -> None:
        self.path = path
        self.fd = dir_fd
        st = os.fstat(dir_fd)
        self._identity = (st.st_dev, st.st_ino)
        self._lock_fd: int | None = None

    # ---- opening and locking --------------------------------------------------------------

    @classmethod
    def open_existing(cls, path: Path) -> PullFolder | None:
        """The folder at ``path``, or None when there is none yet."""
        try:
            fd = os.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            return None
        except NotADirectoryError as exc:
            raise OutputError(f"{path} exists and is not a folder") from exc
        except OSError as exc:
            raise _cannot("open", path, exc) from exc
        return cls(path, fd)

    @classmethod
    def create(cls, path: Path) -> PullFolder:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot("create", path, exc) from exc
        folder = cls.open_existing(path)
        if folder is None:
            raise FolderRemoved(f"{path} was removed as soon as it was created")
        return folder

    def close(self) -> None:
        """Release the lock and the folder (safe to call twice)."""
        for fd in (self._lock_fd, self.fd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._lock_fd, self.fd = None, -1

    def refuse_if_locked(self) -> None:
        """FolderLocked when another pull holds the folder; takes an existing lock file's
        lock if nobody does. Creates nothing (a refused pull leaves the folder untouched)."""
        if self._lock_fd is None:
            self._take_lock(create=False)

    def lock(self) -> None:
        """Hold the folder for this pull (creating the lock file if needed)."""
        if self._lock_fd is None:
            self._take_lock(create=True)

    def _take_lock(self, *, create: bool) -> None:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        where = self.path / LOCK_NAME
        try:
            fd = os.open(LOCK_NAME, flags, 0o644, dir_fd=self.fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"{where} is a symbolic link; qdlpy never follows links in "
                                  "a dump folder", hint=f"remove {where} and run again") from exc
            raise _cannot("write in", self.path, exc) from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OutputError(f"{where} is not a regular file",
                                  hint=f"remove {where} and run again")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderLocked(f"another qdlpy pull is writing to {self.path}") from None
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    # ---- what is there --------------------------------------------------------------------

    def names(self) -> list[str]:
        try:
            return os.listdir(self.fd)
        except OSError as exc:
            raise _cannot("list", self.path, exc) from exc

    def holds_files(self) -> bool:
        """Whether the folder holds anything but what a pull killed before its first
        manifest leaves (the lock file, qdlpy.log, temporary files)."""
        return any(n not in _BOOKKEEPING and not _STALE_TEMP.fullmatch(n) for n in self.names())

    def _lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _cannot("read", self.path / name, exc) from exc

    def exists(self, name: str) -> bool:
        return self._lstat(name) is not None

    def regular_size(self, name: str) -> int | None:
        """The size of ``name`` if it is a regular file of its own (not a symbolic link, no
        other hard link), else None."""
        st = self._lstat(name)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return None
        return st.st_size

    def open_read(self, name: str) -> IO[bytes]:
        """``name`` for reading, refusing to follow a symbolic link (OSError)."""
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        return os.fdopen(fd, "rb")

    # ---- writing --------------------------------------------------------------------------

    def _replace_entry(self, name: str) -> None:
        """Remove what stands at ``name`` (a link is removed, not followed)."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _cannot("replace", self.path / name, exc) from exc

    def create_file(self, name: str) -> int:
        """A new, empty file at ``name`` (whatever stood there is removed first)."""
        self._replace_entry(name)
        try:
            return os.open(name, _NEW_FLAGS, 0o666, dir_fd=self.fd)
        except OSError as exc:
            raise _cannot("create", self.path / name, exc) from exc

    def reopen_file(self, name: str, *, append: bool = False) -> int:
        """An existing regular file of its own at ``name`` opened for writing (never through
        a link); a new file when there is none or it is not one."""
        if self.regular_size(name) is None:
            return self.create_file(name)
        flags = (os.O_WRONLY | os.O_APPEND if append else os.O_RDWR) | os.O_NOFOLLOW
        try:
            fd = os.open(name, flags | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            raise _cannot("open", self.path / name, exc) from exc
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            return fd
        os.close(fd)  # replaced between the check and the open
        return self.create_file(name)

    def open_log(self) -> IO[str]:
        """qdlpy.log for appending (a new file when a link stood there)."""
        return os.fdopen(self.reopen_file(LOG_NAME, append=True), "a", encoding="utf-8")

    def rename(self, src: str, dst: str) -> None:
        """Rename within the folder; a link at ``dst`` is replaced, not followed."""
        try:
            os.replace(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as exc:
            raise _cannot("rename", self.path / src, exc) from exc

    def sync(self) -> None:
        """Make renames and new names durable (best effort: not every filesystem can)."""
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def write_whole(self, name: str, data: bytes) -> None:
        """Replace ``name`` with ``data`` atomically (qdlpy/atomic_write.py), in this very
        folder: atomic_write opens the target's parent, and ``/proc/self/fd/N`` is the
        directory behind our descriptor whatever its path leads to now (the path itself is
        used where there is no /proc). Errors name the real path."""
        self.check_present()
        target = self.path / name

        def error(exc: OSError, _where: Path) -> QdlpyError:
            return output_error(exc, target)

        write_atomic(self._via_fd() / name, data, error=error)

    def _via_fd(self) -> Path:
        proc = Path(f"/proc/self/fd/{self.fd}")
        return proc if proc.is_dir() else self.path

    def remove_stale_temps(self) -> None:
        """Temporary files of a killed pull's whole-file rewrites (only a pull that holds the
        lock calls this, so none of them is being written)."""
        for name in self.names():
            if _STALE_TEMP.fullmatch(name):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self.fd)

    # ---- the folder itself ----------------------------------------------------------------

    def check_present(self) -> None:
        """FolderRemoved when the folder was deleted, or its path now leads elsewhere."""
        try:
            removed = os.fstat(self.fd).st_nlink == 0
        except OSError:
            removed = True
        if removed:
            raise FolderRemoved(f"{self.path} was deleted during the pull")
        try:
            st = os.stat(self.path)
            moved = (st.st_dev, st.st_ino) != self._identity
        except OSError:
            moved = True
        if moved:
            raise FolderRemoved(f"{self.path} was moved or replaced during the pull: it no "
                                "longer names the folder the pull writes to")

    def free_bytes(self) -> int:
        """Bytes this user may still write on the folder's filesystem."""
        try:
            st = os.fstatvfs(self.fd)
        except OSError as exc:
            raise _cannot("check the free space of", self.path, exc) from exc
        return st.f_bavail * st.f_frsize
