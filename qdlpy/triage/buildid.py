"""Find the vmlinux of a build ID: folders given with ``--vmlinux-dir``, then debuginfod.

Folders are searched in the ``.build-id/xx/yyyy.debug`` layout first (debug packages and
debuginfod caches use it), then file by file (bounded depth and count); a file matches when
its ``NT_GNU_BUILD_ID`` note equals the dump's ``BUILD-ID``. debuginfod is asked only where
one is configured (``DEBUGINFOD_URLS``, as gdb and elfutils do): each server's
``/buildid/ID/debuginfo`` is requested and only its first bytes read.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qdlpy.errors import InputError

from .elfcore import ElfCore
from .source import FileSource

__all__ = ["BuildIdLookup", "lookup", "file_build_id"]

_NT_GNU_BUILD_ID = 3
_MAX_FILES = 20000
_MAX_DEPTH = 6
_TIMEOUT = 10.0


@dataclasses.dataclass
class BuildIdLookup:
    build_id: str
    vmlinux: str | None = None  # a local file with this build ID
    searched: list[str] = dataclasses.field(default_factory=list)
    debuginfod: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def file_build_id(path: Path) -> str | None:
    """The GNU build ID of an ELF file (from its PT_NOTE segments), or None."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
        source = FileSource(path)
    except (OSError, InputError):
        return None
    try:
        core = ElfCore(source, str(path))
    except InputError:
        return None
    finally:
        source.close()
    for note in core.notes:
        if note.name == b"GNU" and note.type == _NT_GNU_BUILD_ID and note.desc:
            return note.desc.hex()
    return None


def _candidates(root: Path, build_id: str) -> Iterator[Path]:
    debug = root / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug"
    if debug.is_file():
        yield debug
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        depth = Path(dirpath).relative_to(root).parts
        if len(depth) >= _MAX_DEPTH:
            dirnames[:] = []
        for name in sorted(filenames):
            seen += 1
            if seen > _MAX_FILES:
                return
            yield Path(dirpath) / name


def _search(dirs: Sequence[Path], build_id: str) -> str | None:
    for root in dirs:
        for path in _candidates(root, build_id):
            if path.is_file() and file_build_id(path) == build_id:
                return str(path)
    return None


def _ask(url: str, build_id: str) -> dict[str, str]:
    full = f"{url.rstrip('/')}/buildid/{build_id}/debuginfo"
    try:
        with urllib.request.urlopen(full, timeout=_TIMEOUT) as resp:
            resp.read(4)
            return {"url": full, "status": "found"}
    except urllib.error.HTTPError as exc:
        return {"url": full, "status": "not found" if exc.code == 404 else f"HTTP {exc.code}"}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"url": full, "status": f"error: {reason}"}


def lookup(build_id: str, *, vmlinux_dirs: Sequence[str | os.PathLike[str]] = (),
           debuginfod: bool = True) -> BuildIdLookup:
    result = BuildIdLookup(build_id)
    dirs = [Path(d) for d in vmlinux_dirs]
    result.searched = [str(d) for d in dirs]
    result.vmlinux = _search(dirs, build_id)
    urls = os.environ.get("DEBUGINFOD_URLS", "").split() if debuginfod else []
    result.debuginfod = [_ask(u, build_id) for u in urls if u.startswith(("http://", "https://"))]
    return result
