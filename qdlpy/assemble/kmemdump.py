"""Plan the kernel ELF of a kmemdump / meminspect dump.

The header region (``md_KELF<id>``) is a partial ELF64 core; the VMCOREINFO descriptor is
region id 2; every PT_LOAD is one region, found by its physical address (``p_paddr``) and
length, or without an address file by id order and size, and written at its
``p_offset``. Steps: fit the header, settle its notes, check the PT_LOADs, find vmcoreinfo,
match regions, lay the file out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from qdlpy.errors import InputError
from qdlpy.formats.coreimage import NMAX
from qdlpy.formats.elf import EHDR_SIZE, PHDR_SIZE, PT_LOAD, Ehdr, Phdr

from .folder import Entry, FolderScan
from .holes import Laid, hole, reserve
from .kelf_notes import fit_header, settle_core_notes
from .matching import Match, check_loads, match_by_address, region_status
from .plan import MAX_VMCOREINFO, KernelResult, open_region, read_bounded
from .policy import Policy
from .report import KernelInfo, Placement
from .vmcoreinfo import MAGIC, kernel_facts, looks_like_vmcoreinfo, parse_vmcoreinfo
from .writer import OutputPlan, Piece

__all__ = ["plan_kmemdump", "UNREACHABLE"]

# vmcoreinfo_status when the CORE notes stay corrupt (no --repair): the descriptor is in the
# ELF but crash/readelf cannot walk the notes to it.
UNREACHABLE = "unreachable (corrupt notes)"
_HEURISTIC_HINT = "put the dump's dump_info.txt or load.cmm next to the files"

Load = tuple[int, Phdr]  # (program header index, header)


@dataclasses.dataclass
class _Header:
    """The header region being planned: its bytes (patched in place) and layout."""

    label: str
    eh: Ehdr
    hdr: bytearray
    descsz: int  # of the VMCOREINFO note: the bytes between the header and the first load
    loads: list[Load]

    @property
    def data_start(self) -> int:
        return len(self.hdr) + self.descsz

    def covers(self, addr: int | None) -> bool:
        """Some PT_LOAD holds physical address ``addr``."""
        return addr is not None and any(
            ph.paddr <= addr < ph.paddr + max(ph.memsz, ph.filesz, 1) for _, ph in self.loads)


def _head(e: Entry, n: int = len(MAGIC)) -> bytes:
    if e.path is None:
        return b""
    try:
        with open_region(e.path, e.label) as f:
            return f.read(n)
    except (OSError, InputError):
        return b""


def _check_file_header(eh: Ehdr, label: str, policy: Policy) -> None:
    if eh.phoff != EHDR_SIZE:
        policy.warn(f"{label}: e_phoff is {eh.phoff}, kmemdump writes 64")
    if not 2 <= eh.phnum <= NMAX:
        policy.warn(f"{label}: {eh.phnum} program headers (kmemdump writes 2..{NMAX}); crash "
                    "needs at least one PT_LOAD")


def _pt_loads(phdrs: list[Phdr], data_start: int, label: str, policy: Policy) -> list[Load]:
    """The PT_LOADs after the PT_NOTE, checked; other types are ignored."""
    loads = [(i, ph) for i, ph in enumerate(phdrs) if i > 0 and ph.type == PT_LOAD]
    for i, ph in enumerate(phdrs):
        if i > 0 and ph.type != PT_LOAD:
            policy.warn(f"{label}: program header {i} has type {ph.type}, not PT_LOAD; ignored")
    for i, ph in loads:
        if ph.filesz != ph.memsz:
            policy.warn(f"{label}: PT_LOAD {i} has p_filesz {ph.filesz} != p_memsz {ph.memsz}")
    check_loads(loads, data_start, label, policy)
    return loads


# --- vmcoreinfo (docs/formats.md#finding-the-vmcoreinfo-region) -----------------------------------


def _find_vmcoreinfo(scan: FolderScan, head: _Header, others: list[Entry]) -> Entry | None:
    """Region id 2 whose length is the note's descsz, outside every PT_LOAD and starting
    with OSRELEASE=; else the one region that looks like vmcoreinfo, else the one id 2."""
    cands = [e for e in others if e.cls.id == 2 and e.wanted == head.descsz
             and not head.covers(e.base) and looks_like_vmcoreinfo(_head(e))]
    if len(cands) == 1:
        return cands[0]
    if scan.has_addresses:
        loose = [e for e in others if e.base is not None and not head.covers(e.base)
                 and looks_like_vmcoreinfo(_head(e))]
        by_id = [e for e in others if e.cls.id == 2 and not head.covers(e.base)]
    else:
        loose, by_id = [], [e for e in others if e.cls.id == 2]
    return loose[0] if len(loose) == 1 else by_id[0] if len(by_id) == 1 else None


def _vmcoreinfo_bytes(vm: Entry | None, descsz: int, info: KernelInfo,
                      policy: Policy) -> bytes:
    """The descriptor to write (zeros in place of a missing region); sets the info fields."""
    info.vmcoreinfo_file = None if vm is None else vm.label
    if vm is None or vm.path is None:
        info.vmcoreinfo_status = "missing"
        if descsz:
            policy.repairable(f"vmcoreinfo region ({'id 2' if vm is None else vm.label}) is "
                              f"missing: {descsz} zero bytes written in its place; crash will "
                              "lack vmcoreinfo (--minimal only, KASLR unknown)")
        return bytes(descsz)
    raw = read_bounded(vm.path, MAX_VMCOREINFO, vm.label)
    info.vmcoreinfo_status = "ok"
    if len(raw) < descsz:
        info.vmcoreinfo_status = "short"
        policy.repairable(f"{vm.label} is {len(raw)} bytes, the note wants {descsz}: "
                          "zero-padded; vmcoreinfo may be cut")
    elif len(raw) > descsz:
        info.vmcoreinfo_status = "long"
        policy.repairable(f"{vm.label} is {len(raw)} bytes, the note wants {descsz}: truncated")
    if not looks_like_vmcoreinfo(raw):
        policy.warn(f"{vm.label} does not start with OSRELEASE=; it may not be vmcoreinfo")
    return raw[:descsz].ljust(descsz, b"\0")


# --- regions for the PT_LOADs -----------------------------------------------------------------


def _what(i: int, ph: Phdr) -> str:
    return f"PT_LOAD {i} (0x{ph.paddr:x}, {ph.filesz} bytes)"


def _match_by_address(loads: list[Load], pool: list[Entry],
                      policy: Policy) -> dict[int, Match]:
    matched: dict[int, Match] = {}
    used: set[int] = set()
    for i, ph in loads:
        m = match_by_address(ph, _what(i, ph), pool, used, policy)
        if m is not None:
            matched[i] = m
            used.add(id(m[0]))
    return matched


def _match_by_id_order(loads: list[Load], pool: list[Entry],
                       policy: Policy) -> dict[int, Match]:
    """No address file: the md_K files in id order, each as long as its PT_LOAD."""
    ordered = sorted((e for e in pool if e.cls.id is not None and e.path is not None),
                     key=lambda e: (e.cls.id or 0, e.position))
    matched: dict[int, Match] = {}
    for k, (i, ph) in enumerate(loads):
        if k >= len(ordered):
            raise InputError(
                f"no address file and only {len(ordered)} md_K data files for {len(loads)} "
                "PT_LOADs, so the heuristic (docs/formats.md#the-id-order-heuristic) stops",
                hint=_HEURISTIC_HINT)
        e = ordered[k]
        # A masked base (docs/formats.md#misaligned-regions) keeps the table length (= p_filesz):
        # same repair as by address.
        if e.size != ph.filesz:
            raise InputError(
                f"no address file, and the id-order heuristic fails at PT_LOAD {i}: "
                f"{e.label} is {e.size} bytes, the header wants {ph.filesz} "
                "(docs/formats.md#the-id-order-heuristic)", hint=_HEURISTIC_HINT)
        skip = ph.paddr & 3
        matched[i] = (e, skip, "misaligned" if skip else "ok")
    policy.warn("no address file (manifest.json, dump_info.txt or load.cmm): regions were "
                "matched by id order and size (docs/formats.md#the-id-order-heuristic)")
    return matched


# --- output layout -------------------------------------------------------------------------


def _layout(head: _Header, matched: dict[int, Match],
            policy: Policy) -> tuple[list[Piece], list[Placement], int]:
    """Every region at its own p_offset; a missing one is a hole there
    (docs/formats.md#missing-regions), and no other offset moves. Patches ``head.hdr``."""
    laid: list[Laid] = []
    placements: list[Placement] = []
    for i, ph in sorted(head.loads, key=lambda t: t[1].offset):
        m = matched.get(i)
        if m is None or m[0].path is None:
            name = None if m is None else m[0].label
            why = (m[0].hole if m is not None and m[0].hole else "listed but not on disk")
            detail = (f"{name} is {why}" if name else "no region with this address")
            policy.repairable(f"{_what(i, ph)} is missing ({detail}): a hole, reads as zeros")
            out = hole(ph)
            laid.append(Laid(i, out))
            placements.append(Placement(i, name, ph.paddr, ph.vaddr, out.offset, out.filesz,
                                        ph.memsz, "missing", detail))
            continue
        e, skip, how = m
        count, status, detail = region_status(e, ph, skip, how, _what(i, ph), policy)
        piece = Piece(ph.offset, count, path=e.path, src_offset=skip)
        laid.append(Laid(i, dataclasses.replace(ph), piece))
        placements.append(Placement(i, e.label, ph.paddr, ph.vaddr, ph.offset, ph.filesz,
                                    ph.memsz, status, detail))
    end = reserve(laid, head.data_start)
    for ld, pl in zip(laid, placements):
        pl.offset = ld.phdr.offset
        at = head.eh.phoff + ld.index * PHDR_SIZE
        head.hdr[at : at + PHDR_SIZE] = ld.phdr.pack()
    pieces = [ld.piece for ld in laid if ld.piece is not None]
    return pieces, sorted(placements, key=lambda p: p.index), end


def _report_unreferenced(unreferenced: list[Entry], info: KernelInfo, policy: Policy) -> None:
    info.unreferenced.extend(e.label for e in unreferenced)
    if unreferenced:
        policy.warn(f"{len(unreferenced)} md_K region(s) registered but not in the ELF header: "
                    f"{', '.join(e.label for e in unreferenced[:8])}"
                    f"{' ...' if len(unreferenced) > 8 else ''} (kept in a side ELF)")


def plan_kmemdump(scan: FolderScan, header: Entry, data: bytes, eh: Ehdr, phdrs: list[Phdr],
                  others: list[Entry], output: Path, policy: Policy,
                  repair: bool) -> KernelResult:
    """The kernel ELF plan for a header whose first program header is PT_NOTE."""
    label = header.label
    info = KernelInfo("kmemdump", label, eh.machine, eh.machine_name)
    _check_file_header(eh, label, policy)
    note = phdrs[0]
    hdr = bytearray(fit_header(header, data, eh, note, policy))
    descsz, unreachable = settle_core_notes(hdr, eh, note, label, policy, repair, info)
    head = _Header(label, eh, hdr, descsz, [])
    head.loads = _pt_loads(phdrs, head.data_start, label, policy)

    vm = _find_vmcoreinfo(scan, head, others)
    vm_bytes = _vmcoreinfo_bytes(vm, descsz, info, policy)
    if unreachable and info.vmcoreinfo_status != "missing":
        info.vmcoreinfo_status = UNREACHABLE
    info.vmcoreinfo = parse_vmcoreinfo(vm_bytes)
    info.osrelease, info.kerneloffset, info.page_size = kernel_facts(info.vmcoreinfo)

    pool = [e for e in others if e is not vm]
    by = _match_by_address if scan.has_addresses else _match_by_id_order
    matched = by(head.loads, pool, policy)
    pieces, info.placements, end = _layout(head, matched, policy)
    used = {id(m[0]) for m in matched.values()}
    unreferenced = [e for e in pool if id(e) not in used]
    _report_unreferenced(unreferenced, info, policy)

    klen = len(hdr)
    pieces = [Piece(0, klen, data=bytes(hdr)), Piece(klen, descsz, data=vm_bytes), *pieces]
    plan = OutputPlan(output, "kernel", end, pieces, regions=len(info.placements))
    return KernelResult(plan, info, unreferenced,
                        vm_bytes if info.vmcoreinfo_status != "missing" else None)
