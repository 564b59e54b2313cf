"""Write an output plan: header bytes and file ranges placed at fixed offsets.

Every piece goes to its own offset (``pwrite`` / ``copy_file_range`` with an explicit
destination offset), never appended, so a missing or short region cannot shift the next
one (the qdl bug described in minidump-format.md §6.3). Bytes no piece covers stay zero:
the file is created empty and extended with ``ftruncate``, so gaps are sparse holes.
Region bytes move kernel-side (``os.copy_file_range``, else ``os.sendfile``, else
``pread``/``pwrite``). The result is written to a temporary file in the target directory
and renamed into place, so a failure never leaves a half-written ELF under the real name.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import tempfile
from pathlib import Path

from qdlpy.errors import InputError, NoSpace, OutputError

__all__ = ["Piece", "OutputPlan", "write_plan"]

_CHUNK = 8 * 1024 * 1024


@dataclasses.dataclass
class Piece:
    """``length`` bytes at ``offset``: from ``data`` or from ``path`` at ``src_offset``."""

    offset: int
    length: int
    data: bytes | None = None
    path: Path | None = None
    src_offset: int = 0


@dataclasses.dataclass
class OutputPlan:
    path: Path
    kind: str
    size: int
    pieces: list[Piece]
    regions: int = 0


def _copy_range(src: int, dst: int, length: int, src_off: int, dst_off: int) -> None:
    """Copy kernel-side where the OS allows it; fall back step by step."""
    done = 0
    use_cfr = hasattr(os, "copy_file_range")
    while done < length:
        n = min(length - done, 1 << 30)
        copied = 0
        if use_cfr:
            try:
                copied = os.copy_file_range(src, dst, n, src_off + done, dst_off + done)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                                     errno.EPERM, errno.EBADF):
                    raise
                use_cfr = False
                continue
        else:
            try:
                os.lseek(dst, dst_off + done, os.SEEK_SET)
                copied = os.sendfile(dst, src, src_off + done, n)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                chunk = os.pread(src, min(n, _CHUNK), src_off + done)
                copied = os.pwrite(dst, chunk, dst_off + done) if chunk else 0
        if copied <= 0:  # the source ended early (it shrank since we looked): the gap stays 0
            return
        done += copied


def write_plan(plan: OutputPlan, inputs: list[Path]) -> None:
    """Write ``plan`` atomically; refuses to replace any of ``inputs``."""
    target = plan.path
    if target.exists():
        for p in inputs:
            try:
                if p.exists() and os.path.samefile(p, target):
                    raise OutputError(f"{target} is one of the input region files; "
                                      "refusing to overwrite it", hint="choose another -o FILE")
            except OSError:
                continue
        if target.is_dir():
            raise OutputError(f"{target} is a directory", hint="give -o a file name")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot create {target}: {exc.strerror or exc}") from exc
    try:
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the ELF from other users
            for piece in plan.pieces:
                if piece.length <= 0:
                    continue
                if piece.data is not None:
                    os.pwrite(fd, piece.data[: piece.length], piece.offset)
                    continue
                assert piece.path is not None
                try:
                    src = os.open(piece.path, os.O_RDONLY)
                except OSError as exc:
                    raise InputError(f"cannot read {piece.path}: {exc.strerror or exc}") from exc
                try:
                    _copy_range(src, fd, piece.length, piece.src_offset, piece.offset)
                finally:
                    os.close(src)
            os.ftruncate(fd, plan.size)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        _unlink(tmp)
        if exc.errno == errno.ENOSPC:
            raise NoSpace(f"no space left writing {target}") from exc
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
