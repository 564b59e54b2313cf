"""Open a triage TARGET: an ELF core, or a dump folder assembled in memory.

A folder is never written to: its kernel ELF is planned with ``qdlpy.assemble`` exactly as
``qdlpy assemble`` would build it, and read through the plan's pieces (:class:`PlanSource`),
so a region that is absent or short is a hole, not zeros. Regions are also known by name
(the dump's region files, or an ELF's section names, or the dump folder next to an ELF), for
what VMCOREINFO does not locate: the vendor log regions, ``tainted_mask``, ``linux_banner``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from pathlib import Path
from types import TracebackType
from typing import Any

from qdlpy.assemble.classify import classify
from qdlpy.assemble.folder import Entry, FolderScan, scan_folder
from qdlpy.assemble.kernel import plan_kernel
from qdlpy.errors import InputError
from qdlpy.formats.manifest import READABLE_SCHEMAS

from .blob import Blob, Buffer
from .elfcore import ElfCore
from .memory import Memory
from .source import FileSource, PlanSource, Source, map_file
from .translate import translator
from .vmcoreinfo import Vmcoreinfo

__all__ = ["Dump", "NamedRegion", "open_dump", "role_of"]

_MAX_MANIFEST = 64 * 1024 * 1024
_MAX_REGION = 1 << 31  # a named region the readers use is at most printk's 2 GiB buffer
_VMCOREINFO_NAME = b"VMCOREINFO\0\0"
# Region names (without md_, VMID and id) -> what they hold. kmemdump names are "K" plus
# the first 8 characters of the kernel's name; downstream clients choose their own.
_ROLES = {
    "klogbuf": "klogbuf", "log_desc": "log_desc", "log_info": "log_info",
    "ktainted_": "tainted_mask", "ktaint_fl": "taint_flags", "klinux_ba": "linux_banner",
    "linux_banner": "linux_banner", "kinit_uts": "init_uts_ns", "kjiffies": "jiffies",
    "kprb": "prb", "kprb_desc": "prb_descs", "kprb_info": "prb_infos", "kprb_data": "prb_data",
    "kvmcorein": "vmcoreinfo",
}
_TRAILING_ID = re.compile(r"\d{1,4}$")


def role_of(name: str) -> str | None:
    """What a region holds, from its name as the dump gives it (file, description or
    section name)."""
    stem = re.sub(r"\.bin$", "", name.strip(), flags=re.IGNORECASE)
    if stem[:3].lower() == "md_":
        stem = classify(stem, stem).name
    return _ROLES.get(stem.lower()) or _ROLES.get(_TRAILING_ID.sub("", stem).lower())


@dataclasses.dataclass
class NamedRegion:
    name: str  # as the dump names it
    role: str
    blob: Blob  # length = the registered size; parts = what is in the dump
    base: int | None = None  # physical address
    status: str = "complete"  # the pull's status for it (a manifest), else complete


@dataclasses.dataclass
class Dump:
    """Everything triage reads from one TARGET."""

    path: Path
    kind: str  # "elf" | "folder"
    core: ElfCore | None = None
    memory: Memory | None = None
    vmcoreinfo: Vmcoreinfo | None = None
    regions: dict[str, NamedRegion] = dataclasses.field(default_factory=dict)
    entries: list[Entry] = dataclasses.field(default_factory=list)  # a folder's table
    manifest: dict[str, Any] | None = None
    style: str | None = None  # kmemdump | downstream (a kernel header) | None
    header_banner: str | None = None  # downstream: the header's copy of linux_banner
    notes: list[str] = dataclasses.field(default_factory=list)  # warnings while opening
    sources: list[Source] = dataclasses.field(default_factory=list)

    def region(self, role: str) -> NamedRegion | None:
        return self.regions.get(role)

    def close(self) -> None:
        for s in self.sources:
            s.close()
        self.sources.clear()

    def __enter__(self) -> Dump:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _stranded_vmcoreinfo(core: ElfCore) -> bytes | None:
    """The VMCOREINFO descriptor of a kmemdump note segment whose CORE notes are garbage: its
    note header sits right before the descriptor, which ends the segment."""
    for blob in core.note_blobs:
        at = blob.rfind(_VMCOREINFO_NAME)
        while at >= 12:
            namesz, descsz, ntype = struct.unpack_from(core.endian + "III", blob, at - 12)
            if namesz == 11 and ntype == 0 and at + 12 + descsz == len(blob):
                return blob[at + 12 :]
            at = blob.rfind(_VMCOREINFO_NAME, 0, at)
    return None


def _attach_core(dump: Dump, core: ElfCore, vmcoreinfo: bytes | None) -> None:
    dump.core = core
    dump.notes += core.warnings
    raw = vmcoreinfo if vmcoreinfo and vmcoreinfo.strip(b"\0") else core.vmcoreinfo()
    if raw is None:
        raw = _stranded_vmcoreinfo(core)
        raw = raw if raw and raw.strip(b"\0") else None  # zeros: the region was missing
        if raw is not None:
            dump.notes.append("the CORE notes before VMCOREINFO are corrupt; VMCOREINFO was "
                              "read from its fixed place")
    if raw is not None:
        dump.vmcoreinfo = Vmcoreinfo(raw)
    dump.memory = Memory(core, translator(core, dump.vmcoreinfo))


def _file_blob(path: Path, length: int | None) -> Blob:
    data, size = map_file(path)
    view: Buffer = memoryview(data) if size else b""
    want = size if length is None else length
    return Blob(min(want, _MAX_REGION), [(0, view[: min(size, want, _MAX_REGION)])])


def _folder_regions(dump: Dump, scan: FolderScan) -> None:
    for e in scan.entries:
        role = role_of(e.description) or role_of(e.filename)
        if role is None or role in dump.regions:
            continue
        if e.path is None:
            dump.regions[role] = NamedRegion(e.label, role, Blob(e.wanted or 0, []), e.base,
                                             "missing")
            continue
        dump.regions[role] = NamedRegion(e.label, role, _file_blob(e.path, e.wanted),
                                         e.base, e.status)


def _elf_regions(dump: Dump, core: ElfCore, names: dict[int, str]) -> None:
    """Named PT_LOADs: by section name, else by the physical address a sibling folder's
    table gives (``names``)."""
    for seg in core.segments:
        name = seg.name or names.get(seg.paddr) or names.get(seg.paddr & ~3)
        role = role_of(name) if name else None
        if role is None or role in dump.regions:
            continue
        parts: list[tuple[int, Buffer]] = [
            (lo, core.source.view(seg.offset + lo, hi - lo)) for lo, hi in core.readable(seg)]
        status = "complete" if seg.filesz else "missing"
        dump.regions[role] = NamedRegion(name or "", role, Blob(max(seg.memsz, seg.filesz),
                                                               parts), seg.paddr, status)


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    try:
        if not path.is_file() or path.stat().st_size > _MAX_MANIFEST:
            return None
        doc = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") in READABLE_SCHEMAS else None


def _sibling_names(folder: Path) -> dict[int, str]:
    """Physical address -> region label from the dump folder an ELF sits in."""
    try:
        scan = scan_folder(folder)
    except InputError:
        return {}
    if not scan.has_addresses:
        return {}
    return {e.base: e.label for e in scan.entries if e.base is not None}


def _open_elf(path: Path) -> Dump:
    dump = Dump(path, "elf")
    source = FileSource(path)
    dump.sources.append(source)
    core = ElfCore(source, str(path))
    _attach_core(dump, core, None)
    _elf_regions(dump, core, _sibling_names(path.parent) if not all(
        s.name for s in core.segments) else {})
    dump.manifest = _read_manifest(path.parent)
    return dump


def _open_folder(path: Path) -> Dump:
    dump = Dump(path, "folder")
    scan = scan_folder(path)
    dump.entries = scan.entries
    dump.notes += scan.warnings
    dump.manifest = _read_manifest(path)
    _folder_regions(dump, scan)
    try:
        plan = plan_kernel(scan, path / "minidump.elf", strict=False, repair=False,
                           warnings=dump.notes)
    except InputError as exc:
        dump.notes.append(f"no kernel ELF: {exc.message}")
        plan = None
    if plan is not None:
        dump.style = plan.info.style
        source = PlanSource(plan.plan.pieces, plan.plan.size)
        dump.sources.append(source)
        _attach_core(dump, ElfCore(source, f"{path} (assembled in memory)"), plan.vmcoreinfo)
        if plan.info.style == "downstream" and plan.info.osrelease:
            dump.header_banner = _banner_from_header(dump, plan.plan.pieces[0].data)
    return dump


def _banner_from_header(dump: Dump, header: bytes | None) -> str | None:
    """The downstream header's own copy of linux_banner (a PT_LOAD inside it)."""
    core = dump.core
    if core is None or header is None:
        return None
    for seg in core.segments:
        if seg.name == "linux_banner" and seg.offset + seg.filesz <= len(header):
            text = header[seg.offset : seg.offset + seg.filesz].split(b"\0", 1)[0]
            return text.decode("ascii", errors="replace").strip() or None
    return None


def open_dump(path: str | Path) -> Dump:
    """A Dump for an ELF core or a dump folder; InputError when it is neither."""
    p = Path(path)
    if p.is_dir():
        return _open_folder(p)
    if p.is_file():
        dump = _open_elf(p)
        return dump
    if p.exists():
        raise InputError(f"{p} is not a regular file or a folder")
    raise InputError(f"{p} does not exist", hint="give an ELF core (minidump.elf) or a dump "
                     "folder")

