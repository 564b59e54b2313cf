"""manifest.json (schema ``qdlpy.pull/2``): the truth about a pull folder at every instant.

``qdlpy pull`` rewrites it atomically (:mod:`qdlpy.atomic_write`) after every region and on
every state change, so a crash or power loss at any point leaves a manifest that describes
exactly what is on disk. ``--resume`` loads it whole (:meth:`Manifest.from_bytes`, strict:
every field's type and range is checked, a damaged one is ``DamagedManifest``, exit 10);
``qdlpy assemble`` and the ``dir:`` simulator scenario read only its region list
(:func:`read_entries`, tolerant: a hand-written minimal manifest is enough).

A region object carries ``filename``, ``description``, ``base`` (``"0x..."``), ``length``,
``save_pref`` and ``status`` plus what :class:`RegionRecord` adds; readers ignore unknown keys.

The pull's ``status`` uses the vocabulary every qdlpy command's JSON uses (``ok``,
``partial``, ``interrupted``, ``error``; ``running`` while a pull works on the folder); a
region's ``status`` is its own: pending, complete, partial, failed, skipped
(docs/design.md#status-values).

Schema history: 1 -- first version; 2 -- the pull's ``status`` says ``ok`` / ``error``
where 1 said ``complete`` / ``failed`` (a version 1 manifest is read as version 2).
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

__all__ = ["Manifest", "RegionRecord", "DamagedManifest", "SCHEMA", "NAME", "read_entries",
           "recorded_outputs", "utcnow", "PENDING", "COMPLETE", "PARTIAL", "FAILED", "SKIPPED",
           "REGION_STATES", "PULL_STATES", "READABLE_SCHEMAS"]

SCHEMA = "qdlpy.pull/2"
_SCHEMA_1 = "qdlpy.pull/1"
# The pull's status in a version 1 manifest -> the same state in version 2.
_STATUS_1 = {"complete": "ok", "failed": "error"}
#: Every manifest schema this version reads.
READABLE_SCHEMAS = (SCHEMA, _SCHEMA_1)
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
    def from_dict(cls, d: object, where: str = "region") -> RegionRecord:
        """A region object of a manifest, every field checked (DamagedManifest)."""
        f = _Fields(d, where)
        length = f.integer("length")
        rec = cls(
            position=f.integer("position"), filename=f.text("filename"),
            raw_filename=f.text("raw_filename"), description=f.text("description"),
            base=f.address("base"), length=length, save_pref=f.integer("save_pref"),
            kind=f.text("kind"), region_id=f.optional_integer("region_id"),
            status=f.choice("status", REGION_STATES),
            bytes=f.integer("bytes", default=0, maximum=length),
            sha256=f.digest("sha256"), seconds=f.number("seconds", default=0.0),
            error=f.optional_object("error"),
            raw_filename_hex=f.text("raw_filename_hex", default=""),
            raw_description_hex=f.text("raw_description_hex", default=""),
        )
        return rec


REGION_STATES = (PENDING, COMPLETE, PARTIAL, FAILED, SKIPPED)
# The pull's status values (the folder as a whole; regions have REGION_STATES).
RUNNING, OK, INTERRUPTED, ERROR = "running", "ok", "interrupted", "error"
PULL_STATES = (RUNNING, OK, PARTIAL, INTERRUPTED, ERROR)
_MAX_U64 = (1 << 64) - 1
_MISSING = object()


class DamagedManifest(InputError):
    """A manifest.json whose fields do not have the types and ranges qdlpy writes."""

    code = "damaged-manifest"
    default_hint = ("qdlpy cannot resume from it: restore manifest.json, or pull into a new "
                    "-o DIR (the region files here are kept)")


class _Fields:
    """Typed reads of one JSON object of a manifest; DamagedManifest names the bad field."""

    def __init__(self, obj: object, where: str) -> None:
        if not isinstance(obj, dict):
            raise DamagedManifest(f"{where} is {_kind(obj)}, not an object")
        self.obj: dict[str, Any] = obj
        self.where = where

    def _get(self, key: str, default: object) -> object:
        value = self.obj.get(key, default)
        if value is _MISSING:
            raise DamagedManifest(f"{self.where}: {key} is missing")
        return value

    def _bad(self, key: str, value: object, wanted: str) -> DamagedManifest:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        return DamagedManifest(f"{self.where}: {key} is {shown} ({_kind(value)}), not {wanted}")

    def text(self, key: str, *, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._bad(key, value, "text")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, None)
        return None if value is None else self.text(key)

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in choices:
            raise self._bad(key, value, "one of " + ", ".join(choices))
        return value

    def integer(self, key: str, *, default: object = _MISSING, maximum: int = _MAX_U64) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
            raise self._bad(key, value, f"a whole number from 0 to {maximum}")
        return value

    def optional_integer(self, key: str) -> int | None:
        return None if self._get(key, None) is None else self.integer(key)

    def number(self, key: str, *, default: object = _MISSING) -> float:
        value = self._get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise self._bad(key, value, "a number of seconds")
        return float(value)

    def address(self, key: str) -> int:
        value = self._get(key, _MISSING)
        if isinstance(value, str):
            try:
                value = parse_int(value)
            except ValueError:
                raise self._bad(key, value, "an address (0x...)") from None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_U64:
            raise self._bad(key, value, "a 64-bit address (0x...)")
        return value

    def digest(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is None:
            return None
        if not (isinstance(value, str) and len(value) == 64
                and all(c in "0123456789abcdef" for c in value)):
            raise self._bad(key, value, "a sha256 (64 hex digits)")
        return value

    def obj_field(self, key: str, *, default: object = _MISSING) -> dict[str, Any]:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self._bad(key, value, "an object")
        return value

    def optional_object(self, key: str) -> dict[str, Any] | None:
        return None if self._get(key, None) is None else self.obj_field(key)

    def texts(self, key: str, *, default: object = _MISSING) -> list[str]:
        value = self._get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, value, "a list of texts")
        return list(value)

    def items(self, key: str) -> list[object]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list):
            raise self._bad(key, value, "a list")
        return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            type(None): "null", float: "a fraction", int: "a number"}.get(type(value), "?")


def _selection(f: _Fields) -> dict[str, Any]:
    sel = _Fields(f.obj_field("selection", default={}), f"{f.where}: selection")
    return {"include": sel.texts("include", default=[]),
            "exclude": sel.texts("exclude", default=[])}


def _table(f: _Fields) -> dict[str, Any]:
    table = f.obj_field("table")
    _Fields(table, f"{f.where}: table").digest("sha256")
    return table


@dataclasses.dataclass
class Manifest:
    status: str  # PULL_STATES: running / ok / partial / interrupted / error
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

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode() + b"\n"

    def save(self, folder: Path) -> None:
        write_atomic(folder / NAME, self.to_bytes())

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / NAME
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}",
                             hint="without a manifest qdlpy cannot resume; pull into a new -o DIR"
                             ) from exc
        return cls.from_bytes(data, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        """A manifest's bytes, every field checked: InputError when it is not JSON,
        DamagedManifest (exit 10) naming the first field that is not what qdlpy writes."""
        try:
            d = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise DamagedManifest(f"{where} is not valid JSON ({exc})") from exc
        f = _Fields(d, where)
        if f.obj.get("schema") == _SCHEMA_1 and f.obj.get("status") in _STATUS_1:
            f.obj["status"] = _STATUS_1[f.obj["status"]]
        elif f.obj.get("schema") not in READABLE_SCHEMAS:
            raise DamagedManifest(f"{where}: schema is not {SCHEMA!r}; not a qdlpy manifest")
        regions = [RegionRecord.from_dict(r, f"{where}: regions[{i}]")
                   for i, r in enumerate(f.items("regions"))]
        after = f.optional_text("after")
        if after not in (None, "reset", "none"):
            raise f._bad("after", after, "reset, none or null")
        return cls(
            status=f.choice("status", PULL_STATES), started=f.text("started"),
            transport=f.text("transport"), device=f.obj_field("device"), table=_table(f),
            chunk_size=f.integer("chunk_size"), regions=regions, selection=_selection(f),
            finished=f.optional_text("finished"), warnings=f.texts("warnings", default=[]),
            error=f.optional_object("error"), elf=f.optional_object("elf"), after=after,
        )


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
