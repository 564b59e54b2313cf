"""``qdlpy.report(path)``: one dump's triage without vmlinux.

JSON schema ``qdlpy.report/1`` (history: 1 = first version), documented field by field in
docs/triage.md#json-schemas: ``status`` ok|warnings, ``target``, ``kind``, ``kernel``
(release, version, machine, nodename, banner, build_id, sources), ``build_id_lookup``,
``uptime_s``, ``log`` (layout, layout_detail, records, skipped, warnings, error),
``panic_line``, ``incident`` (the primary one: kind, first_line, lines, call_trace),
``incidents`` (all, without their lines), ``signature`` (id, kind, text), ``last_lines``,
``taint``, ``regions`` (name, status, detail, cost), ``device``, ``pull``, ``warnings``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from qdlpy.errors import InputError

from .buildid import BuildIdLookup, lookup
from .coverage import RegionStatus, coverage
from .identity import KernelIdentity, identify
from .incidents import Incident, find_incidents, primary
from .kernel_log import read_log
from .records import LogRead
from .signature import Signature, signature
from .taint import Taint, read_taint
from .target import Dump, open_dump

__all__ = ["Report", "report", "LAST_LINES", "pull_facts"]

LAST_LINES = 20


@dataclasses.dataclass
class Report:
    target: str
    kind: str
    kernel: KernelIdentity
    log: LogRead | None = None
    log_error: dict[str, Any] | None = None
    build_id_lookup: BuildIdLookup | None = None
    incidents: list[Incident] = dataclasses.field(default_factory=list)
    incident: Incident | None = None
    signature: Signature | None = None
    taint: Taint | None = None
    regions: list[RegionStatus] = dataclasses.field(default_factory=list)
    device: dict[str, Any] | None = None
    pull: dict[str, Any] | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> str:
        return "warnings" if self.warnings or self.log_error else "ok"

    @property
    def uptime_s(self) -> float | None:
        """The last record's timestamp: how long the kernel had run when it stopped logging."""
        if self.log is None or not self.log.records:
            return None
        return max(r.ts_nsec for r in self.log.records[-16:]) / 1e9

    @property
    def panic_line(self) -> str | None:
        if self.incident is not None and self.incident.panic_line:
            return self.incident.panic_line
        return next((i.panic_line for i in self.incidents if i.panic_line), None)

    def last_lines(self, n: int = LAST_LINES) -> list[str]:
        if self.log is None:
            return []
        return [r.line()[:-1].decode("ascii") for r in self.log.records[-n:]]

    def to_dict(self) -> dict[str, Any]:
        log: dict[str, Any] | None = None
        if self.log is not None:
            log = {"layout": self.log.layout, "layout_detail": self.log.detail,
                   "records": len(self.log.records), "skipped": dict(self.log.skipped),
                   "warnings": list(self.log.warnings), "error": None}
        elif self.log_error is not None:
            log = {"layout": None, "records": 0, "error": self.log_error}
        return {
            "status": self.status, "target": self.target, "kind": self.kind,
            "kernel": self.kernel.to_dict(),
            "build_id_lookup": self.build_id_lookup.to_dict() if self.build_id_lookup else None,
            "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 6),
            "log": log, "panic_line": self.panic_line,
            "incident": self.incident.to_dict() if self.incident else None,
            "incidents": [{k: v for k, v in i.to_dict().items() if k != "lines"}
                          for i in self.incidents],
            "signature": self.signature.to_dict() if self.signature else None,
            "last_lines": self.last_lines(),
            "taint": self.taint.to_dict() if self.taint else None,
            "regions": [r.to_dict() for r in self.regions],
            "device": self.device, "pull": self.pull, "warnings": list(self.warnings),
        }


def pull_facts(manifest: dict[str, Any] | None) -> tuple[dict[str, Any] | None,
                                                         dict[str, Any] | None]:
    """(device identity, pull status) from a qdlpy pull manifest."""
    if not manifest:
        return None, None
    device = manifest.get("device") if isinstance(manifest.get("device"), dict) else None
    regions = [r for r in manifest.get("regions", []) if isinstance(r, dict)]
    counts: dict[str, int] = {}
    for r in regions:
        counts[str(r.get("status"))] = counts.get(str(r.get("status")), 0) + 1
    bad = [str(r.get("filename")) for r in regions
           if r.get("status") in ("failed", "partial", "pending")]
    pull = {"status": manifest.get("status"), "transport": manifest.get("transport"),
            "started": manifest.get("started"), "finished": manifest.get("finished"),
            "regions": len(regions), "by_status": counts, "incomplete": bad,
            "qdlpy_version": manifest.get("qdlpy_version")}
    return device, pull


def _fill_log(rep: Report, dump: Dump) -> None:
    try:
        rep.log = read_log(dump)
    except InputError as exc:
        rep.log_error = exc.to_dict()
        rep.warnings.append(f"no log: {exc.message}")
        return
    rep.warnings += rep.log.warnings
    if rep.log.skipped:
        rep.warnings.append(f"{rep.log.skipped_total} log records skipped "
                            f"({rep.log.skipped_text()})")
    rep.incidents = find_incidents(rep.log.records)
    rep.incident = primary(rep.incidents)
    rep.signature = signature(rep.incident) if rep.incident else None


def build_report(dump: Dump, *, vmlinux_dirs: Sequence[str | os.PathLike[str]] = (),
                 debuginfod: bool = True, manifest: dict[str, Any] | None = None) -> Report:
    rep = Report(str(dump.path), dump.kind, identify(dump))
    rep.warnings += [n for n in dump.notes if "missing" in n or "corrupt" in n]
    _fill_log(rep, dump)
    rep.taint = read_taint(dump, rep.log.records if rep.log else [])
    rep.regions = coverage(dump)
    rep.device, rep.pull = pull_facts(manifest if manifest is not None else dump.manifest)
    if rep.kernel.build_id:
        rep.build_id_lookup = lookup(rep.kernel.build_id, vmlinux_dirs=vmlinux_dirs,
                                     debuginfod=debuginfod)
    return rep


def report(path: str | os.PathLike[str], *, vmlinux_dirs: Sequence[str | os.PathLike[str]] = (),
           debuginfod: bool = True) -> Report:
    """Triage one dump (an ELF core or a dump folder, assembled in memory; nothing written).

    ``vmlinux_dirs``: folders to search for the vmlinux whose build ID the dump names;
    ``debuginfod``: also ask the servers in ``DEBUGINFOD_URLS``. A dump whose log cannot
    be read still gets a report (``log.error`` says why); InputError (exit 10) only when the
    target is not a dump at all.
    """
    with open_dump(os.fspath(path)) as dump:
        return build_report(dump, vmlinux_dirs=vmlinux_dirs, debuginfod=debuginfod)
