"""``qdlpy.pull``: every selected region saved safely, fast and resumably.

The loop, per region: stream MEMORY_READ chunks from the session's buffer straight into
NAME.part and its sha256, fsync, rename, rewrite the manifest. Failures keep everything
already saved and never reset the device (that would lose the dump):

* END_OF_IMAGE_TX instead of data: the region is marked failed with the decoded status;
  the device now accepts only RESET, so the pull stops (exit 6) and says so.
* a transfer timeout: drain, retry the same bytes in smaller requests
  (docs/protocol.md#how-pull-recovers), a bounded number of times.
* a disconnect: wait for the device (``timeout``), handshake again (the table must be the
  same), continue from the last complete chunk.
* Ctrl-C: finish the chunk, write the manifest as interrupted, release the device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qdlpy.atomic_write import write_atomic
from qdlpy.errors import (
    DeviceNak,
    DeviceNotFound,
    Disconnected,
    Interrupted,
    InvalidArgument,
    NoHello,
    NoSpace,
    OutputError,
    OutputExists,
    PartialDump,
    ProtocolError,
    QdlpyError,
    TransferTimeout,
    TransportError,
)
from qdlpy.formats import manifest as mf
from qdlpy.formats.manifest import Manifest, RegionRecord, utcnow
from qdlpy.formats.names import unique_names
from qdlpy.progress import NullProgress, ProgressSink
from qdlpy.protocols.constants import MAX_READ_SIZE
from qdlpy.protocols.host import plan_reads
from qdlpy.session import DumpTable, SaharaClient
from qdlpy.transport.base import Transport

from .logfile import run_log
from .writer import RegionWriter, file_sha256, hash_prefix

log = logging.getLogger("qdlpy.pull")

MIN_CHUNK = 512
RETRY_ATTEMPTS = 3  # per request, with shrinking sizes (docs/protocol.md#how-pull-recovers)
MAX_RECONNECTS = 8
SPACE_MARGIN = 16 * 1024 * 1024  # leave room for the manifest, log and ELF headers


@dataclasses.dataclass
class PullResult:
    """What a pull did; ``to_dict()`` is the ``qdlpy.pull/1`` summary."""

    output_dir: Path
    manifest: Manifest
    elf: dict[str, Any] | None = None
    reconnects: int = 0
    retries: int = 0
    seconds: float = 0.0
    bytes_read: int = 0

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def regions(self) -> list[RegionRecord]:
        return self.manifest.regions

    def to_dict(self) -> dict[str, Any]:
        d = self.manifest.to_dict()
        d["output_dir"] = str(self.output_dir)
        d["stats"] = {
            "seconds": round(self.seconds, 3),
            "bytes_read": self.bytes_read,
            "mb_per_s": round(self.bytes_read / self.seconds / 1e6, 2) if self.seconds else None,
            "reconnects": self.reconnects,
            "retries": self.retries,
        }
        return d


@dataclasses.dataclass
class _Options:
    transport: str | Transport | None
    serial: str | None
    usb_path: str | None
    timeout: float
    io_timeout: float
    chunk_size: int | None
    hello_timeout: float
    keep_going: bool = False


class _Interrupt:
    """First Ctrl-C: finish the current chunk and stop cleanly; a second one: stop now."""

    def __init__(self, external: threading.Event | None) -> None:
        self.flag = external or threading.Event()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            if self.flag.is_set():
                raise KeyboardInterrupt
            log.warning("interrupt: finishing the current chunk, then saving state "
                        "(press Ctrl-C again to stop at once)")
            self.flag.set()

        old = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)


def _connect(opts: _Options) -> Transport:
    from qdlpy.transport import connect

    return connect(opts.transport, serial=opts.serial, usb_path=opts.usb_path,
                   timeout=opts.timeout)


def _client(t: Transport, opts: _Options) -> SaharaClient:
    return SaharaClient(t, data_timeout=opts.io_timeout, hello_timeout=opts.hello_timeout)


def _matches(rec: RegionRecord, patterns: Sequence[str]) -> bool:
    names = {rec.filename, rec.raw_filename, rec.description,
             rec.filename.rsplit(".", 1)[0], rec.raw_filename.rsplit(".", 1)[0]}
    return any(fnmatch.fnmatch(n.lower(), p.lower()) for n in names for p in patterns)


def _check_selection(table: DumpTable, include: Sequence[str], exclude: Sequence[str]) -> None:
    """A --region/--exclude choice that leaves nothing to pull is a mistake, not a pull."""
    if not include and not exclude:
        return
    records = _records(table)
    if any((not include or _matches(r, include)) and not (exclude and _matches(r, exclude))
           for r in records):
        return
    names = ", ".join(r.filename for r in records)
    what = " ".join([*(f"--region {p}" for p in include), *(f"--exclude {p}" for p in exclude)])
    raise InvalidArgument(f"{what} selects none of the device's {len(records)} regions: {names}",
                          hint="globs match a region's file name or description, ignoring "
                               "case (see `qdlpy regions`)")


def _records(table: DumpTable, existing: Sequence[str] = ()) -> list[RegionRecord]:
    names = unique_names([(r.filename or r.description, r.position) for r in table.regions],
                         existing)
    out = []
    for r, name in zip(table.regions, names):
        n = r.name
        out.append(RegionRecord(
            position=r.position, filename=name, raw_filename=r.filename,
            description=r.description, base=r.base, length=r.length, save_pref=r.save_pref,
            kind=n.kind.value, region_id=n.id, raw_filename_hex=r.raw_filename.hex(),
            raw_description_hex=r.raw_description.hex(),
        ))
    return out


def _table_info(table: DumpTable) -> dict[str, Any]:
    return {
        "address": f"0x{table.address:x}",
        "length": len(table.raw),
        "is64": table.is64,
        "entry_size": 64 if table.is64 else 52,
        "entries": len(table.regions),
        "sha256": hashlib.sha256(table.raw).hexdigest(),
    }


def _resolve_chunk(chunk_size: int | None, t: Transport | None) -> int:
    if chunk_size is None:
        return t.default_chunk_size if t is not None else 512 * 1024
    if not MIN_CHUNK <= chunk_size <= MAX_READ_SIZE:
        raise InvalidArgument(
            f"--chunk-size must be between {MIN_CHUNK} and {MAX_READ_SIZE} bytes (1 MiB cap: "
            f"the device keeps read lengths in 32 bits), not {chunk_size}")
    return chunk_size


def default_output_dir(label: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "device"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(f"qdlpy-{safe}-{stamp}")


def _prepare_folder(output: Path | None, resume: bool, force: bool) -> Manifest | None:
    """Check the output folder before touching the device. Returns the manifest to resume."""
    if output is None:
        if resume:
            raise InvalidArgument("--resume needs the folder to resume: -o DIR")
        return None
    try:
        if output.exists() and not output.is_dir():
            raise OutputError(f"{output} exists and is not a folder")
        non_empty = output.is_dir() and any(output.iterdir())
    except OSError as exc:
        raise OutputError(f"cannot use {output}: {exc.strerror or exc}") from exc
    if resume:
        if not (output / mf.NAME).is_file():
            raise OutputError(f"{output} has no {mf.NAME} to resume from",
                              hint="pull into a new -o DIR (or --force to add to this one)")
        return Manifest.load(output)
    if non_empty and not force:
        raise OutputExists(f"output folder {output} is not empty")
    if force and (output / mf.NAME).is_file():
        raise OutputExists(f"{output} already holds a qdlpy pull ({mf.NAME}); --force would "
                           "mix two dumps in one folder",
                           hint="continue it with --resume, or pull into another -o DIR")
    return None


def _file_matches(folder: Path, rec: RegionRecord) -> bool:
    """A complete region's file is still there with the manifest's size and sha256."""
    final = folder / rec.filename
    return final.is_file() and final.stat().st_size == rec.length and \
        file_sha256(final) == rec.sha256


def _already_complete(folder: Path, previous: Manifest) -> bool:
    """A resume of a finished pull whose files all still match: nothing to do."""
    if previous.status != "complete" or any(r.status != mf.COMPLETE for r in previous.regions):
        return False
    return all(_file_matches(folder, rec) for rec in previous.regions)


def _free_space(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def pull(
    transport: str | Transport | None = None,
    *,
    serial: str | None = None,
    usb_path: str | None = None,
    output: str | os.PathLike[str] | None = None,
    regions: Sequence[str] = (),
    exclude: Sequence[str] = (),
    resume: bool = False,
    force: bool = False,
    after: str | None = None,
    chunk_size: int | None = None,
    timeout: float = 60.0,
    io_timeout: float = 30.0,
    hello_timeout: float = 1.0,
    elf: bool = True,
    report: bool = True,
    keep_going: bool = False,
    progress: ProgressSink | None = None,
    interrupt: threading.Event | None = None,
) -> PullResult:
    """Pull every selected region of a crash-dump device into a folder (see module doc).

    ``transport`` is a URI (``usb`` by default, ``tcp:HOST:PORT``, ``sim:kmemdump``, ...)
    or an already constructed Transport. ``after``: "reset" or "none"; the default
    (None) resets once every region is saved and keeps the device waiting when
    ``regions``/``exclude`` left some behind (they could still be wanted). ``keep_going``:
    a region that keeps timing out is recorded as failed and the pull goes on with the
    next one, ending with PartialDump (exit 8) if any failed. ``report``: with ``elf``, a
    kernel minidump also gets dmesg.txt and report.json (qdlpy.triage). Raises a
    QdlpyError subclass on failure, whose ``details`` name the folder; the folder's
    manifest.json always tells what was saved.
    """
    if after not in (None, "reset", "none"):
        raise InvalidArgument(f"--after must be reset or none, not {after!r}")
    if chunk_size is not None:
        _resolve_chunk(chunk_size, None)  # bad values fail before anything is touched
    opts = _Options(transport, serial, usb_path, timeout, io_timeout, chunk_size, hello_timeout,
                    keep_going)
    out = Path(output) if output is not None else None
    previous = _prepare_folder(out, resume, force)
    if previous is not None and out is not None and _already_complete(out, previous):
        log.info("%s already holds every selected region; nothing to pull", out)
        return PullResult(out, previous, elf=previous.elf)
    sink: ProgressSink = progress or NullProgress()
    stop = _Interrupt(interrupt)
    started = time.monotonic()
    with run_log() as logfile:
        if previous is not None and out is not None:
            logfile.attach(out / "qdlpy.log")  # a resume's own failures belong there too
        t = _connect(opts)
        run: _Run | None = None
        try:
            client = _client(t, opts)
            table = client.open_memory_debug()
            _check_selection(table, regions, exclude)  # before a folder is made for nothing
            if out is None:
                out = default_output_dir(t.label())
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from exc
            logfile.attach(out / "qdlpy.log")
            with stop.installed():
                run = _Run(opts, out, t, client, table, sink, stop, previous, regions, exclude)
                try:
                    run.execute()
                finally:
                    sink.end()
                result = PullResult(out, run.manifest, reconnects=run.reconnects,
                                    retries=run.retries, bytes_read=run.bytes_read)
                if elf and run.manifest.status == "complete":
                    result.elf = _assemble(out, run.manifest, triage=report)
                skipped = [r for r in run.manifest.regions if r.status == mf.SKIPPED]
                if run.manifest.status == "complete" and after is None and skipped:
                    log.info("%d regions were not selected: the device keeps waiting so they "
                             "can still be pulled (--after reset resets it anyway)", len(skipped))
                if run.manifest.status == "complete" and (
                        after == "reset" or (after is None and not skipped)):
                    log.info("all regions saved; resetting the device "
                             "(--after none keeps it waiting)")
                    run.client.reset()
                    run.manifest.after = "reset"
                else:
                    run.manifest.after = "none"
                run.manifest.save(out)
                result.seconds = time.monotonic() - started
                return result
        except QdlpyError as err:
            if out is not None and (out / mf.NAME).is_file():
                err.details.setdefault("output_dir", str(out))
                err.details.setdefault("manifest_status",
                                       run.manifest.status if run else "not started")
                if not isinstance(err, DeviceNak):  # after a NAK the device is done
                    err.details.setdefault("resume", f"qdlpy pull -o {out} --resume")
            raise
        finally:
            if run is not None and run.manifest.after is None:
                run.manifest.after = "none"  # failures never reset the device
                with contextlib.suppress(QdlpyError):
                    run.manifest.save(run.out)
            opened = [t] if run is None or run.t is t else [t, run.t]  # run.t: after reconnects
            for each in opened:
                with contextlib.suppress(Exception):
                    each.close()


def _assemble(folder: Path, manifest: Manifest, *, triage: bool = True) -> dict[str, Any] | None:
    """Build minidump.elf (and the small group ELFs) when the dump has minidump regions.

    A full dump's ELF would copy every DDR byte a second time, so pull leaves it to
    ``qdlpy assemble`` and says so; crash can also read the raw files directly.
    ``triage``: for a kernel minidump also write dmesg.txt and report.json beside it.
    """
    done = [r for r in manifest.regions if r.status == mf.COMPLETE]
    if not any(r.kind in ("kernel", "subsystem") for r in done):
        if any(r.kind == "fulldump" for r in done):
            manifest.elf = {
                "status": "skipped",
                "reason": f"full dump: `qdlpy assemble {folder}` builds minidump-fulldump.elf "
                          "(a second copy of every region); crash also reads the raw files",
            }
        return manifest.elf
    from qdlpy.assemble import assemble

    try:
        report = assemble(folder, skip_groups=("fulldump",))
    except QdlpyError as exc:
        log.warning("ELF assembly failed: %s (the region files are complete; run "
                    "`qdlpy assemble %s` after fixing)", exc, folder)
        manifest.elf = {"status": "error", "error": exc.to_dict()}
        manifest.warnings.append(f"ELF assembly failed: {exc}")
        return manifest.elf
    manifest.elf = report.to_dict()
    if triage and report.kernel is not None:
        from qdlpy.triage.pullfiles import write_triage

        manifest.elf["triage"] = write_triage(folder, manifest.to_dict())
    return manifest.elf


class _Run:
    """One pull's mutable state (kept out of pull() to keep each step readable)."""

    def __init__(self, opts: _Options, out: Path, t: Transport, client: SaharaClient,
                 table: DumpTable, sink: ProgressSink, stop: _Interrupt,
                 previous: Manifest | None, include: Sequence[str],
                 exclude: Sequence[str]) -> None:
        self.opts, self.out, self.t, self.client, self.table = opts, out, t, client, table
        self.sink, self.stop = sink, stop
        self.chunk = _resolve_chunk(opts.chunk_size, t)
        self.reconnects = self.retries = self.bytes_read = 0
        self._resume_hash: dict[int, Any] = {}  # position -> sha256 of a kept .part prefix
        existing = [p.name for p in out.iterdir()] if previous is None else []
        records = _records(table, existing)
        if previous is not None:
            self._check_same_dump(previous, table)
            records = previous.regions
        for rec in records:
            selected = (not include or _matches(rec, include)) and not (exclude and _matches(rec, exclude))
            if not selected and rec.status != mf.COMPLETE:
                rec.status = mf.SKIPPED
            elif selected and rec.status == mf.SKIPPED:
                rec.status = mf.PENDING
        ident = t.identity()
        self.manifest = Manifest(
            status="running", started=utcnow(), transport=ident.transport,
            device={**ident.to_dict(), "sahara_version": table.hello.version,
                    "mode": table.hello.mode},
            table=_table_info(table), chunk_size=self.chunk, regions=records,
            selection={"include": list(include), "exclude": list(exclude)},
        )
        if previous is not None:
            self.manifest.warnings = list(previous.warnings)

    @staticmethod
    def _check_same_dump(previous: Manifest, table: DumpTable) -> None:
        if previous.table.get("sha256") != _table_info(table)["sha256"]:
            raise OutputExists(
                "the device now offers a different region table than the one in this folder's "
                "manifest: it is another device or another crash",
                hint="pull into a new -o DIR; the files here are kept")

    # ---- the loop ---------------------------------------------------------------------

    def execute(self) -> None:
        m = self.manifest
        self._verify_existing()
        todo = [r for r in m.regions if r.status not in (mf.COMPLETE, mf.SKIPPED)]
        need = sum(r.length - r.bytes for r in todo)
        free = _free_space(self.out)
        if need + SPACE_MARGIN > free:
            m.status = "failed"
            err = NoSpace(f"the selected regions need {need} bytes but {self.out} has {free} "
                          "bytes free")
            m.error = err.to_dict()
            m.save(self.out)
            raise err
        write_atomic(self.out / "table.bin", self.table.raw)
        from qdlpy.formats.dumpinfo import write_dump_info

        write_atomic(self.out / "dump_info.txt", write_dump_info(m.regions).encode())
        m.save(self.out)
        self.sink.begin(sum(r.length for r in m.regions if r.status != mf.SKIPPED),
                        sum(1 for r in m.regions if r.status != mf.SKIPPED))
        for rec in m.regions:
            if rec.status == mf.SKIPPED:
                continue
            if rec.status == mf.COMPLETE:
                self.sink.region_start(rec.filename, rec.length, rec.length)
                self.sink.region_end(rec.filename, mf.COMPLETE)
                continue
            if self.stop.flag.is_set():
                self._interrupted()
            try:
                self._pull_region(rec)
            except TransferTimeout as err:
                if not self.opts.keep_going:
                    self._stopped(self._stop_status(), err)
                    raise
                self._fail(rec, err)  # --keep-going: record it and go on with the next region
                self.client.abandon()
                m.save(self.out)
                continue
            except QdlpyError as err:
                if isinstance(err, DeviceNak):
                    self._fail(rec, err)
                    err.hint = (
                        f"the device refused to read {rec.filename} and now accepts only RESET "
                        "(which reboots it), so this dump cannot be resumed; every region "
                        f"read before is saved in {self.out}. Next time, pull the others "
                        f"first or skip it: --exclude '{rec.filename}'")
                self._stopped(self._stop_status(), err)
                raise
            except BaseException as exc:  # a second Ctrl-C, or a bug: the manifest still tells
                why: QdlpyError = Interrupted("interrupted at once (second Ctrl-C)") \
                    if isinstance(exc, KeyboardInterrupt) else \
                    QdlpyError(f"internal error: {type(exc).__name__}: {exc}")
                self._stopped("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                              why)
                raise
            m.save(self.out)
            if self.stop.flag.is_set() and rec.status != mf.COMPLETE:
                self._interrupted()
        failed = [r.filename for r in m.regions if r.status in (mf.FAILED, mf.PARTIAL)]
        if failed:
            partial = PartialDump(f"{len(failed)} region(s) could not be read: "
                                  f"{', '.join(failed)}; every other region is saved")
            self._stopped("partial", partial)
            raise partial
        m.status = "complete"
        m.finished = utcnow()
        m.save(self.out)

    def _stop_status(self) -> str:
        """How a pull that stops now is recorded: partial if anything was saved."""
        return "partial" if any(r.status == mf.COMPLETE for r in self.manifest.regions) \
            else "failed"

    def _stopped(self, status: str, err: QdlpyError) -> None:
        """Record why the pull stopped; a failing disk must not hide the original error."""
        m = self.manifest
        m.status, m.error, m.finished = status, err.to_dict(), utcnow()
        m.after = "none"  # failures never reset the device
        try:
            m.save(self.out)
        except QdlpyError as save_err:
            log.error("could not update %s: %s", mf.NAME, save_err)

    def _interrupted(self) -> None:
        m = self.manifest
        m.status = "interrupted"
        m.finished = utcnow()
        err = Interrupted("interrupted: every complete region and chunk is saved")
        m.error = err.to_dict()
        m.save(self.out)
        raise err

    def _fail(self, rec: RegionRecord, err: QdlpyError) -> None:
        rec.status = mf.FAILED if rec.bytes == 0 else mf.PARTIAL
        rec.error = err.to_dict()
        log.error("%s", err if rec.filename in err.message else f"{rec.filename}: {err}")
        self.sink.region_end(rec.filename, rec.status)

    def _verify_existing(self) -> None:
        """On resume: trust a region only if its file matches the manifest (size and sha256).

        The hash of a partial region's kept bytes is handed on to its writer, so a region
        stopped gigabytes in is read once, not twice, before the first request.
        """
        for rec in self.manifest.regions:
            part = self.out / (rec.filename + ".part")
            if rec.status == mf.COMPLETE:
                if not _file_matches(self.out, rec):
                    self.manifest.warnings.append(
                        f"{rec.filename}: file missing or changed since the manifest; pulled again")
                    rec.status, rec.bytes, rec.sha256 = mf.PENDING, 0, None
            elif rec.bytes:
                ok = part.is_file() and part.stat().st_size >= rec.bytes
                if ok:
                    h, n = hash_prefix(part, rec.bytes)
                    ok = n == rec.bytes and h.hexdigest() == rec.sha256
                    if ok:
                        self._resume_hash[rec.position] = h
                if not ok:
                    rec.bytes, rec.sha256 = 0, None
                rec.status = mf.PENDING
            elif rec.status not in (mf.SKIPPED,):
                rec.status = mf.PENDING

    def _pull_region(self, rec: RegionRecord) -> None:
        began = time.monotonic()
        writer = RegionWriter(self.out, rec.filename, resume_from=rec.bytes,
                              resume_hash=self._resume_hash.pop(rec.position, None))
        self.sink.region_start(rec.filename, rec.length, writer.done)
        # Never a 16-byte request (plan_reads splits it;
        # docs/protocol.md#why-a-16-byte-request-is-never-sent), whatever the chunk size.
        requests = list(plan_reads(rec.base + writer.done, rec.length - writer.done, self.chunk))
        try:
            for i, (address, length) in enumerate(requests):
                if self.stop.flag.is_set():
                    break
                # Ask for the next chunk before writing this one, so the device sends while
                # the host hashes and writes (one request in flight; same order as ever).
                ahead = requests[i + 1] if i + 1 < len(requests) else None
                data = self._read_with_recovery(rec, address, length, ahead)
                writer.write(data)
                self.bytes_read += len(data)
                self.sink.advance(len(data))
            if writer.done >= rec.length:
                rec.sha256 = writer.finish()
                rec.status = mf.COMPLETE
            else:
                writer.close()
                rec.sha256 = writer.hexdigest()
                rec.status = mf.PARTIAL
            rec.bytes = writer.done
        except QdlpyError:
            # Whatever reached the disk in whole chunks stays; the manifest says how much.
            writer.close()
            rec.sha256 = writer.hexdigest()
            rec.bytes = writer.done
            if rec.bytes:
                rec.status = mf.PARTIAL
            rec.seconds += time.monotonic() - began
            raise
        rec.seconds += time.monotonic() - began
        self.sink.region_end(rec.filename, rec.status)
        if rec.status == mf.COMPLETE:
            log.debug("%s: %d bytes in %.2f s", rec.filename, rec.length, rec.seconds)

    def _read_with_recovery(self, rec: RegionRecord, address: int, length: int,
                            ahead: tuple[int, int] | None = None) -> memoryview:
        """Read [address, address+length) completely, surviving stalls and disconnects."""
        attempt = 0
        reconnects = 0
        while True:
            try:
                data = self._read_exact(rec, address, length, attempt, ahead)
                if attempt and self.t.drain(quiet=self.client.idle_timeout):
                    # Bytes after a retried read: the device was still sending the old
                    # answer, so this one may be misaligned. Never keep it.
                    raise TransferTimeout(f"{rec.filename}: stale data after a retry at "
                                          f"0x{address:x}")
                return data
            except TransferTimeout as exc:
                attempt += 1
                self.retries += 1
                if attempt >= RETRY_ATTEMPTS:
                    raise TransferTimeout(
                        f"{rec.filename}: no data at 0x{address:x} after {attempt} attempts "
                        f"with smaller requests ({exc})",
                        hint="check the cable/hub; the device still holds the dump: run the "
                             "same command with --resume") from exc
                log.warning("%s: read at 0x%x timed out; retrying with smaller requests",
                            rec.filename, address)
                self.client.abandon()
            except Disconnected as exc:
                reconnects += 1
                if reconnects > MAX_RECONNECTS:
                    raise
                log.warning("%s: device disconnected (%s); waiting for it to come back",
                            rec.filename, exc)
                self._reconnect()

    def _read_exact(self, rec: RegionRecord, address: int, length: int,
                    attempt: int, ahead: tuple[int, int] | None = None) -> memoryview:
        """One request, or smaller ones on retries (512K -> 64K -> 4K,
        docs/protocol.md#how-pull-recovers)."""
        where = f"region {rec.filename}"
        if attempt == 0:
            return self.client.read_chunk(address, length, context=where, ahead=ahead)
        piece = (self.chunk, max(4096, self.chunk // 8), 4096)[min(attempt, 2)]
        if piece >= length:
            return self.client.read_chunk(address, length, context=where)
        out = bytearray()
        for a, n in plan_reads(address, length, piece):
            out += self.client.read_chunk(a, n, context=where)
        return memoryview(out)

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.t.close()
        deadline = None if self.opts.timeout == 0 else time.monotonic() + self.opts.timeout
        while True:
            t: Transport | None = None
            try:
                t = _connect(dataclasses.replace(
                    self.opts, timeout=max(0.5, (deadline - time.monotonic()) if deadline else 0)))
                client = _client(t, self.opts)
                table = client.open_memory_debug()
                self.t, self.client = t, client
                break
            except (Disconnected, TransportError, DeviceNotFound, NoHello) as exc:
                if t is not None:
                    with contextlib.suppress(Exception):
                        t.close()  # a half-open device must not stay claimed (EBUSY next time)
                if deadline is not None and time.monotonic() > deadline:
                    raise Disconnected(
                        f"the device did not come back within {self.opts.timeout:g} s ({exc})",
                        hint="everything pulled so far is saved: reconnect the device and run "
                             "the same command with --resume") from exc
                time.sleep(0.25)
        if table.raw != self.table.raw:
            raise ProtocolError("after reconnecting, the device offers a different region "
                                "table: it is not the same dump",
                                hint="the regions saved so far are kept; pull the new dump "
                                     "into another -o DIR")
        self.reconnects += 1
        log.info("device is back (reconnect %d); continuing", self.reconnects)



__all__ = ["PullResult", "default_output_dir", "pull"]
