"""Which listed region files may be used: finished downloads whose bytes are still the ones
the pull saved (docs/formats.md#partial-regions, docs/formats.md#changed-region-files).

* A region the manifest does not mark ``complete`` (``partial``, ``failed``, ``pending``,
  ``skipped``) is a hole, whatever is on disk under its name: a pull that stopped early
  must give the ELF a full pull gives wherever it has the bytes, and holes elsewhere.
* A file whose sha256 differs from the one the manifest recorded changed after the pull
  (another run, an editor, a copy gone wrong): a hole with a warning, refused under
  ``--strict``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from qdlpy.errors import InputError

from .folder import Entry
from .policy import Policy
from .regionfile import open_region

__all__ = ["settle", "COMPLETE_STATUSES"]

COMPLETE_STATUSES = ("complete", "ok")
_CHUNK = 1 << 20


class RegionChanged(InputError):
    """A region file is not the one the pull saved (its sha256 differs)."""

    code = "region-changed"
    default_hint = ("pull that region again (`qdlpy pull -o DIR --resume`), or restore the "
                    "file; without --strict it is assembled as a hole")


def _sha256(entry: Entry) -> str:
    assert entry.path is not None
    h = hashlib.sha256()
    with open_region(entry.path, entry.label) as f:
        try:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        except OSError as exc:
            raise InputError(f"cannot read {entry.label}: {exc.strerror or exc}") from exc
    return h.hexdigest()


def settle(entries: Iterable[Entry], policy: Policy) -> None:
    """Turn unfinished and changed region files into holes (``path`` None, ``hole`` says
    why). Under ``--strict`` a changed file raises RegionChanged."""
    for e in entries:
        if e.status not in COMPLETE_STATUSES:
            e.path, e.size = None, None
            e.hole = e.hole or f"'{e.status}' in the manifest (not a finished download)"
            continue
        if e.path is None or e.sha256 is None:
            continue
        actual = _sha256(e)
        if actual != e.sha256:
            message = (f"{e.label} changed since the pull: its sha256 is {actual[:16]}..., the "
                       f"manifest recorded {e.sha256[:16]}...")
            if policy.strict:
                raise RegionChanged(f"--strict: {message}")
            policy.warn(message + "; assembled as a hole")
            e.path, e.size = None, None
            e.hole = "changed since the pull (sha256 differs from the manifest)"
