"""``edl``: a PBL in image-transfer (EDL) mode that pulls a programmer from the host.

The device parses the image itself from the bytes the host sends, as PBL does
(docs/protocol.md#image-transfer): it asks for the first 0x34 bytes (an ELF32 header; for an
ELF64 it then asks for the whole 0x40-byte header), then the program headers, then every
PT_LOAD segment in chunks of at most ``chunk`` bytes (default and maximum 1 MiB,
docs/protocol.md#serving-image-bytes: qdl writes at most 1 MiB per transfer). A non-ELF image is
taken as a legacy MBN: a 40-byte header whose u32 at offset 16 is the size of what follows [I]; the
rest is read in ``chunk``-sized pieces. The host never parses anything: it serves bytes by offset.

Parameters:

* ``file=PATH``: the real programmer; every chunk the host sends is compared with it and
  a difference ends the image with NAK 0x22 (hash verification failure), so a test can
  prove the upload was byte-exact. ``file_<ID>=PATH`` does the same for image ``ID``.
* ``images=13[,21...]``: the image ids the device asks for, in order (default 13, the
  Firehose programmer id, docs/protocol.md#image-ids-and-the-pending-quirk).
* ``read64=1``: READ_DATA_64 (0x12) instead of READ_DATA (0x03).
* ``chunk=SIZE``: largest request (default 1M).
* ``pending_quirk=1``: DONE_RESP says "pending" after the last image (MSM8916 PBL,
  docs/protocol.md#image-ids-and-the-pending-quirk).
* ``nak=STATUS``: the first image ends with this NAK instead of success (e.g. 0x21,
  hash-table authentication failure: the wrong programmer for a secure device).
* ``version=2|3``: the HELLO version; command mode answers like the ``command``
  scenario of that version, so ``qdlpy info`` works on an EDL device.

``EdlPlan`` (the personality's ``image_plan``) records every request and whether each
image matched its file; in-process tests read it from the model.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Generator
from pathlib import Path

from qdlpy.errors import InputError, InvalidArgument
from qdlpy.protocols.constants import MAX_READ_SIZE, Mode, Status
from qdlpy.protocols.device import EndImage, ImagePlan, ImageStep, Personality, ReadStep
from qdlpy.simulator.faults import Faults
from qdlpy.units import parse_size

from .command import command_responses
from .registry import ScenarioBuild

ELF_MAGIC = b"\x7fELF"
ELF32_EHDR = 0x34
ELF64_EHDR = 0x40
PT_LOAD = 1
MBN_HEADER = 40  # legacy 10 x u32 MBN header; image_size (what follows it) at offset 16
MAX_PHDRS = 100  # beyond this the device answers NAK 0x0E (unsupported number of phdrs)
MAX_MBN_SIZE = 256 << 20
# EHOSTDL, the usual Firehose programmer id (docs/protocol.md#image-ids-and-the-pending-quirk)
PROGRAMMER_ID = 13


@dataclasses.dataclass
class ImageLog:
    """What the device received for one image."""

    image_id: int
    requests: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (offset, length)
    compared: bool = False  # a reference file was given
    mismatch: tuple[int, int] | None = None  # the first (offset, length) that differed
    status: int | None = None  # END_OF_IMAGE_TX status sent (0 = accepted)

    @property
    def verified(self) -> bool:
        """Every byte received matched the reference file and the image was accepted."""
        return self.compared and self.mismatch is None and self.status == 0


class EdlPlan:
    """The device's image plan (a ``Personality.image_plan``), with a log for tests."""

    def __init__(self, image_ids: list[int], files: dict[int, bytes], *, chunk: int,
                 use64: bool, nak: int | None) -> None:
        self.image_ids = image_ids
        self.files = files
        self.chunk = chunk
        self.use64 = use64
        self.nak = nak
        self.logs: dict[int, ImageLog] = {}

    def __call__(self) -> ImagePlan:
        self.logs = {}
        return self._plan()

    def _plan(self) -> Generator[ImageStep, bytes, None]:
        for n, image_id in enumerate(self.image_ids):
            log = self.logs[image_id] = ImageLog(image_id, compared=image_id in self.files)
            status = yield from self._image(log)
            if status == 0 and n == 0 and self.nak is not None:
                status = self.nak
            log.status = status
            yield EndImage(image_id, status)
            if status != 0:
                return

    def _read(self, log: ImageLog, offset: int, length: int) -> Generator[ImageStep, bytes, bytes]:
        """One READ_DATA(64); the answer is checked against the reference file."""
        log.requests.append((offset, length))
        data = yield ReadStep(log.image_id, offset, length, self.use64)
        ref = self.files.get(log.image_id)
        if ref is not None and log.mismatch is None and ref[offset : offset + length] != data:
            log.mismatch = (offset, length)
        return data

    def _chunks(self, log: ImageLog, start: int, size: int) -> Generator[ImageStep, bytes, None]:
        end = start + size
        while start < end:
            n = min(self.chunk, end - start)
            yield from self._read(log, start, n)
            start += n

    def _image(self, log: ImageLog) -> Generator[ImageStep, bytes, int]:
        head = yield from self._read(log, 0, ELF32_EHDR)
        if head[:4] == ELF_MAGIC:
            status = yield from self._elf(log, head)
        else:
            status = yield from self._mbn(log, head)
        if status == 0 and log.mismatch is not None:
            status = Status.NAK_HASH_VERIFICATION_FAILURE
        return int(status)

    def _elf(self, log: ImageLog, head: bytes) -> Generator[ImageStep, bytes, int]:
        elf_class, data_enc = head[4], head[5]
        if data_enc != 1 or elf_class not in (1, 2):
            return Status.NAK_INVALID_ELF_HDR
        if elf_class == 2:
            head = yield from self._read(log, 0, ELF64_EHDR)
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            want_entsize, fmt = 56, "<IIQQQQQQ"
        else:
            phoff, = struct.unpack_from("<I", head, 0x1C)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x2A)
            want_entsize, fmt = 32, "<IIIIIIII"
        if phentsize != want_entsize:
            return Status.NAK_INVALID_PDHR_SIZE
        if phnum == 0 or phnum > MAX_PHDRS:
            return Status.NAK_UNSUPPORTED_NUM_PHDRS
        table = yield from self._read(log, phoff, phnum * phentsize)
        for i in range(phnum):
            fields = struct.unpack_from(fmt, table, i * phentsize)
            if elf_class == 2:
                p_type, _flags, p_offset, _va, _pa, p_filesz = fields[:6]
            else:
                p_type, p_offset, _va, _pa, p_filesz = fields[:5]
            if p_type == PT_LOAD and p_filesz:
                yield from self._chunks(log, p_offset, p_filesz)
        return Status.SUCCESS

    def _mbn(self, log: ImageLog, head: bytes) -> Generator[ImageStep, bytes, int]:
        image_size, code_size = struct.unpack_from("<II", head, 16)
        if image_size == 0 or image_size > MAX_MBN_SIZE or code_size > image_size:
            return Status.NAK_INVALID_IMG_HDR_DATA_SIZE
        yield from self._chunks(log, MBN_HEADER, image_size)
        return Status.SUCCESS


def _int(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise InvalidArgument(f"edl scenario: {what} must be a number, not {text!r}") from None


def _load(path: str, image_id: int) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"edl scenario: cannot read the reference file for image {image_id}: "
                         f"{path} ({exc.strerror or exc})") from exc


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    ids = [_int(t, "images") for t in params.pop("images", str(PROGRAMMER_ID)).split(",") if t]
    if not ids or len(set(ids)) != len(ids):
        raise InvalidArgument("edl scenario: images= needs distinct ids, e.g. images=13,21")
    files: dict[int, bytes] = {}
    if "file" in params:
        files[ids[0]] = _load(params.pop("file"), ids[0])
    for key in [k for k in params if k.startswith("file_")]:
        image_id = _int(key.removeprefix("file_"), key)
        files[image_id] = _load(params.pop(key), image_id)
    chunk = parse_size(params.pop("chunk", "1M"))
    if not 0 < chunk <= MAX_READ_SIZE:
        raise InvalidArgument(f"edl scenario: chunk must be 1..{MAX_READ_SIZE}")
    nak_text = params.pop("nak", "")
    version = _int(params.pop("version", "2"), "version")
    if version not in (2, 3):
        raise InvalidArgument("edl scenario: version must be 2 or 3")
    plan = EdlPlan(ids, files, chunk=chunk, use64=params.pop("read64", "0") not in ("0", ""),
                   nak=_int(nak_text, "nak") if nak_text else None)
    personality = Personality(
        mode=Mode.IMAGE_TX_PENDING,
        version=version,
        memory_debug_supported=False,
        command_responses=command_responses(version),
        image_plan=plan,
        pending_after_last_image=params.pop("pending_quirk", "0") not in ("0", ""),
    )
    return ScenarioBuild(personality, pid=0x9008, interface_protocol=0xFF)
