"""The watch loop: find devices, start pulls, turn what the pull threads report into events.

Everything that decides runs here, in the caller's thread (the one iterating
``qdlpy.watch``): device slots, folder names, counts and exit codes are never shared with
the pull threads, which only post messages (worker.Began, worker.Ended, hooks.HookDone).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from qdlpy.errors import Interrupted, OutputError, QdlpyError
from qdlpy.formats import manifest as mf
from qdlpy.transport import make_transport, parse_uri
from qdlpy.transport.base import Transport

from . import events as ev
from . import worker as wk
from .folders import folder_key, has_manifest, last_pull, new_dump_dir
from .hooks import HookDone, hook_environment, run_hook
from .options import (
    MAX_FRUITLESS_RESUMES,
    URI_PROBE_S,
    URI_RETRY_S,
    USB_POLL_S,
    WatchOptions,
)
from .slots import Plan, Slot, State
from .usbscan import UsbScanner

log = logging.getLogger("qdlpy.watch")

#: How long a USB device that was just seen may take to open (udev applying permissions,
#: ModemManager letting go).
USB_OPEN_WAIT_S = 5.0


def _uri_name(uri: str) -> str:
    scheme, rest, _ = parse_uri(uri)
    if scheme in ("serial", "chardev"):
        return Path(rest).name or scheme
    return rest or scheme


class Watcher:
    """One watch (see qdlpy.watch); ``events()`` runs it."""

    def __init__(self, options: WatchOptions, stop: threading.Event) -> None:
        self.opts = options
        self.stop = stop
        self.inbox: queue.Queue[object] = queue.Queue()
        self.slots: dict[str, Slot] = {}
        self.workers: dict[str, tuple[threading.Thread, wk.Attempt]] = {}
        self.trackers: dict[str, tuple[wk.Tracker, Path]] = {}
        self.rates: dict[str, tuple[float, int]] = {}
        self.hooks: list[threading.Thread] = []
        self.hooks_running = 0
        self.taken: set[Path] = set()
        self.finished: list[int] = []  # exit code of every pull that ended (0: complete)
        self.interrupted = 0
        self.usb = UsbScanner(*options.selectors(), options.backend) \
            if options.watches_usb else None
        self.next_usb = 0.0
        self.next_progress = time.monotonic() + options.progress_interval
        self.scans = 0

    # -- running ---------------------------------------------------------------------------

    def events(self) -> Generator[ev.WatchEvent, None, None]:
        try:
            self._prepare()
            while not self._over():
                yield from self._step()
            yield self._final()
        except GeneratorExit:
            self._shutdown(wait=True)  # the caller stopped iterating: stop pulls cleanly
            raise
        except BaseException:
            self._shutdown(wait=False)
            raise

    def _prepare(self) -> None:
        try:
            self.opts.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.opts.root}: {exc.strerror or exc}") from exc
        for uri in self.opts.uris:
            ref = self._uri_ref(uri)
            self._add_slot(ref, uri)

    def _uri_ref(self, uri: str) -> ev.DeviceRef:
        ident = make_transport(uri).identity()  # builds, never opens
        key = folder_key(ident.serial or ident.usb_path or _uri_name(uri))
        base, n = key, 1
        while key in self.slots:
            n += 1
            key = f"{base}-{n}"
        return ev.DeviceRef(key=key, transport=uri, serial=ident.serial,
                            usb_path=ident.usb_path)

    def _add_slot(self, ref: ev.DeviceRef, uri: str | None) -> Slot:
        slot = Slot(ref, uri, first_seen=time.monotonic())
        past = last_pull(self.opts.root, ref.key)
        if past is not None and past.unfinished:
            slot.resume_folder = past.folder
            log.info("%s: will continue the unfinished pull in %s", ref.key, past.folder)
        elif past is not None and past.left_waiting:
            slot.state, slot.folder, slot.gone_since_pull = State.DONE, past.folder, False
            log.info("%s: already pulled into %s (device left waiting); pulled again once it "
                     "has gone away", ref.key, past.folder)
        self.slots[ref.key] = slot
        return slot

    def _over(self) -> bool:
        busy = bool(self.workers or self.hooks_running)
        if self.stop.is_set():
            return not busy
        count = self.opts.count
        return count > 0 and len(self.finished) >= count and not busy

    def _step(self) -> list[ev.WatchEvent]:
        out: list[ev.WatchEvent] = []
        now = time.monotonic()
        if not self.stop.is_set():
            if self.usb is not None and now >= self.next_usb:
                self.next_usb = now + USB_POLL_S
                out += self._scan_usb()
            self._start_attempts(now)
        out += self._drain(min(0.25, self.opts.progress_interval))
        out += self._progress(time.monotonic())
        return out

    def _shutdown(self, wait: bool) -> None:
        self.stop.set()
        if not wait:
            return
        limit = self.opts.pull.io_timeout + 10
        for thread, _ in list(self.workers.values()):
            thread.join(limit)
        for thread in self.hooks:
            thread.join(limit)

    def _final(self) -> ev.WatchEvent:
        failed = [code for code in self.finished if code]
        if self.stop.is_set():
            status, code = mf.INTERRUPTED, Interrupted.exit_code
        else:
            status, code = (mf.ERROR, max(failed)) if failed else (mf.OK, 0)
        data = {"exit_code": code, "pulls": len(self.finished) + self.interrupted,
                "ok": self.finished.count(0), "error": len(failed)}
        return ev.WatchEvent(ev.WATCH_FINISHED, status=status, data=data)

    # -- devices ---------------------------------------------------------------------------

    def _scan_usb(self) -> list[ev.WatchEvent]:
        assert self.usb is not None
        try:
            found = self.usb.scan()
        except QdlpyError as exc:
            if not self.scans:
                raise  # no backend, no permission to enumerate: nothing can work
            log.warning("USB scan failed (%s); trying again", exc)
            return []
        self.scans += 1
        now = time.monotonic()
        out: list[ev.WatchEvent] = []
        for key, (ref, _info) in found.items():
            slot = self.slots.get(key)
            if slot is not None and slot.uri is not None:
                continue  # a --transport device that happens to share the name
            if slot is None:
                slot = self._add_slot(ref, None)
            slot.ref = ref
            if slot.seen(True, now):
                out.append(ev.WatchEvent(ev.DEVICE_SEEN, ref))
        for key, slot in self.slots.items():
            if slot.uri is None and key not in found and slot.seen(False, now):
                out.append(ev.WatchEvent(ev.DEVICE_GONE, slot.ref))
        return out

    def _running_pulls(self) -> int:
        return sum(1 for _, a in self.workers.values() if not a.probe_only)

    def _may_start(self, plan: Plan, slot: Slot) -> bool:
        limit = self.opts.max_parallel
        if limit and self._running_pulls() >= limit:
            return False
        if slot.state is State.PAUSED or not self.opts.count:
            return True  # a paused pull is continued whatever the count
        paused = sum(1 for s in self.slots.values() if s.state is State.PAUSED)
        return len(self.finished) + self._running_pulls() + paused < self.opts.count

    def _start_attempts(self, now: float) -> None:
        waiting = sorted((s for k, s in self.slots.items() if k not in self.workers),
                         key=lambda s: s.first_seen)
        for slot in waiting:
            if slot.uri is None and (not slot.present or slot.seen_at <= slot.ended_at):
                continue  # absent, or not looked at since its last pull ended
            plan = slot.plan(now)
            if plan is None:
                if slot.uri is not None and now >= slot.retry_at and not slot.gone_since_pull:
                    self._launch(slot, Plan(slot.folder, False), probe=True)
                continue
            if self._may_start(plan, slot):
                self._launch(slot, plan, probe=False)

    def _transport_factory(self, slot: Slot) -> Callable[[], Transport]:
        if slot.uri is not None:
            uri = slot.uri
            return lambda: make_transport(uri)
        from qdlpy.transport.usb import UsbTransport

        ref, backend = slot.ref, self.opts.backend
        by_serial = ref.serial is not None and folder_key(ref.serial) == ref.key

        def usb() -> Transport:
            if by_serial:
                return UsbTransport(serial=ref.serial, backend=backend)
            return UsbTransport(usb_path=ref.usb_path, backend=backend)

        return usb

    def _launch(self, slot: Slot, plan: Plan, probe: bool) -> None:
        key = slot.ref.key
        folder = plan.folder or self.opts.root / key
        if not probe and plan.folder is None:
            folder = new_dump_dir(self.opts.root, key, self.taken)
            self.taken.add(folder)
        attempt = wk.Attempt(key, slot.ref, folder, plan.resume, self._transport_factory(slot),
                             wait_open=0.0 if slot.uri is not None else USB_OPEN_WAIT_S,
                             probe_only=probe)
        thread = threading.Thread(target=wk.run_attempt, name=f"qdlpy-watch:{key}",
                                  args=(attempt, self.opts.pull, self.stop, self.inbox.put),
                                  daemon=True)
        self.workers[key] = (thread, attempt)
        thread.start()

    # -- what the threads report ------------------------------------------------------------

    def _drain(self, timeout: float) -> list[ev.WatchEvent]:
        out: list[ev.WatchEvent] = []
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return out
        while True:
            out += self._handle(message)
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return out

    def _handle(self, message: object) -> list[ev.WatchEvent]:
        if isinstance(message, wk.Began):
            return self._began(message)
        if isinstance(message, wk.Ended):
            return self._ended(message)
        if isinstance(message, HookDone):
            return self._hook_done(message)
        raise AssertionError(f"unexpected message {message!r}")

    def _presence(self, slot: Slot, present: bool) -> list[ev.WatchEvent]:
        """A --transport device was found there (or not): events when that changed."""
        if slot.uri is None or not slot.seen(present, time.monotonic()):
            return []
        return [ev.WatchEvent(ev.DEVICE_SEEN if present else ev.DEVICE_GONE, slot.ref)]

    def _began(self, msg: wk.Began) -> list[ev.WatchEvent]:
        slot = self.slots[msg.key]
        attempt = self.workers[msg.key][1]
        out = self._presence(slot, True)
        slot.started(attempt.folder)
        self.trackers[msg.key] = (msg.tracker, attempt.folder)
        self.rates[msg.key] = (time.monotonic(), msg.tracker.done)
        data = {"resume": attempt.resume, "total_bytes": msg.tracker.total,
                "regions": msg.tracker.regions}
        log.debug("%s: pull %s in %s", msg.key, "continues" if attempt.resume else "started",
                  attempt.folder)
        out.append(ev.WatchEvent(ev.PULL_STARTED, slot.ref, attempt.folder, data=data))
        return out

    def _ended(self, msg: wk.Ended) -> list[ev.WatchEvent]:
        del self.workers[msg.key]
        self.trackers.pop(msg.key, None)
        self.rates.pop(msg.key, None)
        slot, outcome, now = self.slots[msg.key], msg.outcome, time.monotonic()
        slot.ended_at = now
        if not has_manifest(msg.attempt.folder) or msg.attempt.probe_only:
            self.taken.discard(msg.attempt.folder)
        if msg.attempt.probe_only:
            slot.retry_at = now + URI_PROBE_S
            return self._presence(slot, outcome.kind == wk.PRESENT)
        if outcome.kind == wk.ABSENT:
            slot.retry_at = now + (URI_RETRY_S if slot.uri is not None else USB_POLL_S)
            log.debug("%s: not there (%s)", msg.key, outcome.error)
            return self._presence(slot, False)
        handlers = {wk.COMPLETE: self._complete, wk.PAUSED: self._paused,
                    wk.SUPERSEDED: self._superseded, wk.INTERRUPTED: self._interrupted}
        return handlers.get(outcome.kind, self._failed)(slot, msg)

    def _complete(self, slot: Slot, msg: wk.Ended) -> list[ev.WatchEvent]:
        result = msg.outcome.result
        assert result is not None
        slot.ended(State.DONE, reset=result.manifest.after == "reset")
        slot.fruitless_resumes = slot.bytes_at_pause = 0
        return self._finish(slot, msg.attempt.folder, mf.OK, 0, None, result)

    def _failed(self, slot: Slot, msg: wk.Ended) -> list[ev.WatchEvent]:
        err = msg.outcome.error or QdlpyError("the pull ended without a result")
        slot.ended(State.FAILED)
        slot.fruitless_resumes = slot.bytes_at_pause = 0
        folder = msg.attempt.folder if has_manifest(msg.attempt.folder) else None
        if folder is None:
            out = self._presence(slot, True)  # it answered: it is there, just not pullable
        else:
            out = []
        return out + self._finish(slot, folder, None, err.exit_code, err, None)

    def _paused(self, slot: Slot, msg: wk.Ended) -> list[ev.WatchEvent]:
        err = msg.outcome.error
        assert err is not None
        done = msg.tracker.done
        slot.fruitless_resumes = 0 if done > slot.bytes_at_pause else slot.fruitless_resumes + 1
        slot.bytes_at_pause = max(done, slot.bytes_at_pause)
        if slot.fruitless_resumes >= MAX_FRUITLESS_RESUMES:
            log.error("%s: %d resumes in a row brought no new data; giving up on %s",
                      msg.key, slot.fruitless_resumes, msg.attempt.folder)
            return self._failed(slot, msg)
        slot.ended(State.PAUSED)
        slot.folder, slot.last_error = msg.attempt.folder, err
        slot.retry_at = time.monotonic() + (URI_RETRY_S if slot.uri is not None else USB_POLL_S)
        log.debug("%s: device lost mid-pull (%s); %s is continued when it comes back",
                  msg.key, err, msg.attempt.folder)
        status = _manifest_status(msg.attempt.folder)
        return self._presence(slot, False) + [ev.WatchEvent(
            ev.PULL_PAUSED, slot.ref, msg.attempt.folder, status, error=err,
            data={"resumes": slot.fruitless_resumes})]

    def _superseded(self, slot: Slot, msg: wk.Ended) -> list[ev.WatchEvent]:
        """Continuing a folder failed: the device now holds another dump (a new crash)."""
        old = msg.attempt.folder
        log.warning("%s: the device now offers another dump than the one in %s; it is "
                    "pulled into a new folder", msg.key, old)
        was_paused = slot.state is State.PAUSED
        err = slot.last_error or msg.outcome.error
        slot.state, slot.resume_folder, slot.retry_at = State.NEW, None, 0.0
        slot.fruitless_resumes = slot.bytes_at_pause = 0
        if not was_paused or err is None:
            return []  # an earlier run's folder: it stays as it is
        return self._finish(slot, old, None, err.exit_code, err, None)

    def _interrupted(self, slot: Slot, msg: wk.Ended) -> list[ev.WatchEvent]:
        folder = msg.attempt.folder
        if not has_manifest(folder):
            return []
        slot.ended(State.PAUSED)
        self.interrupted += 1
        err = msg.outcome.error
        return [ev.WatchEvent(ev.PULL_FINISHED, slot.ref, folder, mf.INTERRUPTED, error=err,
                              data={"exit_code": Interrupted.exit_code,
                                    "summary": _summary(folder, None)})]

    def _finish(self, slot: Slot, folder: Path | None, status: str | None, code: int,
                err: QdlpyError | None, result: Any) -> list[ev.WatchEvent]:
        """A pull is over for good: count it, report it, run --exec."""
        self.finished.append(code)
        status = status or _manifest_status(folder) or mf.ERROR
        summary = result.to_dict() if result is not None else _summary(folder, err)
        log.debug("%s: pull over (%s) in %s", slot.ref.key, status, folder)
        event = ev.WatchEvent(ev.PULL_FINISHED, slot.ref, folder, status, error=err,
                              result=result, data={"exit_code": code, "summary": summary})
        if self.opts.exec_command:
            self._run_hook(slot, folder, status, code, err)
        return [event]

    def _run_hook(self, slot: Slot, folder: Path | None, status: str, code: int,
                  err: QdlpyError | None) -> None:
        command = self.opts.exec_command
        assert command is not None
        env = hook_environment(slot.ref, folder, status, code, err.message if err else None,
                               os.environ)
        thread = threading.Thread(target=run_hook, name=f"qdlpy-watch:{slot.ref.key}:exec",
                                  args=(command, env, slot.ref, folder, self.inbox.put),
                                  daemon=True)
        self.hooks.append(thread)
        self.hooks_running += 1
        thread.start()

    def _hook_done(self, msg: HookDone) -> list[ev.WatchEvent]:
        self.hooks_running -= 1
        self.hooks = [t for t in self.hooks if t.is_alive()]
        data = {"command": msg.command, "exit_code": msg.exit_code,
                "seconds": round(msg.seconds, 3), "output": msg.output}
        return [ev.WatchEvent(ev.EXEC_FINISHED, msg.ref, msg.folder,
                              "ok" if msg.exit_code == 0 else "error", data=data)]

    # -- progress ----------------------------------------------------------------------------

    def _progress(self, now: float) -> list[ev.WatchEvent]:
        if now < self.next_progress:
            return []
        self.next_progress = now + self.opts.progress_interval
        out = []
        for key, (tracker, folder) in self.trackers.items():
            then, before = self.rates.get(key, (now, tracker.done))
            done = tracker.done
            rate = (done - before) / (now - then) if now > then else 0.0
            self.rates[key] = (now, done)
            eta = round((tracker.total - done) / rate, 1) if rate > 0 else None
            data = {"bytes_done": done, "total_bytes": tracker.total,
                    "bytes_per_s": round(rate), "eta_s": eta, "region": tracker.region}
            out.append(ev.WatchEvent(ev.PROGRESS, self.slots[key].ref, folder, data=data))
        return out


def _manifest_status(folder: Path | None) -> str | None:
    if not has_manifest(folder):
        return None
    assert folder is not None
    try:
        return mf.Manifest.load(folder).status
    except QdlpyError:
        return None


def _summary(folder: Path | None, err: QdlpyError | None) -> dict[str, Any] | None:
    """What a folder holds (its manifest, as ``qdlpy pull --json`` reports a failed pull)."""
    if not has_manifest(folder):
        return None
    assert folder is not None
    try:
        body = mf.Manifest.load(folder).to_dict()
    except QdlpyError:
        return None
    body["output_dir"] = str(folder)
    if err is not None:
        body["error"] = err.to_dict()
    return body
