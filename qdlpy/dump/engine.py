"""``qdlpy.pull``: every selected region saved safely, fast and resumably.

A pull goes through these steps, each in its own module:

1. the output folder is opened and locked, and on ``--resume`` its manifest read and
   checked (:mod:`.folder`, :mod:`.resume`, :mod:`.records`,
   docs/formats.md#pull-folder-safety);
2. the device is connected and handshaken (:mod:`.link`): the one the manifest names when
   resuming without a device option, refused if it is another one (:mod:`.resume`);
3. the region loop streams every selected region to disk (:mod:`.loop`), surviving stalls
   and disconnects, stopping politely on Ctrl-C, SIGTERM or SIGHUP (:mod:`.stop`);
4. finishing: minidump.elf from the saved regions, also when the pull stopped early
   (:mod:`.elf`), the device reset or left waiting, the manifest's last rewrite.

Failures keep everything already saved and never reset the device (that would lose the
dump); the folder's manifest.json always tells what was saved.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qdlpy.errors import (
    DeviceNak,
    DeviceNotFound,
    FolderLocked,
    InputError,
    Interrupted,
    InvalidArgument,
    OutputError,
    OutputExists,
    PartialDump,
    QdlpyError,
    TransportError,
)
from qdlpy.formats import manifest as mf
from qdlpy.formats.manifest import Manifest, utcnow
from qdlpy.progress import NullProgress, ProgressSink
from qdlpy.transport.base import Transport

from .elf import ElfNotBuilt, ElfOutcome, assemble_saved
from .folder import PullFolder
from .link import DeviceChoice, DeviceLink, resolve_chunk
from .logfile import RunLog, run_log
from .loop import RegionLoop, file_matches, verify_saved
from .records import apply_selection, check_names, check_selection, from_table, table_info
from .resume import check_same_device, read_manifest, remembered_device
from .stop import StopRequest

log = logging.getLogger("qdlpy.pull")

# Failures after which the complete regions are still assembled.
_STOPPED_EARLY = (Interrupted, DeviceNak, PartialDump, TransportError, DeviceNotFound)
# Failures after which --resume cannot help (the folder or the device must change first).
_NOT_RESUMABLE = (DeviceNak, InputError, OutputExists, FolderLocked)


@dataclasses.dataclass
class PullResult:
    """What a pull did; ``to_dict()`` is the ``qdlpy.pull/2`` summary."""

    output_dir: Path
    manifest: Manifest
    #: What became of the ELF in this run: the assembler's report, why there is none, or
    #: None when no assembly was attempted (--no-elf, or nothing to pull).
    assembly: ElfOutcome | None = None
    reconnects: int = 0
    retries: int = 0
    seconds: float = 0.0
    bytes_read: int = 0

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def regions(self) -> list[mf.RegionRecord]:
        return self.manifest.regions

    @property
    def elf(self) -> dict[str, Any] | None:
        """The ELF outcome as the manifest and the JSON summary record it."""
        return self.manifest.elf

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


def default_output_dir(label: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "device"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(f"qdlpy-{safe}-{stamp}")


def resume_command(folder: Path) -> str:
    """The command that continues the pull in ``folder``, as a user can paste it."""
    return shlex.join(["qdlpy", "pull", "-o", str(folder), "--resume"])


@dataclasses.dataclass(frozen=True)
class _Request:
    """What the caller asked for, checked before anything is touched."""

    device: DeviceChoice
    device_given: bool  # a transport, serial or USB path was named
    output: Path | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    resume: bool
    force: bool
    after: str | None
    chunk_size: int | None
    elf: bool
    report: bool  # dmesg.txt and report.json beside minidump.elf (qdlpy.triage)
    keep_going: bool


class _Pull:
    """One call of :func:`pull`: the steps of the module docstring, and their clean-up."""

    def __init__(self, request: _Request, sink: ProgressSink, stop: StopRequest) -> None:
        self.request, self.sink, self.stop = request, sink, stop
        self.folder: PullFolder | None = None
        self.previous: Manifest | None = None
        self.link: DeviceLink | None = None
        self.loop: RegionLoop | None = None
        self.started = time.monotonic()

    # ---- 1. the folder --------------------------------------------------------------------

    def _take(self, folder: PullFolder) -> None:
        """Lock ``folder`` for this pull and read what it holds. The checks run before the
        lock too, so a refused pull creates nothing (not even the lock file), and again
        after it, when no other pull can change the folder any more."""
        self.folder = folder
        folder.refuse_if_locked()
        self._admit(folder)
        folder.lock()
        self.previous = self._admit(folder)
        folder.remove_stale_temps()

    def _admit(self, folder: PullFolder) -> Manifest | None:
        if self.request.resume:
            previous = read_manifest(folder)
            check_names(previous)
            return previous
        if not folder.holds_files():
            return None
        if folder.exists(mf.NAME):
            raise OutputExists(f"{folder.path} already holds a qdlpy pull ({mf.NAME})"
                               + ("; --force would mix two dumps in one folder"
                                  if self.request.force else ""),
                               hint="continue it with --resume, or pull into another -o DIR")
        if not self.request.force:
            raise OutputExists(f"output folder {folder.path} is not empty")
        return None

    def _open_given_folder(self, logfile: RunLog) -> None:
        out = self.request.output
        if out is None:
            if self.request.resume:
                raise InvalidArgument("--resume needs the folder to resume: -o DIR")
            return
        folder = PullFolder.open_existing(out)
        if folder is None:
            if self.request.resume:
                raise OutputError(f"{out} has no {mf.NAME} to resume from",
                                  hint="pull into a new -o DIR")
            return
        self._adopt(folder, logfile)  # a resume's own failures belong in its log too

    def _create_folder(self, logfile: RunLog, link: DeviceLink) -> PullFolder:
        out = self.request.output or default_output_dir(link.transport.label())
        folder = PullFolder.create(out)
        self._adopt(folder, logfile)
        return folder

    def _adopt(self, folder: PullFolder, logfile: RunLog) -> None:
        """Take ``folder`` for this pull and log into it; closed again if it is refused."""
        try:
            self._take(folder)
        except BaseException:
            folder.close()
            self.folder = None
            raise
        logfile.attach(folder)

    def _already_complete(self) -> PullResult | None:
        """A resume of a finished pull whose files all still match: nothing to do."""
        previous, folder = self.previous, self.folder
        if previous is None or folder is None or previous.status != mf.OK:
            return None
        if any(r.status != mf.COMPLETE or not file_matches(folder, r) for r in previous.regions):
            return None
        log.info("%s already holds every selected region; nothing to pull", folder.path)
        return PullResult(folder.path, previous)

    # ---- 2. the device --------------------------------------------------------------------

    def _device(self) -> DeviceChoice:
        if self.previous is None or self.request.device_given:
            return self.request.device
        return remembered_device(self.previous, self.request.device)

    # ---- 3. the loop ----------------------------------------------------------------------

    def _selection(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """--region/--exclude as given. A resume without them continues the stopped pull
        with its own selection; after one that completed its selection, it pulls the
        regions that were left on the device."""
        r = self.request
        previous = self.previous
        if previous is None or r.include or r.exclude or previous.status == mf.OK:
            return r.include, r.exclude
        sel = previous.selection
        return tuple(sel.get("include", ())), tuple(sel.get("exclude", ()))

    def _make_loop(self, folder: PullFolder, link: DeviceLink) -> RegionLoop:
        previous = self.previous
        records = previous.regions if previous is not None else \
            from_table(link.table, folder.names())
        include, exclude = self._selection()
        apply_selection(records, include, exclude)
        ident = link.transport.identity()
        hello = link.table.hello
        manifest = Manifest(
            status=mf.RUNNING, started=utcnow(), transport=ident.transport,
            device={**ident.to_dict(), "sahara_version": hello.version, "mode": hello.mode},
            table=table_info(link.table), chunk_size=link.chunk, regions=records,
            selection={"include": list(include), "exclude": list(exclude)},
        )
        kept: dict[int, Any] = {}
        if previous is not None:
            manifest.warnings = list(previous.warnings)
            kept = verify_saved(folder, manifest)
        return RegionLoop(folder, link, manifest, self.sink, self.stop,
                          keep_going=self.request.keep_going, kept=kept)

    def run(self, logfile: RunLog) -> PullResult:
        self._open_given_folder(logfile)
        done = self._already_complete()
        if done is not None:
            return done
        self.link = link = DeviceLink(self._device(), self.request.chunk_size, self.stop)
        check_selection(link.table, *self._selection())  # before a folder is made for nothing
        if self.previous is not None:
            check_same_device(self.previous, link)
        folder = self.folder or self._create_folder(logfile, link)
        self.loop = loop = self._make_loop(folder, link)
        with self.stop.polite():
            try:
                loop.execute()
            finally:
                self.sink.end()
        return self._finish(folder, link, loop)

    # ---- 4. finishing ---------------------------------------------------------------------

    def _finish(self, folder: PullFolder, link: DeviceLink, loop: RegionLoop) -> PullResult:
        m = loop.manifest
        result = PullResult(folder.path, m, reconnects=link.reconnects, retries=link.retries,
                            bytes_read=loop.bytes_read)
        if self.request.elf:
            result.assembly = assemble_saved(folder, m, triage=self.request.report)
        skipped = [r for r in m.regions if r.status == mf.SKIPPED]
        after = self.request.after
        if after is None and skipped:
            log.info("%d regions were not selected: the device keeps waiting so they can "
                     "still be pulled (--after reset resets it anyway)", len(skipped))
        if after == "reset" or (after is None and not skipped):
            log.info("all regions saved; resetting the device (--after none keeps it waiting)")
            link.reset()
            m.after = "reset"
        else:
            m.after = "none"
        loop.save()
        result.seconds = time.monotonic() - self.started
        return result

    def after_failure(self, err: QdlpyError) -> None:
        """A pull that stopped: assemble what it saved, say where it is and how to go on."""
        loop = self.loop
        if loop is not None:
            if loop.manifest.after is None:
                loop.manifest.after = "none"  # failures never reset the device
            if self.request.elf and isinstance(err, _STOPPED_EARLY):
                try:
                    assemble_saved(loop.folder, loop.manifest, triage=self.request.report)
                except KeyboardInterrupt:  # asked again to stop: the regions are what count
                    again = self.stop.stopped_at_once()
                    loop.manifest.elf = ElfNotBuilt("error", str(again), again).to_dict()
            try:
                loop.save()
            except QdlpyError as save_err:
                log.error("could not update %s: %s", mf.NAME, save_err)
        self._add_details(err)

    def stopped_at_once(self, err: Interrupted) -> None:
        """A second signal, or one outside the region loop: record it and go."""
        loop = self.loop
        if loop is not None:
            if loop.manifest.status == mf.OK:  # only the ELF or the reset was left
                err.hint = (f"every region is saved: `qdlpy assemble {loop.folder.path}` "
                            "builds the ELF")
                loop.manifest.elf = ElfNotBuilt("error", str(err), err).to_dict()
                loop.manifest.after = loop.manifest.after or "none"
                loop.stopped(err, mf.OK)
            else:
                loop.stopped(err, "interrupted")
        self._add_details(err)

    def _add_details(self, err: QdlpyError) -> None:
        folder = self.folder
        try:
            saved = folder is not None and folder.exists(mf.NAME)
        except QdlpyError:
            saved = False
        if not saved or folder is None:
            return
        err.details.setdefault("output_dir", str(folder.path))
        err.details.setdefault("manifest_status",
                               self.loop.manifest.status if self.loop else "not started")
        if not isinstance(err, _NOT_RESUMABLE):
            err.details.setdefault("resume", resume_command(folder.path))

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
        if self.folder is not None:
            self.folder.close()


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
    or an already constructed Transport; with ``resume`` and no ``transport``, ``serial``
    or ``usb_path`` it is the device the folder's manifest names (another device is
    refused: DifferentDevice). ``regions``/``exclude``: globs; a resume without them
    continues a stopped pull with its own, or pulls what a completed selection left on the
    device. ``after``: "reset" or "none"; the default (None) resets once every
    region is saved and keeps the device waiting when ``regions``/``exclude`` left some
    behind (they could still be wanted). ``keep_going``: a region that keeps timing out is
    recorded as failed and the pull goes on with the next one, ending with PartialDump
    (exit 8) if any failed. ``elf``: assemble minidump.elf from the saved regions, also
    when the pull stops early. ``report``: with ``elf``, a kernel minidump also gets
    dmesg.txt and report.json (qdlpy.triage). ``interrupt``: an Event that stops the pull
    like Ctrl-C (from any thread; signals are handled only when called from the main
    thread).

    Raises a QdlpyError subclass on failure, whose ``details`` name the folder; the folder's
    manifest.json always tells what was saved.
    """
    if after not in (None, "reset", "none"):
        raise InvalidArgument(f"--after must be reset or none, not {after!r}")
    if chunk_size is not None:
        resolve_chunk(chunk_size, None)  # bad values fail before anything is touched
    choice = DeviceChoice(transport, serial, usb_path, timeout, io_timeout, hello_timeout)
    request = _Request(
        device=choice, device_given=any(v is not None for v in (transport, serial, usb_path)),
        output=Path(output) if output is not None else None, include=tuple(regions),
        exclude=tuple(exclude), resume=resume, force=force, after=after,
        chunk_size=chunk_size, elf=elf, report=report, keep_going=keep_going)
    stop = StopRequest(interrupt)
    job = _Pull(request, progress or NullProgress(), stop)
    with run_log() as logfile, stop.installed():
        try:
            return job.run(logfile)
        except KeyboardInterrupt:
            err = stop.stopped_at_once()
            job.stopped_at_once(err)
            raise err from None
        except QdlpyError as err:
            job.after_failure(err)
            raise
        finally:
            job.close()


__all__ = ["PullResult", "default_output_dir", "pull", "resume_command"]
