"""minidump.elf from what a pull saved: after a complete pull, and after one that stopped.

A pull that stops early (a NAK, --keep-going failures, a timeout, an interrupt) still
assembles the regions that are complete; the assembler treats the others as missing and
lists them (docs/formats.md#missing-regions), so the ELF equals a full pull's whenever every
kernel region was saved. A full dump gets no ELF here: it would copy every DDR byte a second
time, so pull leaves that to ``qdlpy assemble`` (crash also reads the raw files).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Union

from qdlpy.errors import QdlpyError
from qdlpy.formats import manifest as mf
from qdlpy.formats.manifest import Manifest

from .folder import PullFolder

if TYPE_CHECKING:
    from qdlpy.assemble import AssembleReport

__all__ = ["ElfNotBuilt", "ElfOutcome", "assemble_saved"]

log = logging.getLogger("qdlpy.pull")


@dataclasses.dataclass(frozen=True)
class ElfNotBuilt:
    """Why a pull wrote no ELF: ``skipped`` (a full dump: see the module docstring) or
    ``error`` (assembly failed; ``error`` says why)."""

    status: str
    reason: str
    error: QdlpyError | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"status": "error", "error": self.error.to_dict()}
        return {"status": self.status, "reason": self.reason}


#: What became of the ELF: the assembler's report, or why there is none.
ElfOutcome = Union["AssembleReport", ElfNotBuilt]


def _failed(err: QdlpyError) -> ElfNotBuilt:
    return ElfNotBuilt("error", str(err), err)


def assemble_saved(folder: PullFolder, manifest: Manifest, *,
                   triage: bool = False) -> ElfOutcome | None:
    """Build minidump.elf (and the small group ELFs) from the complete regions; record the
    outcome in ``manifest.elf``. None when no complete region is a minidump's. ``triage``:
    a kernel minidump also gets dmesg.txt and report.json (docs/triage.md), whose outcome
    joins ``manifest.elf`` as ``triage``; a failure there never fails the pull."""
    done = [r for r in manifest.regions if r.status == mf.COMPLETE]
    outcome: ElfOutcome | None = None
    if any(r.kind in ("kernel", "subsystem") for r in done):
        outcome = _assemble(folder, manifest)
    elif any(r.kind == "fulldump" for r in done):
        outcome = ElfNotBuilt(
            "skipped", f"full dump: `qdlpy assemble {folder.path}` builds "
            "minidump-fulldump.elf (a second copy of every region); crash also reads the raw "
            "files")
    if outcome is not None:
        manifest.elf = outcome.to_dict()
        if triage and not isinstance(outcome, ElfNotBuilt) and outcome.kernel is not None:
            from qdlpy.triage.pullfiles import write_triage

            manifest.elf["triage"] = write_triage(folder.path, manifest.to_dict())
    return outcome


def _assemble(folder: PullFolder, manifest: Manifest) -> ElfOutcome:
    from qdlpy.assemble import assemble

    stopped = manifest.status != mf.OK
    try:
        folder.check_present()
        report = assemble(folder.path, skip_groups=("fulldump",))
    except QdlpyError as exc:
        log.warning("ELF assembly failed: %s (run `qdlpy assemble %s` after fixing)",
                    exc, folder.path)
        manifest.warnings.append(f"ELF assembly failed: {exc}")
        return _failed(exc)
    if stopped and report.kernel is not None and report.kernel.missing:
        log.warning("%s holds the %d kernel regions saved; %d are missing (see the report's "
                    "kernel.missing)", report.output, len(report.kernel.placed),
                    len(report.kernel.missing))
    return report
