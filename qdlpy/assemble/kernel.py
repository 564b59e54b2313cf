"""Plan the kernel minidump ELF from a dump folder (docs/formats.md#how-the-kernel-elf-is-assembled,
docs/formats.md#error-policy).

Two header styles exist:

* kmemdump / meminspect (``md_KELF<id>``): the header is a partial ELF64 core; the
  VMCOREINFO descriptor is region id 2; every PT_LOAD is one region, found by its physical
  address (``p_paddr``) and length, and written at its ``p_offset``
  (:mod:`qdlpy.assemble.kmemdump`).
* downstream msm_minidump (``md_KELF_HEADER`` / ``md_KELF_HDR``,
  docs/formats.md#downstream-msm_minidump): section headers name every region; Qualcomm's LRDP
  concatenates ``md_<name>.BIN`` in string-table order, which is the same as placing each at its
  section/PT_LOAD offset, which is what we do.

This module picks the header region and plans; :mod:`qdlpy.assemble.writer` writes.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import Path

from qdlpy.errors import EncryptedDump, InputError
from qdlpy.formats.elf import (
    ELFMAG,
    ET_CORE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHT_PROGBITS,
    SHT_STRTAB,
    Ehdr,
    Phdr,
    Shdr,
    parse_ehdr,
    parse_phdrs,
    parse_shdrs,
    section_name,
)

from .classify import RegionKind, as_kernel
from .folder import Entry, FolderScan
from .holes import Laid, hole, reserve
from .kmemdump import plan_kmemdump
from .matching import check_loads, match_by_address, region_status
from .plan import MAX_HEADER, KernelResult, read_bounded
from .policy import Policy
from .report import KernelInfo, Placement
from .writer import OutputPlan, Piece

__all__ = ["plan_kernel", "explain_not_elf", "NotElf", "NotElfReason"]


class NotElfReason(enum.Enum):
    """Why a header region does not start with an ELF header."""

    EMPTY = "empty"  # the region was not dumped
    ZEROED = "zeroed"  # a secure device's firmware zeroed the minidump
    ENCRYPTED = "encrypted"  # ciphertext: the device required encryption
    NOT_A_HEADER = "not-a-header"  # some other file


@dataclasses.dataclass(frozen=True)
class NotElf:
    reason: NotElfReason
    message: str

    @property
    def secure_device(self) -> bool:
        """The firmware of a secure device made it so (EncryptedDump, not a damaged file)."""
        return self.reason in (NotElfReason.ZEROED, NotElfReason.ENCRYPTED)


def explain_not_elf(data: bytes, label: str) -> NotElf:
    """Why a header region is not an ELF: encryption (docs/formats.md#encrypted-minidumps) or
    zeroing, in plain words."""
    if not data:
        return NotElf(NotElfReason.EMPTY,
                      f"{label} is empty: the kernel ELF header was not dumped")
    if not any(data[:4096]):
        return NotElf(NotElfReason.ZEROED,
                      f"{label} is all zeros instead of an ELF header: the firmware zeroed the "
                      "minidump (secure device without an OEM key, "
                      "docs/formats.md#encrypted-minidumps)")
    first = f"{label} does not start with an ELF header (first bytes {data[:8].hex()}): "
    if len(set(data[:4096])) > min(200, len(data[:4096]) // 2):
        return NotElf(NotElfReason.ENCRYPTED, first + (
            "it looks encrypted. Secure devices that request encryption "
            "(encryption_required='YES') get ciphertext regions from XBL "
            "(docs/formats.md#encrypted-minidumps); qdlpy cannot assemble an encrypted minidump"))
    return NotElf(NotElfReason.NOT_A_HEADER, first + "the file is not a kernel minidump header")


def _pick_header(kernel: list[Entry], policy: Policy) -> Entry | None:
    kelf = [e for e in kernel if e.cls.kelf]
    down = [e for e in kernel if e.cls.downstream_header]
    cands = sorted(kelf, key=lambda e: (e.cls.vmid is not None, e.cls.id or 0, e.position))
    cands += sorted(down, key=lambda e: (e.cls.vmid is not None, e.position))
    if not cands:
        return None
    if len(cands) > 1:
        policy.warn(f"{len(cands)} kernel header regions ({', '.join(e.label for e in cands)}); "
                    f"using {cands[0].label}")
    return cands[0]


def _read_header(header: Entry) -> bytes:
    """The header region's bytes, which must start with an ELF header."""
    if header.path is None:
        reason = header.hole or "listed but its file is missing"
        raise InputError(f"{header.label} (the kernel ELF header) is {reason}",
                         hint="pull that region again (qdlpy pull --resume)")
    data = read_bounded(header.path, MAX_HEADER, header.label)
    if data[:4] != ELFMAG:
        why = explain_not_elf(data, header.label)
        cls = EncryptedDump if why.secure_device else InputError
        raise cls(why.message, hint="`qdlpy inspect DIR` lists the regions; decrypt with the "
                  "OEM's tools, or dump from a device that does not require encryption")
    return data


def plan_kernel(scan: FolderScan, output: Path, *, strict: bool, repair: bool,
                warnings: list[str]) -> KernelResult | None:
    """The kernel ELF plan, or None when the dump has no kernel header region."""
    policy = Policy(strict, warnings)
    kernel = [e for e in scan.entries if e.cls.kind is RegionKind.KERNEL]
    header = _pick_header(kernel, policy)
    if header is None:
        return None
    data = _read_header(header)
    eh = parse_ehdr(data, header.label)
    if eh.type != ET_CORE:
        raise InputError(f"{header.label} is an ELF of type {eh.type}, not a core file (4)")
    phdrs = parse_phdrs(data, eh, header.label)
    others = [e for e in kernel if e is not header]
    if phdrs and phdrs[0].type == PT_NOTE:
        return plan_kmemdump(scan, header, data, eh, phdrs, others, output, policy, repair)
    if eh.shnum:
        return _downstream(scan, header, data, eh, phdrs, others, output, policy)
    raise InputError(f"{header.label}: its first program header is not PT_NOTE and it has no "
                     "section headers; neither a kmemdump nor a downstream minidump header")


# --- downstream msm_minidump (section based) -------------------------------------------------

_BANNER = re.compile(rb"Linux version (\S+)")


def _section_names(data: bytes, shdrs: list[Shdr], strtab: Shdr,
                   info: KernelInfo) -> dict[int, list[str]]:
    """File offset -> the PROGBITS section names there; the release from linux_banner."""
    names: dict[int, list[str]] = {}
    for sh in shdrs:
        if sh.type != SHT_PROGBITS:
            continue
        name = section_name(data, strtab, sh.name)
        names.setdefault(sh.offset, []).append(name)
        if name == "linux_banner" and sh.offset + sh.size <= len(data):
            hit = _BANNER.search(data[sh.offset : sh.offset + sh.size])
            if hit:
                info.osrelease = hit.group(1).decode("ascii", errors="replace")
    return names


def _by_name(entries: list[Entry]) -> dict[str, list[Entry]]:
    """LRDP's view: md_<name>.BIN per section name, duplicates in seq order
    (docs/formats.md#sequence-numbers, docs/formats.md#downstream-msm_minidump). A name that
    ends in digits ("KCPU0") is also indexed whole, since the id split is a guess."""
    by_name: dict[str, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: (e.cls.id or 0, e.position)):
        by_name.setdefault(e.cls.name.lower(), []).append(e)
        if e.cls.id is not None:
            by_name.setdefault(f"{e.cls.name}{e.cls.id}".lower(), []).append(e)
    return by_name


def _listed_elsewhere(scan: FolderScan, names: dict[int, list[str]]) -> list[Entry]:
    """Non-K entries the header lists by section name. A region belongs to the kernel ELF
    when the header lists it: the K prefix is only a hint (vendor kernels register
    md_LOG_DESC / md_LOG_INFO, the printk ring's descriptor and info arrays, without it)."""
    listed = {n.lower() for ns in names.values() for n in ns}
    return [e for e in scan.entries if e.cls.kind is RegionKind.SUBSYSTEM
            and (e.cls.name.lower() in listed or f"{e.cls.name}{e.cls.id}".lower() in listed)]


def _claim(placed: list[Entry]) -> None:
    """Placed entries are kernel regions from now on, so that no group ELF copies them."""
    for e in placed:
        if e.cls.kind is not RegionKind.KERNEL:
            e.cls = as_kernel(e.cls)


def _downstream(scan: FolderScan, header: Entry, data: bytes, eh: Ehdr, phdrs: list[Phdr],
                others: list[Entry], output: Path, policy: Policy) -> KernelResult:
    label = header.label
    info = KernelInfo("downstream", label, eh.machine, eh.machine_name)
    shdrs = parse_shdrs(data, eh, label)
    if not 0 < eh.shstrndx < len(shdrs) or shdrs[eh.shstrndx].type != SHT_STRTAB:
        raise InputError(f"{label}: no section string table (e_shstrndx {eh.shstrndx})")
    hlen = len(data)
    names = _section_names(data, shdrs, shdrs[eh.shstrndx], info)
    others = others + _listed_elsewhere(scan, names)
    by_name = _by_name(others)

    loads = [(i, ph) for i, ph in enumerate(phdrs) if ph.type == PT_LOAD]
    outside = [(i, ph) for i, ph in loads if ph.offset + ph.filesz > hlen]
    check_loads(outside, hlen, label, policy)
    used: set[int] = set()
    laid: list[Laid] = []
    placements: list[Placement] = []
    for i, ph in loads:
        what = f"PT_LOAD {i} (0x{ph.paddr:x}, {ph.filesz} bytes)"
        sec = names.get(ph.offset, [])
        if ph.offset + ph.filesz <= hlen:
            placements.append(Placement(i, sec[0] if sec else None, ph.paddr, ph.vaddr,
                                        ph.offset, ph.filesz, ph.memsz, "in-header"))
            continue
        m = match_by_address(ph, what, others, used, policy) if scan.has_addresses else None
        if m is None and sec:
            queue = [e for e in by_name.get(sec[0].lower(), []) if id(e) not in used
                     and e.base in (None, ph.paddr)]
            if queue:
                m = (queue[0], 0, "ok" if queue[0].wanted == ph.filesz else "length-mismatch")
        if m is None or m[0].path is None:
            policy.repairable(f"{what} ({sec[0] if sec else '?'}) is missing: a hole at its "
                              "offset, reads as zeros")
            out = hole(ph)  # docs/formats.md#missing-regions
            laid.append(Laid(i, out))
            placements.append(Placement(i, None if m is None else m[0].label, ph.paddr,
                                        ph.vaddr, ph.offset, out.filesz, ph.memsz, "missing",
                                        (m[0].hole or "") if m is not None else ""))
        else:
            used.add(id(m[0]))
            count, status, detail = region_status(m[0], ph, m[1], m[2], what, policy)
            laid.append(Laid(i, ph, Piece(ph.offset, count, path=m[0].path, src_offset=m[1])))
            placements.append(Placement(i, m[0].label, ph.paddr, ph.vaddr, ph.offset,
                                        ph.filesz, ph.memsz, status, detail))
    end = reserve(laid, hlen)
    hdr = bytearray(data)
    for ld in laid:
        at = eh.phoff + ld.index * PHDR_SIZE
        hdr[at : at + PHDR_SIZE] = ld.phdr.pack()
    for pl in placements:
        pl.offset = next((ld.phdr.offset for ld in laid if ld.index == pl.index), pl.offset)
    pieces = [Piece(0, hlen, data=bytes(hdr)), *(ld.piece for ld in laid if ld.piece)]
    info.placements = placements
    _claim([e for e in others if id(e) in used])
    unreferenced = [e for e in others if id(e) not in used and e.cls.kind is RegionKind.KERNEL]
    info.unreferenced = [e.label for e in unreferenced]
    if unreferenced:
        policy.warn(f"{len(unreferenced)} md_K region(s) not described by {label}: "
                    f"{', '.join(e.label for e in unreferenced[:8])}")
    return KernelResult(OutputPlan(output, "kernel", end, pieces, regions=len(placements)),
                        info, unreferenced)

