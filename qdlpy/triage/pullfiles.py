"""What ``qdlpy pull`` leaves beside minidump.elf for a kernel minidump: ``dmesg.txt`` (the
log as ``qdlpy dmesg`` prints it) and ``report.json`` (``qdlpy report --json``).

Both are derived from the region files and written atomically; a region file that happens
to carry one of these names is never replaced (the triage file is skipped instead).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from qdlpy._version import __version__
from qdlpy.atomic_write import write_atomic
from qdlpy.errors import QdlpyError

from .report import build_report
from .target import open_dump

__all__ = ["write_triage", "DMESG_NAME", "REPORT_NAME"]

log = logging.getLogger(__name__)

DMESG_NAME = "dmesg.txt"
REPORT_NAME = "report.json"


def write_triage(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write the two files; return what to record in the pull's summary (never raises for a
    dump problem: the pull itself succeeded)."""
    taken = {str(r.get("filename", "")).lower() for r in manifest.get("regions", [])
             if isinstance(r, dict)}
    out: dict[str, Any] = {"status": "ok", "dmesg": None, "report": None, "panic_line": None,
                           "signature": None, "warnings": []}
    try:
        with open_dump(folder) as dump:
            rep = build_report(dump, manifest=manifest, debuginfod=False)
        files = {REPORT_NAME: (json.dumps({"schema": "qdlpy.report/1",
                                           "qdlpy_version": __version__, **rep.to_dict()},
                                          indent=2, default=str) + "\n").encode()}
        if rep.log is not None:
            files[DMESG_NAME] = b"".join(r.line() for r in rep.log.records)
        for name, data in files.items():
            if name.lower() in taken:
                out["warnings"].append(f"{name} not written: a region file has that name")
                continue
            write_atomic(folder / name, data, beneath=folder)
            out["dmesg" if name == DMESG_NAME else "report"] = str(folder / name)
    except (QdlpyError, OSError) as exc:
        return {**out, "status": "error", "error": str(exc)}
    except Exception as exc:  # the pull is saved: a bug in triage must not fail it
        log.exception("triage of %s failed", folder)
        return {**out, "status": "error", "error": f"internal error: {type(exc).__name__}: {exc}"}
    out["panic_line"] = rep.panic_line
    out["signature"] = rep.signature.to_dict() if rep.signature else None
    out["log"] = rep.log.layout if rep.log else None
    if rep.log_error:
        out["warnings"].append(f"no log: {rep.log_error.get('message')}")
    return out
