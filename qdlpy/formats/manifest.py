"""manifest.json (schema ``qdlpy.pull/1``): the truth about a pull folder at every instant.

``qdlpy pull`` rewrites it atomically (:mod:`qdlpy.atomic_write`) after every region and on
every state change, so a crash or power loss at any point leaves a manifest that describes
exactly what is on disk. ``--resume`` loads it whole (:meth:`Manifest.load`, strict);
``qdlpy assemble`` and the ``dir:`` simulator scenario read only its region list
(:func:`read_entries`, tolerant: a hand-written minimal manifest is enough).

A region object carries ``filename``, ``description``, ``base`` (``"0x..."``), ``length``,
``save_pref`` and ``status`` plus what :class:`RegionRecord` adds; readers ignore unknown keys.

Schema history: 1 -- first version.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

from qdlpy._version import __version__
from qdlpy.atomic_write import write_atomic
from qdlpy.errors import InputError

from .entries import SourceEntry, as_u64, parse_int, read_text
from .names import member_name

__all__ = ["Manifest", "RegionRecord", "SCHEMA", "NAME", "read_entries", "recorded_outputs",
           "utcnow",
           "PENDING", "COMPLETE", "PARTIAL", "FAILED", "SKIPPED"]

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
                             hint="without a manifest qdlpy cannot resume; pull into a new -o DIR"
                             ) from exc
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


def _non_negative(value: object) -> int | None:
    """A manifest number: an int or a decimal/0x string; anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = parse_int(value)
        except ValueError:
            return None
    if isinstance(value, int):
        return value if value >= 0 else None
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _sha256(value: object) -> str | None:
    """A recorded sha256: 64 hex digits, else nothing to check against."""
    if isinstance(value, str) and len(value) == 64:
        try:
            bytes.fromhex(value)
        except ValueError:
            return None
        return value.lower()
    return None


def _entry(item: object, where: str, warnings: list[str] | None) -> SourceEntry | None:
    """One region object; None (with a warning) when it has no file name at all. A file
    name that is not a plain member of the folder raises UnsafeName
    (docs/formats.md#names-and-links)."""
    if not isinstance(item, dict):
        return None
    filename = item.get("filename")
    if filename is None or filename == "":
        if warnings is not None:
            warnings.append(f"{where} has no file name; skipped")
        return None
    filename = member_name(filename, source=where)
    desc, status = item.get("description"), item.get("status")
    save_pref = _non_negative(item.get("save_pref"))
    raw = _text(item.get("raw_filename"))
    where = f"{where} ({filename}):"
    return SourceEntry(
        filename=filename,
        description=desc if isinstance(desc, str) else "",
        base=as_u64(_non_negative(item.get("base")), f"{where} base", warnings),
        length=as_u64(_non_negative(item.get("length")), f"{where} length", warnings),
        save_pref=1 if save_pref is None else save_pref,
        status=status if isinstance(status, str) else COMPLETE,
        sha256=_sha256(item.get("sha256")),
        device_name=raw if raw and raw != filename else None,
    )


def read_entries(path: Path, warnings: list[str] | None = None) -> list[SourceEntry]:
    """The region list of a manifest, tolerantly: only ``regions`` is required, unknown keys
    and malformed region objects are skipped. A base or length over 64 bits becomes unknown,
    with a warning naming the file and the region. InputError when there is no list;
    UnsafeName when a region's file name is not a plain member of the folder."""
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    regions = doc.get("regions") if isinstance(doc, dict) else None
    if not isinstance(regions, list):
        raise InputError(f"{path} has no 'regions' list; not a qdlpy manifest")
    out: list[SourceEntry] = []
    for index, item in enumerate(regions):
        entry = _entry(item, f"{path.name} region {index}", warnings)
        if entry is not None:
            out.append(entry)
    return out


def recorded_outputs(path: Path) -> list[str]:
    """The ELF paths an earlier assembly recorded in the manifest's ``elf`` report
    (``output`` and each ``outputs[].path``); empty when there are none or the file cannot
    be read."""
    try:
        doc = json.loads(read_text(path))
    except (InputError, ValueError):
        return []
    elf = doc.get("elf") if isinstance(doc, dict) else None
    if not isinstance(elf, dict):
        return []
    outputs = elf.get("outputs")
    paths = [o.get("path") for o in outputs if isinstance(o, dict)] if isinstance(
        outputs, list) else []
    return [p for p in [elf.get("output"), *paths] if isinstance(p, str) and p]
