"""``qdlpy.load``: upload a programmer (and more images) in image-transfer mode
(docs/protocol.md#image-transfer).

The device drives: it sends READ_DATA / READ_DATA_64 (image id, offset, length) in
whatever order its parser needs, the host writes exactly those bytes, the device ends
each image with END_OF_IMAGE_TX, the host answers DONE and DONE_RESP says whether more
images follow. The host never parses an image (ELF or MBN alike,
docs/protocol.md#serving-image-bytes): it serves bytes by offset and bounds-checks every request
against the file, so a request past the end is a clear error naming the image and the range, never
padding (edl pads with 0xFF, docs/protocol.md#serving-image-bytes) and never a silent short write.

A DONE_RESP "pending" after the only image is tolerated (the MSM8916-class PBL quirk,
docs/protocol.md#image-ids-and-the-pending-quirk); with several images the host keeps serving until
the device says complete.

Crash-dump devices (HELLO mode 2) are refused: a programmer boots over the dump. A lost
HELLO is re-provoked with SWITCH_MODE(2), which an EDL device waiting for HELLO_RESP just
answers with its HELLO (mode 0) and a dump device left mid-session answers with mode 2,
so a dump is never switched into image transfer by accident
(docs/protocol.md#re-provoking-a-lost-hello).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import struct
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from qdlpy.errors import Disconnected, InputError, InvalidArgument, TransferTimeout, WrongMode
from qdlpy.progress import NullProgress, ProgressSink
from qdlpy.protocols.constants import MAX_READ_SIZE, ImageTxStatus, Mode
from qdlpy.session import open_session
from qdlpy.transport.base import DeviceIdentity, Transport

log = logging.getLogger("qdlpy.load")

# EHOSTDL: the Firehose programmer's image id (docs/protocol.md#image-ids-and-the-pending-quirk)
PROGRAMMER_ID = 13
MAX_IMAGE_ID = 0xFFFF_FFFF


@dataclasses.dataclass
class ImageRecord:
    """One image the host offers and what the device took of it."""

    image_id: int
    path: Path
    size: int
    expected: int  # bytes the device will probably ask for (progress estimate only)
    bytes_sent: int = 0
    requests: int = 0
    status: str = "not-requested"  # not-requested, transferring, complete, failed

    def to_dict(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "path": str(self.path), "size": self.size,
                "bytes_sent": self.bytes_sent, "requests": self.requests,
                "status": self.status}


@dataclasses.dataclass
class LoadResult:
    """What ``load`` did; ``to_dict()`` is the body of ``qdlpy.load/1``."""

    identity: DeviceIdentity
    sahara_version: int
    images: list[ImageRecord]
    done_status: str  # "complete" or "pending-tolerated"
    seconds: float
    reprovoked: int

    @property
    def bytes_sent(self) -> int:
        return sum(i.bytes_sent for i in self.images)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "device": {**self.identity.to_dict(), "sahara_version": self.sahara_version},
            "images": [i.to_dict() for i in self.images],
            "done_status": self.done_status,
            "stats": {"seconds": round(self.seconds, 3), "bytes_sent": self.bytes_sent,
                      "mb_per_s": round(self.bytes_sent / self.seconds / 1e6, 2)
                      if self.seconds else None},
            "hello_reprovoked": self.reprovoked,
        }


def expected_bytes(head: bytes, size: int) -> int:
    """What a device parsing this image will ask for, for the progress bar only.

    ELF: headers + program headers + PT_LOAD file bytes (what the edl scenario and PBLs
    read); anything else: the whole file. Never used to decide what to send.
    """
    try:
        if head[:4] != b"\x7fELF" or head[5] != 1:
            return size
        if head[4] == 2:
            phoff, = struct.unpack_from("<Q", head, 0x20)
            entsize, num = struct.unpack_from("<HH", head, 0x36)
            fmt, ehdr = "<IIQQQQ", 0x34 + 0x40
        else:
            phoff, = struct.unpack_from("<I", head, 0x1C)
            entsize, num = struct.unpack_from("<HH", head, 0x2A)
            fmt, ehdr = "<IIIIII", 0x34
        total = ehdr + entsize * num
        for i in range(num):
            fields = struct.unpack_from(fmt, head, phoff + i * entsize)
            p_type, filesz = fields[0], fields[5] if head[4] == 2 else fields[4]
            if p_type == 1:
                total += filesz
        return min(total, size) if total else size
    except (struct.error, IndexError):
        return size


def _check_id(image_id: int) -> int:
    if not 0 <= image_id <= MAX_IMAGE_ID:
        raise InvalidArgument(f"image id {image_id} is out of range (0..{MAX_IMAGE_ID})")
    return image_id


def plan_images(programmer: str | os.PathLike[str] | None,
                images: Iterable[tuple[int, str | os.PathLike[str]]] = (), *,
                programmer_id: int = PROGRAMMER_ID) -> list[ImageRecord]:
    """Validate the image map (ids distinct, files readable, non-empty) before any I/O."""
    pairs: list[tuple[int, Path]] = []
    if programmer is not None:
        pairs.append((_check_id(programmer_id), Path(programmer)))
    pairs += [(_check_id(int(i)), Path(p)) for i, p in images]
    if not pairs:
        raise InvalidArgument("nothing to load: give a programmer file or --image ID:FILE")
    records: list[ImageRecord] = []
    seen: set[int] = set()
    for image_id, path in pairs:
        if image_id in seen:
            raise InvalidArgument(f"image id {image_id} is given twice",
                                  hint="each id maps to one file (--image ID:FILE)")
        seen.add(image_id)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                head = f.read(64 * 1024)
        except IsADirectoryError:
            raise InvalidArgument(f"image {image_id}: {path} is a folder, not a file") from None
        except OSError as exc:
            raise InvalidArgument(f"image {image_id}: cannot read {path}: "
                                  f"{exc.strerror or exc}") from exc
        if size == 0:
            raise InvalidArgument(f"image {image_id}: {path} is empty")
        records.append(ImageRecord(image_id, path, size, expected_bytes(head, size)))
    return records


class _Server:
    """Answers the device's requests from the open image files (bounds-checked)."""

    def __init__(self, records: list[ImageRecord], files: dict[int, BinaryIO],
                 progress: ProgressSink) -> None:
        self.records = {r.image_id: r for r in records}
        self.files = files
        self.progress = progress
        self.current: ImageRecord | None = None

    def provide(self, image_id: int, offset: int, length: int) -> Iterator[bytes]:
        """Check the request, then return an iterator over its bytes in pieces of at most
        MAX_READ_SIZE: a request may be up to 4 GiB (u32 length,
        docs/protocol.md#serving-image-bytes), so it is never read into memory at once. The checks
        run before anything is sent."""
        rec = self.records.get(image_id)
        if rec is None:
            self.finish("complete")  # the device moved on: the previous image was accepted
            given = ", ".join(str(i) for i in self.records)
            raise InvalidArgument(
                f"the device asks for image {image_id} (bytes 0x{offset:x}-0x{offset + length:x}),"
                f" which was not given (images given: {given})",
                hint=f"add --image {image_id}:FILE with the file the device expects for that id")
        end = offset + length
        if end > rec.size:
            rec.status = "failed"
            raise InputError(
                f"the device asks for bytes 0x{offset:x}-0x{end:x} of image {image_id}, but "
                f"{rec.path.name} has only 0x{rec.size:x} ({rec.size}) bytes",
                hint=f"is {rec.path} the right file for image {image_id}? The device parses "
                     "the image itself: a truncated file or one in the wrong format makes it "
                     "read past the end")
        self._switch_to(rec)
        return self._pieces(rec, offset, length)

    def _pieces(self, rec: ImageRecord, offset: int, length: int) -> Iterator[bytes]:
        fd = self.files[rec.image_id].fileno()
        end = offset + length
        while offset < end:
            n = min(MAX_READ_SIZE, end - offset)
            data = os.pread(fd, n, offset)
            if len(data) != n:  # the file shrank under us
                raise InputError(f"image {rec.image_id}: {rec.path} changed while it was "
                                 "being sent")
            yield data
            offset += n

    def _switch_to(self, rec: ImageRecord) -> None:
        if self.current is rec:
            return
        self.finish("complete")
        self.current = rec
        rec.status = "transferring"
        self.progress.region_start(f"image {rec.image_id} ({rec.path.name})", rec.expected, 0)

    def sent(self, image_id: int, offset: int, length: int) -> None:
        rec = self.records[image_id]
        rec.bytes_sent += length
        rec.requests += 1
        self.progress.advance(length)

    def finish(self, status: str) -> None:
        rec, self.current = self.current, None
        if rec is not None:
            if rec.status == "transferring":
                rec.status = status
            self.progress.region_end(f"image {rec.image_id} ({rec.path.name})", rec.status)


@contextlib.contextmanager
def _opened(records: list[ImageRecord]) -> Iterator[dict[int, BinaryIO]]:
    with contextlib.ExitStack() as stack:
        files: dict[int, BinaryIO] = {}
        for r in records:
            try:
                files[r.image_id] = stack.enter_context(open(r.path, "rb"))
            except OSError as exc:
                raise InvalidArgument(f"image {r.image_id}: cannot read {r.path}: "
                                      f"{exc.strerror or exc}") from exc
        yield files


def load(programmer: str | os.PathLike[str] | None,
         images: Iterable[tuple[int, str | os.PathLike[str]]] = (), *,
         programmer_id: int = PROGRAMMER_ID, transport: str | Transport | None = None,
         serial: str | None = None, usb_path: str | None = None, timeout: float = 60.0,
         io_timeout: float = 30.0, hello_timeout: float = 1.0,
         progress: ProgressSink | None = None) -> LoadResult:
    """Serve ``programmer`` as image ``programmer_id`` plus ``images`` until the device is done.

    Raises InvalidArgument (bad map, unknown image id asked for), InputError (a request
    outside a file), WrongMode (crash-dump device), DeviceNak (the device rejected an
    image; the status is decoded), transport errors.
    """
    records = plan_images(programmer, images, programmer_id=programmer_id)
    sink = progress or NullProgress()
    with _opened(records) as files, open_session(
            transport, serial=serial, usb_path=usb_path, timeout=timeout,
            hello_timeout=hello_timeout, data_timeout=io_timeout) as client:
        hello = client.wait_hello(Mode.MEMORY_DEBUG)
        if hello.mode == Mode.MEMORY_DEBUG:
            raise WrongMode(
                "the device holds a crash dump (memory-debug mode, HELLO mode 2): loading "
                "a programmer would boot over it and the dump would be lost",
                hint="pull the dump first (`qdlpy pull`); `qdlpy reset --force` discards it")
        mode = Mode.IMAGE_TX_COMPLETE if hello.mode == Mode.IMAGE_TX_COMPLETE \
            else Mode.IMAGE_TX_PENDING
        server = _Server(records, files, sink)
        sink.begin(sum(r.expected for r in records), len(records))
        started = time.monotonic()
        try:
            client.start_image_transfer(mode)
            try:
                client.serve_images(server.provide, server.sent,
                                    sole_image=len(records) == 1)
            except (TransferTimeout, Disconnected) as exc:
                if client.image_tx_status != ImageTxStatus.PENDING:
                    raise
                raise type(exc)(
                    f"the device said more images are pending (DONE_RESP 0) but asked for "
                    f"none ({exc.message})",
                    hint="if this PBL says pending after its last image, load the "
                         "programmer alone; otherwise the device's image list is not the "
                         "one given with --image") from exc
            server.finish("complete")
        except BaseException:
            server.finish("failed")
            raise
        finally:
            sink.end()
        seconds = time.monotonic() - started
        status = client.image_tx_status
        done = "complete" if status == ImageTxStatus.COMPLETE else "pending-tolerated"
        if done != "complete":
            log.info("DONE_RESP said pending after the only image: treated as done "
                     "(the MSM8916-class PBL quirk)")
        return LoadResult(client.transport.identity(), hello.version, records, done, seconds,
                          client.reprovoked)

