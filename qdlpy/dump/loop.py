"""The region loop: every selected region streamed to NAME.part, then renamed.

Per region: MEMORY_READ chunks go from the session's buffer straight into NAME.part and its
sha256; every ``CHECKPOINT_BYTES`` or ``CHECKPOINT_SECONDS`` the part is fsynced and the
manifest rewritten with the bytes now safe (so a crash, a full disk or SIGKILL loses at most
one checkpoint's worth); a complete region is fsynced, renamed and recorded. Failures keep
everything already saved and never reset the device (that would lose the dump):

* END_OF_IMAGE_TX instead of data: the region is marked failed with the decoded status;
  the device now accepts only RESET, so the pull stops (exit 6) and says so;
* a region that keeps timing out stops the pull (exit 7), or with ``keep_going`` is
  recorded as failed and the pull goes on (PartialDump, exit 8, at the end);
* a stop request (:mod:`.stop`): the chunk in hand is finished, the manifest says
  ``interrupted``.

The manifest never counts a byte that is not durable on disk, and is written before any
other file, so whatever ends the process leaves a folder ``--resume`` can continue.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from qdlpy.errors import (
    DeviceNak,
    Interrupted,
    NoSpace,
    PartialDump,
    QdlpyError,
    TransferTimeout,
)
from qdlpy.formats import manifest as mf
from qdlpy.formats.dumpinfo import write_dump_info
from qdlpy.formats.manifest import Manifest, RegionRecord, utcnow
from qdlpy.progress import ProgressSink
from qdlpy.protocols.host import plan_reads

from .folder import PullFolder
from .link import DeviceLink
from .stop import StopRequest
from .writer import PART_SUFFIX, RegionWriter, file_sha256, hash_prefix

__all__ = ["CHECKPOINT_BYTES", "CHECKPOINT_SECONDS", "SPACE_MARGIN", "RegionLoop",
           "file_matches", "verify_saved"]

log = logging.getLogger("qdlpy.pull")

SPACE_MARGIN = 16 * 1024 * 1024  # leave room for the manifest, log and ELF headers
# How often a region in progress is made durable and counted in the manifest. Each time
# costs an fsync and a manifest rewrite (tens of ms on a slow disk: bench/bench_pull_safety.py),
# so the clock decides: at most about 1 % of the time whatever the transfer rate, and a crash
# or a full disk costs at most 2 s of reading again.
CHECKPOINT_BYTES = 1 << 30
CHECKPOINT_SECONDS = 2.0


def file_matches(folder: PullFolder, rec: RegionRecord) -> bool:
    """A complete region's file is still there, a regular file of its own, with the
    manifest's size and sha256."""
    if folder.regular_size(rec.filename) != rec.length:
        return False
    try:
        return file_sha256(folder, rec.filename) == rec.sha256
    except OSError:
        return False


def _kept_prefix(folder: PullFolder, rec: RegionRecord) -> Any:
    """The sha256 state of the bytes of NAME.part the manifest vouches for, or None.

    A pull killed after renaming a finished NAME.part to NAME, before the manifest said so,
    left those bytes in NAME: it is renamed back, and only the bytes counted are trusted."""
    part = rec.filename + PART_SUFFIX
    source = part if folder.regular_size(part) is not None else rec.filename
    size = folder.regular_size(source)
    if size is None or size < rec.bytes:
        return None
    try:
        h, n = hash_prefix(folder, source, rec.bytes)
    except OSError:
        return None
    if n != rec.bytes or h.hexdigest() != rec.sha256:
        return None
    if source != part:
        folder.rename(source, part)
    return h


def verify_saved(folder: PullFolder, manifest: Manifest) -> dict[int, Any]:
    """On resume: trust a region only if its file matches the manifest (size and sha256).

    Returns the hash state of each partial region's kept bytes (by table position), so a
    region stopped gigabytes in is read once, not twice, before the first request.
    """
    kept: dict[int, Any] = {}
    for rec in manifest.regions:
        if rec.status == mf.SKIPPED:
            continue
        if rec.status == mf.COMPLETE:
            if not file_matches(folder, rec):
                manifest.warnings.append(
                    f"{rec.filename}: file missing or changed since the manifest; pulled again")
                rec.status, rec.bytes, rec.sha256 = mf.PENDING, 0, None
            continue
        if rec.bytes:
            state = _kept_prefix(folder, rec)
            if state is None:
                rec.bytes, rec.sha256 = 0, None
            else:
                kept[rec.position] = state
        rec.status = mf.PENDING
    return kept


def _stop_status(manifest: Manifest) -> str:
    """How a pull that stops now is recorded: partial if anything was saved."""
    return mf.PARTIAL if any(r.status == mf.COMPLETE for r in manifest.regions) else mf.ERROR


class RegionLoop:
    """One run of the region loop over a folder and a device (see the module docstring)."""

    def __init__(self, folder: PullFolder, link: DeviceLink, manifest: Manifest,
                 sink: ProgressSink, stop: StopRequest, *, keep_going: bool,
                 kept: dict[int, Any]) -> None:
        self.folder, self.link, self.manifest = folder, link, manifest
        self.sink, self.stop = sink, stop
        self.keep_going = keep_going
        self.kept = kept
        self.bytes_read = 0
        self._checkpoint_at = (0, 0.0)  # (bytes, monotonic time) of the region's last one

    def save(self) -> None:
        self.folder.write_whole(mf.NAME, self.manifest.to_bytes())

    # ---- the loop -------------------------------------------------------------------------

    def execute(self) -> None:
        self._check_space()
        self.save()  # first: from here on the folder can be resumed
        regions = self.manifest.regions
        self.folder.write_whole("table.bin", self.link.table.raw)
        self.folder.write_whole("dump_info.txt", write_dump_info(regions).encode())
        chosen = [r for r in regions if r.status != mf.SKIPPED]
        self.sink.begin(sum(r.length for r in chosen), len(chosen))
        for rec in chosen:
            self._region(rec)
        self._end()

    def _check_space(self) -> None:
        """Enough free space for what is still missing: a kept NAME.part already holds
        its share (its bytes are reused or its blocks freed before they are needed)."""
        todo = [r for r in self.manifest.regions if r.status not in (mf.COMPLETE, mf.SKIPPED)]
        need = sum(max(0, r.length - (self.folder.regular_size(r.filename + PART_SUFFIX) or 0))
                   for r in todo)
        free = self.folder.free_bytes()
        if need + SPACE_MARGIN > free:
            err = NoSpace(f"the selected regions need {need} more bytes but "
                          f"{self.folder.path} has {free} bytes free")
            self.stopped(err, mf.ERROR)
            raise err

    def _region(self, rec: RegionRecord) -> None:
        if rec.status == mf.COMPLETE:
            self.sink.region_start(rec.filename, rec.length, rec.length)
            self.sink.region_end(rec.filename, mf.COMPLETE)
            return
        if self.stop.flag.is_set():
            self.interrupted()
        try:
            self._pull_region(rec)
        except TransferTimeout as err:
            if not self.keep_going:
                self.stopped(err)
                raise
            self._fail(rec, err)  # --keep-going: record it and go on with the next region
            self.link.abandon()
        except DeviceNak as err:
            self._fail(rec, err)
            err.hint = (
                f"the device refused to read {rec.filename} and now accepts only RESET "
                "(which reboots it), so this dump cannot be resumed; every region read "
                f"before is saved in {self.folder.path}. Next time, pull the others first "
                f"or skip it: --exclude '{rec.filename}'")
            self.stopped(err)
            raise
        except QdlpyError as err:
            # A stop request while waiting for a lost device ends the pull as interrupted.
            self.stopped(err, "interrupted" if isinstance(err, Interrupted) else None)
            raise
        except Exception as exc:  # a bug: the manifest still tells what is on disk
            self.stopped(QdlpyError(f"internal error: {type(exc).__name__}: {exc}"), mf.ERROR)
            raise
        self.save()
        if self.stop.flag.is_set() and rec.status != mf.COMPLETE:
            self.interrupted()

    def _end(self) -> None:
        failed = [r.filename for r in self.manifest.regions
                  if r.status in (mf.FAILED, mf.PARTIAL)]
        if failed:
            partial = PartialDump(f"{len(failed)} region(s) could not be read: "
                                  f"{', '.join(failed)}; every other region is saved")
            self.stopped(partial, "partial")
            raise partial
        self.manifest.status = mf.OK
        self.manifest.finished = utcnow()
        self.save()

    # ---- stopping -------------------------------------------------------------------------

    def stopped(self, err: QdlpyError, status: str | None = None) -> None:
        """Record why the pull stopped; a failing disk must not hide the original error."""
        m = self.manifest
        m.status = status or _stop_status(m)
        m.error, m.finished = err.to_dict(), utcnow()
        m.after = "none"  # failures never reset the device
        try:
            self.save()
        except QdlpyError as save_err:
            log.error("could not update %s: %s", mf.NAME, save_err)

    def interrupted(self) -> None:
        err = self.stop.error("interrupted: every complete region and chunk is saved")
        self.stopped(err, "interrupted")
        raise err

    def _fail(self, rec: RegionRecord, err: QdlpyError) -> None:
        rec.status = mf.FAILED if rec.bytes == 0 else mf.PARTIAL
        rec.error = err.to_dict()
        log.error("%s", err)  # read errors name their region (DeviceLink.read)
        self.sink.region_end(rec.filename, rec.status)

    # ---- one region -----------------------------------------------------------------------

    def _pull_region(self, rec: RegionRecord) -> None:
        began = time.monotonic()
        writer = RegionWriter(self.folder, rec.filename, resume_from=rec.bytes,
                              resume_hash=self.kept.pop(rec.position, None))
        self._checkpoint_at = (writer.done, began)
        self.sink.region_start(rec.filename, rec.length, writer.done)
        try:
            self._stream(rec, writer)
            if writer.done >= rec.length:
                digest = writer.finish()
                rec.bytes, rec.sha256, rec.status = writer.done, digest, mf.COMPLETE
        finally:
            # Whatever reached the disk in whole chunks stays; the manifest says how much.
            if rec.status != mf.COMPLETE:
                writer.close()
                digest = writer.hexdigest()
                rec.bytes, rec.sha256 = writer.done, digest
                if rec.bytes:
                    rec.status = mf.PARTIAL
            rec.seconds += time.monotonic() - began
        self.sink.region_end(rec.filename, rec.status)
        if rec.status == mf.COMPLETE:
            log.debug("%s: %d bytes in %.2f s", rec.filename, rec.length, rec.seconds)

    def _stream(self, rec: RegionRecord, writer: RegionWriter) -> None:
        # Never a 16-byte request (plan_reads splits it;
        # docs/protocol.md#why-a-16-byte-request-is-never-sent), whatever the chunk size.
        requests = list(plan_reads(rec.base + writer.done, rec.length - writer.done,
                                   self.link.chunk))
        for i, (address, length) in enumerate(requests):
            if self.stop.flag.is_set():
                return
            # Ask for the next chunk before writing this one, so the device sends while the
            # host hashes and writes (one request in flight; same order as ever).
            ahead = requests[i + 1] if i + 1 < len(requests) else None
            data = self.link.read(rec, address, length, ahead)
            writer.write(data)
            self.folder.check_present()
            self.bytes_read += len(data)
            self.sink.advance(len(data))
            self._maybe_checkpoint(rec, writer)

    def _maybe_checkpoint(self, rec: RegionRecord, writer: RegionWriter) -> None:
        """Count the region's durable bytes in the manifest now and then."""
        done_then, time_then = self._checkpoint_at
        now = time.monotonic()
        if writer.done >= rec.length or (writer.done - done_then < CHECKPOINT_BYTES
                                         and now - time_then < CHECKPOINT_SECONDS):
            return
        writer.sync()
        digest = writer.hexdigest()
        rec.bytes, rec.sha256, rec.status = writer.done, digest, mf.PARTIAL
        self.save()
        self._checkpoint_at = (writer.done, now)
