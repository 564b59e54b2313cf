"""manifest.json (schema ``qdlpy.pull/1``): the truth about a pull folder at every instant.

It is rewritten atomically (temp file, fsync, rename, fsync of the folder) after every
region and on every state change, so a crash or power loss at any point leaves a manifest
that describes exactly what is on disk. ``--resume`` and ``qdlpy assemble`` read it.

Schema history: 1 -- first version.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Any

from qdlpy._version import __version__
from qdlpy.errors import InputError

SCHEMA = "qdlpy.pull/1"
NAME = "manifest.json"

# Region status values.
PENDING, COMPLETE, PARTIAL, FAILED, SKIPPED = "pending", "complete", "partial", "failed", "skipped"


def utcnow() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class RegionRecord:
    position: int
    filename: str  # the sanitised name on disk
    raw_filename: str
    description: str
    base: int
    length: int
    save_pref: int
    kind: str
    region_id: int | None
    status: str = PENDING
    bytes: int = 0  # bytes safely on disk (in NAME.part while not complete)
    sha256: str | None = None  # of the complete file, or of the first `bytes` bytes if partial
    seconds: float = 0.0
    error: dict[str, Any] | None = None
    raw_filename_hex: str = ""  # the 20-byte fields exactly as the device sent them
    raw_description_hex: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["base"] = f"0x{self.base:x}"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegionRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in fields}
        values["base"] = int(str(d["base"]), 0)
        return cls(**values)


@dataclasses.dataclass
class Manifest:
    status: str  # running / complete / partial / failed / interrupted
    started: str
    transport: str
    device: dict[str, Any]
    table: dict[str, Any]
    chunk_size: int
    regions: list[RegionRecord]
    selection: dict[str, Any] = dataclasses.field(default_factory=dict)
    finished: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    error: dict[str, Any] | None = None
    elf: dict[str, Any] | None = None
    after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "qdlpy_version": __version__,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "transport": self.transport,
            "device": self.device,
            "table": self.table,
            "chunk_size": self.chunk_size,
            "selection": self.selection,
            "regions": [r.to_dict() for r in self.regions],
            "warnings": self.warnings,
            "error": self.error,
            "elf": self.elf,
            "after": self.after,
        }

    def save(self, folder: Path) -> None:
        write_atomic(folder / NAME, json.dumps(self.to_dict(), indent=2).encode() + b"\n")

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / NAME
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {path}: {exc}",
                             hint="without a manifest qdlpy cannot resume; pull into a new -o DIR") from exc
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise InputError(f"{path} is not a {SCHEMA} manifest")
        try:
            return cls(
                status=d["status"], started=d["started"], transport=d["transport"],
                device=d["device"], table=d["table"], chunk_size=d["chunk_size"],
                regions=[RegionRecord.from_dict(r) for r in d["regions"]],
                selection=d.get("selection", {}), finished=d.get("finished"),
                warnings=list(d.get("warnings", [])), error=d.get("error"), elf=d.get("elf"),
                after=d.get("after"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path} is damaged ({exc})",
                             hint="pull into a new -o DIR; the region files here are kept") from exc


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half."""
    # A leading dot: region names never start with one (names.sanitize strips it), so the
    # temporary file can never be a region's file.
    tmp = path.with_name("." + path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        from .writer import output_error

        try:
            tmp.unlink()
        except OSError:
            pass
        raise output_error(exc, path) from exc
    fsync_dir(path.parent)


__all__ = ["Manifest", "RegionRecord", "SCHEMA", "write_atomic"]
