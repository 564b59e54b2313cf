"""Write an output plan: header bytes and file ranges placed at fixed offsets.

Every piece goes to its own offset (``pwrite`` / ``copy_file_range`` with an explicit
destination offset), never appended, so a missing or short region cannot shift the next
one (the qdl bug described in docs/formats.md#where-qdl-differs). Bytes no piece covers stay zero:
the file is created empty and extended with ``ftruncate``, so gaps are sparse holes.
Region bytes move kernel-side (``os.copy_file_range``, else ``os.sendfile``, else
``pread``/``pwrite``). The result goes through :func:`qdlpy.atomic_write.atomic_file`
(temporary file in the target folder, fsync, rename, folder fsync), so a failure never
leaves a half-written ELF under the real name.

What may be replaced (``check_target``, docs/formats.md#what-may-be-replaced): never an input
file, a region file or another file of the dump folder, with or without ``force``; in the
dump folder an ELF core only when it is qdlpy's output (the default names, or an output the
manifest records), else with ``force``; outside it an existing ELF core (a previous output);
anything else only with ``force``. A symbolic link at a target is never written through:
it is refused, or with ``force`` replaced itself.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Collection
from pathlib import Path

from qdlpy.atomic_write import atomic_file, output_error
from qdlpy.errors import OutputError
from qdlpy.formats.addresses import ADDRESS_FILES

from .regionfile import open_fd
from .report import Hole

__all__ = ["Piece", "OutputPlan", "write_plan", "check_target"]

_CHUNK = 8 * 1024 * 1024
_ET_CORE = 4
_REGION_SUFFIXES = (".bin", ".part", ".tmp")
_FOLDER_FILES = frozenset(("manifest.json", "dump_info.txt", "table.bin", "qdlpy.log",
                           "load.cmm"))


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
    holes: list[Hole] = dataclasses.field(default_factory=list)


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


def _is_elf_core(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.pread(fd, 18, 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    return len(head) == 18 and head[:4] == b"\x7fELF" and head[5] == 1 and head[16] == _ET_CORE


def _inside(path: Path, folders: list[Path]) -> bool:
    try:
        parent = path.parent.resolve()
        return any(parent == f.resolve() for f in folders)
    except OSError:
        return False


def _region_like(name: str) -> bool:
    """A name only region files and qdlpy pull's own files have in a dump folder."""
    low = name.lower()
    return low.endswith(_REGION_SUFFIXES) or low in _FOLDER_FILES


def _same_as_any(target: Path, paths: Collection[Path]) -> bool:
    for p in paths:
        try:
            if os.path.samefile(p, target):
                return True
        except OSError:
            continue
    return False


def _check_inputs(target: Path, inputs: list[Path]) -> None:
    for p in inputs:
        try:
            same = p.exists() and os.path.samefile(p, target)
        except OSError:
            continue
        if same:
            what = ("the dump's input address file" if p.name.lower() in ADDRESS_FILES
                    else "one of the input region files")
            raise OutputError(f"{target} is {what}; refusing to overwrite it",
                              hint="choose another -o FILE")


def check_target(target: Path, inputs: list[Path], *, folder: Path | None = None,
                 force: bool = False, own: Collection[Path] = ()) -> None:
    """OutputError unless ``target`` may be (re)written; see the module docstring.
    ``own``: the paths in the dump folder that are qdlpy's outputs (replaced freely)."""
    if not os.path.lexists(target):
        return
    _check_inputs(target, inputs)
    if target.is_symlink():
        if not force:
            raise OutputError(f"{target} is a symbolic link (to {os.readlink(target)}); qdlpy "
                              "never writes through a link",
                              hint="remove the link or choose another -o FILE; --force "
                                   "replaces the link itself (what it points to is kept)")
        return
    if target.is_dir():
        raise OutputError(f"{target} is a directory", hint="give -o a file name")
    in_folder = folder is not None and _inside(target, [folder, folder / "regions"])
    if in_folder and _region_like(target.name):
        raise OutputError(f"{target} is a region file of the dump folder (or one of qdlpy "
                          "pull's own files); refusing to overwrite it",
                          hint="choose another -o FILE")
    if _is_elf_core(target):
        if not in_folder or force or _same_as_any(target, own):
            return  # a previous output: replacing it is the point
        raise OutputError(f"{target} is an ELF core in the dump folder that qdlpy did not "
                          "write (neither a default output nor listed in manifest.json); "
                          "refusing to replace it",
                          hint="choose another -o FILE, or add --force to replace it")
    if in_folder:
        raise OutputError(f"{target} is a file of the dump folder and not an ELF core; "
                          "refusing to overwrite it", hint="choose another -o FILE")
    if not force:
        raise OutputError(f"{target} exists and is not an ELF core; refusing to overwrite it",
                          hint="choose another -o FILE, or add --force to replace it")


def _write_pieces(fd: int, plan: OutputPlan) -> None:
    for piece in plan.pieces:
        if piece.length <= 0:
            continue
        if piece.data is not None:
            os.pwrite(fd, piece.data[: piece.length], piece.offset)
            continue
        assert piece.path is not None
        src = open_fd(piece.path, piece.path.name)
        try:
            _copy_range(src, fd, piece.length, piece.src_offset, piece.offset)
        finally:
            os.close(src)
    os.ftruncate(fd, plan.size)


def write_plan(plan: OutputPlan, inputs: list[Path], *, beneath: Path | None = None) -> None:
    """Write ``plan`` atomically; refuses to replace any of ``inputs`` (callers run
    ``check_target`` on every output first, so nothing is written when one is refused).
    ``beneath``: the dump folder when the output is inside it (no link below it is
    followed, qdlpy.atomic_write)."""
    target = plan.path
    check_target(target, inputs, force=True)
    try:
        if beneath is None:
            target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target, beneath=beneath) as fd:
            _write_pieces(fd, plan)
    except OSError as exc:
        raise output_error(exc, target) from exc
