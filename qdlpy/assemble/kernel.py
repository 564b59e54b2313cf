"""Plan the kernel minidump ELF from a dump folder (minidump-format.md §8.2, §8.3).

Two header styles exist:

* kmemdump / meminspect (``md_KELF<id>``): the header is a partial ELF64 core; the
  VMCOREINFO descriptor is region id 2; every PT_LOAD is one region, found by its physical
  address (``p_paddr``) and length, and written at its ``p_offset``.
* downstream msm_minidump (``md_KELF_HEADER`` / ``md_KELF_HDR``, §4.2): section headers name
  every region; Qualcomm's LRDP concatenates ``md_<name>.BIN`` in string-table order, which
  is the same as placing each at its section/PT_LOAD offset, which is what we do.

This module only plans (what goes where); :mod:`qdlpy.assemble.writer` writes.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import struct
from pathlib import Path

from qdlpy.errors import EncryptedDump, InputError
from qdlpy.formats.coreimage import (
    NMAX,
    PRPSINFO_SIZE,
    PRSTATUS_SIZE,
    VMCOREINFO_NOTE_HEADER,
    core_notes,
)
from qdlpy.formats.elf import (
    EHDR_SIZE,
    ELFMAG,
    ET_CORE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHT_PROGBITS,
    SHT_STRTAB,
    Ehdr,
    Phdr,
    align4,
    parse_ehdr,
    parse_phdrs,
    parse_shdrs,
    section_name,
    walk_notes,
)

from .classify import RegionKind
from .folder import Entry, FolderScan
from .report import KernelInfo, Placement
from .vmcoreinfo import MAGIC, kernel_facts, looks_like_vmcoreinfo, parse_vmcoreinfo
from .writer import OutputPlan, Piece

__all__ = ["KernelResult", "plan_kernel", "explain_not_elf", "MAX_HEADER", "UNREACHABLE"]

MAX_HEADER = 64 * 1024 * 1024  # a KELF is ~12-16 KiB, a downstream header tens of KiB
MAX_VMCOREINFO = 1024 * 1024  # the kernel's buffer is one page
MAX_OUTPUT = 1 << 40  # no minidump is a TiB: such offsets mean a corrupt header
MAX_PAD = 1 << 30  # zero-padding a short file by more than this means a corrupt header
_VMCOREINFO_NAME = b"VMCOREINFO\0\0"
# vmcoreinfo_status when the CORE notes stay corrupt (no --repair): the descriptor is in the
# ELF but crash/readelf cannot walk the notes to it.
UNREACHABLE = "unreachable (corrupt notes)"


@dataclasses.dataclass
class KernelResult:
    plan: OutputPlan
    info: KernelInfo
    unreferenced: list[Entry]  # md_K entries no PT_LOAD uses (go to a side ELF)
    vmcoreinfo: bytes | None = None  # the descriptor written (for the group ELFs' PT_NOTE)


class _Policy:
    """Collects warnings; under --strict a repairable problem is refused instead."""

    def __init__(self, strict: bool, warnings: list[str]) -> None:
        self.strict = strict
        self.warnings = warnings

    def repairable(self, message: str, *, strict_hint: str | None = None) -> None:
        if self.strict:
            raise InputError(f"--strict: {message}",
                             hint=strict_hint or "run without --strict to let qdlpy repair it "
                             "(zero-fill / pad / truncate, reported)")
        self.warnings.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _read(path: Path, limit: int, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} ({path}): {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise InputError(f"{what} is over {limit} bytes; not a minidump header")
    return data


def _head(e: Entry, n: int = len(MAGIC)) -> bytes:
    if e.path is None:
        return b""
    try:
        with open(e.path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def explain_not_elf(data: bytes, label: str) -> str:
    """Why a header region is not an ELF: encryption (§8.3) or zeroing, in plain words."""
    if not data:
        return f"{label} is empty: the kernel ELF header was not dumped"
    if not any(data[:4096]):
        return (f"{label} is all zeros instead of an ELF header: the firmware zeroed the "
                "minidump (secure device without an OEM key, minidump-format.md §3.5)")
    distinct = len(set(data[:4096]))
    looks_random = distinct > min(200, len(data[:4096]) // 2)
    return (f"{label} does not start with an ELF header (first bytes {data[:8].hex()}): "
            + ("it looks encrypted. Secure devices that request encryption "
               "(encryption_required='YES') get ciphertext regions from XBL "
               "(minidump-format.md §8.3); qdlpy cannot assemble an encrypted minidump"
               if looks_random else "the file is not a kernel minidump header"))


def _pick_header(kernel: list[Entry], policy: _Policy) -> Entry | None:
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


def plan_kernel(scan: FolderScan, output: Path, *, strict: bool, repair: bool,
                warnings: list[str]) -> KernelResult | None:
    """The kernel ELF plan, or None when the dump has no kernel header region."""
    policy = _Policy(strict, warnings)
    kernel = [e for e in scan.entries if e.cls.kind is RegionKind.KERNEL]
    header = _pick_header(kernel, policy)
    if header is None:
        return None
    if header.path is None:
        raise InputError(f"{header.label} (the kernel ELF header) is listed but its file is "
                         "missing", hint="pull that region again (qdlpy pull --resume)")
    data = _read(header.path, MAX_HEADER, header.label)
    if data[:4] != ELFMAG:
        why = explain_not_elf(data, header.label)
        cls = EncryptedDump if ("encrypted" in why or "zeroed" in why) else InputError
        raise cls(why, hint="`qdlpy inspect DIR` lists the regions; decrypt with the OEM's "
                  "tools, or dump from a device that does not require encryption")
    eh = parse_ehdr(data, header.label)
    if eh.type != ET_CORE:
        raise InputError(f"{header.label} is an ELF of type {eh.type}, not a core file (4)")
    phdrs = parse_phdrs(data, eh, header.label)
    others = [e for e in kernel if e is not header]
    if phdrs and phdrs[0].type == PT_NOTE:
        return _kmemdump(scan, header, data, eh, phdrs, others, output, policy, repair)
    if eh.shnum:
        return _downstream(scan, header, data, eh, phdrs, others, output, policy)
    raise InputError(f"{header.label}: its first program header is not PT_NOTE and it has no "
                     "section headers; neither a kmemdump nor a downstream minidump header")


# --- shared region matching ------------------------------------------------------------------


def _same_bytes(entries: list[Entry]) -> bool:
    blobs = set()
    for e in entries:
        if e.path is None or (e.size or 0) > 64 * 1024 * 1024:
            return False
        try:
            blobs.add(e.path.read_bytes())
        except OSError:
            return False
    return len(blobs) == 1


def _choose(cands: list[Entry], what: str, policy: _Policy) -> Entry:
    """One of several entries with the same address: length already tried (§8.3)."""
    if len(cands) == 1:
        return cands[0]
    present = [e for e in cands if e.path is not None]
    if len(present) == 1:
        policy.warn(f"{what}: {len(cands)} entries share its address; only "
                    f"{present[0].label} has a file, used it")
        return present[0]
    if _same_bytes(present):
        policy.warn(f"{what}: {', '.join(e.label for e in cands)} share its address and hold "
                    f"the same bytes; used {present[0].label}")
        return present[0]
    with_id = sorted((e for e in present if e.cls.id is not None), key=lambda e: e.cls.id or 0)
    raise InputError(
        f"{what}: {len(cands)} regions share its address ({', '.join(e.label for e in cands)}) "
        "with different contents; qdlpy cannot tell which one the kernel registered",
        hint="remove the wrong file or fix its address in manifest.json / dump_info.txt"
        + (f" (ids: {', '.join(str(e.cls.id) for e in with_id)})" if with_id else ""))


def _match(ph: Phdr, what: str, pool: list[Entry], used: set[int],
           policy: _Policy) -> tuple[Entry, int, str] | None:
    """(entry, bytes to skip, how) for a PT_LOAD, by address then length (§8.2 step 6)."""
    free = [e for e in pool if id(e) not in used and e.base is not None]
    same = [e for e in free if e.base == ph.paddr]
    exact = [e for e in same if e.wanted == ph.filesz]
    if exact:
        return _choose(exact, what, policy), 0, "ok"
    if same:
        return _choose(same, what, policy), 0, "length-mismatch"
    if ph.paddr & 3:
        # Firmware masks the base to 4 bytes (§8.3): the file starts paddr & 3 bytes early.
        mis = [e for e in free if e.base == ph.paddr & ~3]
        if mis:
            return _choose(mis, what, policy), ph.paddr & 3, "misaligned"
    return None


def _check_loads(loads: list[tuple[int, Phdr]], data_start: int, label: str,
                 policy: _Policy) -> None:
    contiguous = True
    cursor = data_start
    prev_end, prev_i = data_start, 0
    for i, ph in sorted(loads, key=lambda t: t[1].offset):
        if ph.offset < data_start:
            raise InputError(f"{label}: PT_LOAD {i} starts at file offset {ph.offset}, inside "
                             f"the header ({data_start} bytes): corrupt header")
        if ph.offset + ph.filesz > MAX_OUTPUT or ph.memsz > MAX_OUTPUT:
            raise InputError(f"{label}: PT_LOAD {i} claims {ph.filesz} bytes at offset "
                             f"{ph.offset}: corrupt header")
        if ph.offset < prev_end:
            raise InputError(f"{label}: PT_LOAD {i} overlaps PT_LOAD {prev_i} in the file: "
                             "corrupt header")
        if ph.offset != cursor:
            contiguous = False
        cursor = ph.offset + ph.filesz
        prev_end, prev_i = max(prev_end, cursor), i
    if not contiguous:
        policy.warn(f"{label}: PT_LOAD offsets are not contiguous (unusual for kmemdump); "
                    "regions are still placed at their own offsets")
    by_pa = sorted((ph.paddr, ph.paddr + max(ph.memsz, ph.filesz), i) for i, ph in loads)
    for (a0, a1, i), (b0, _b1, j) in itertools.pairwise(by_pa):
        if b0 < a1:
            policy.warn(f"{label}: PT_LOAD {i} and {j} overlap in physical memory "
                        f"(0x{a0:x}-0x{a1:x} / 0x{b0:x})")


def _region_status(e: Entry, ph: Phdr, skip: int, how: str, what: str,
                   policy: _Policy) -> tuple[int, str, str]:
    """(bytes to copy, status, detail) for a matched entry; reports every repair."""
    avail = max(0, (e.size or 0) - skip)
    count = min(avail, ph.filesz)
    if ph.filesz - count > MAX_PAD:
        raise InputError(f"{what} wants {ph.filesz} bytes but {e.label} has {e.size}: "
                         "corrupt header")
    if e.status not in ("complete", "ok"):
        policy.repairable(f"{e.label}: the manifest says '{e.status}'; its bytes are used as "
                          "they are")
    if how == "misaligned":
        detail = (f"p_paddr 0x{ph.paddr:x} is not 4-byte aligned; {e.label} starts at "
                  f"0x{ph.paddr & ~3:x}: dropped its first {skip} bytes, zero-filled the last "
                  f"{ph.filesz - count}")
        policy.repairable(f"{what}: {detail}")
        return count, "misaligned", detail
    if avail < ph.filesz:
        detail = f"{e.label} is {avail} bytes, PT_LOAD wants {ph.filesz}: zero-padded"
        policy.repairable(f"{what}: {detail}")
        return count, "padded", detail
    if avail > ph.filesz:
        detail = f"{e.label} is {avail} bytes, PT_LOAD wants {ph.filesz}: truncated"
        policy.repairable(f"{what}: {detail}")
        return count, "truncated", detail
    if how == "length-mismatch":  # nothing to repair: reported only (§8.3)
        detail = f"table length {e.length} != p_filesz {ph.filesz}; the file has the right size"
        policy.warn(f"{what}: {detail}")
        return count, "length-mismatch", detail
    return count, "ok", ""


# --- kmemdump / meminspect -------------------------------------------------------------------


def _vmcoreinfo_note(data: bytes, note: Phdr) -> tuple[int | None, str]:
    """(descsz, state) of the VMCOREINFO note whose descriptor starts at len(KELF) (§8.2 3).

    state: "ok"; "corrupt-core" (the CORE notes are garbage but the VMCOREINFO header at the
    end of the region is intact); "missing" (no VMCOREINFO header found)."""
    klen = len(data)
    notes = walk_notes(data, note.offset, klen) if note.offset < klen else []
    if (len(notes) >= 3 and [(n.name, n.type) for n in notes[:2]] == [(b"CORE", 1), (b"CORE", 3)]
            and notes[2].name == b"VMCOREINFO" and notes[2].desc_offset == klen):
        return notes[2].descsz, "ok"
    at = klen - VMCOREINFO_NOTE_HEADER
    if at >= max(note.offset, EHDR_SIZE) and data[at + 12 : klen] == _VMCOREINFO_NAME:
        namesz, descsz, ntype = (int.from_bytes(data[at + k : at + k + 4], "little")
                                 for k in (0, 4, 8))
        if namesz == 11 and ntype == 0:
            return descsz, "corrupt-core"
    for n in notes:
        if n.name == b"VMCOREINFO" and n.desc_offset == klen:
            return n.descsz, "ok"
    return None, "missing"


def _derived_length(data: bytes, note: Phdr) -> int | None:
    """Where the VMCOREINFO descriptor starts according to the note headers themselves,
    i.e. the length the KELF region should have: ``PT_NOTE p_offset + p_filesz - descsz``
    (minidump-format.md §2.4) with descsz from the VMCOREINFO note header, found whole
    (region too long) or with its name cut (region a few bytes short)."""
    note_end = note.offset + note.filesz
    notes = walk_notes(data, note.offset, len(data)) if note.offset < len(data) else []
    for n in notes:
        if n.name == b"VMCOREINFO" and n.desc_offset + n.descsz == note_end:
            return n.desc_offset
    if len(notes) >= 2 and [(n.name, n.type) for n in notes[:2]] == [(b"CORE", 1), (b"CORE", 3)]:
        pos = notes[1].desc_offset + align4(notes[1].descsz)
        if pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<3I", data, pos)
            if namesz == 11 and ntype == 0 and pos + VMCOREINFO_NOTE_HEADER + descsz == note_end:
                return pos + VMCOREINFO_NOTE_HEADER
    return None


def _fit_header(header: Entry, data: bytes, note: Phdr, policy: _Policy) -> bytes:
    """The KELF bytes cut or zero-padded to the length its own headers (else the table)
    give, when the file is a few bytes off; otherwise ``data`` unchanged. A cut
    VMCOREINFO note name is restored (it is a constant). Reported as a repair."""
    if _vmcoreinfo_note(data, note)[1] != "missing":
        return data
    klen = len(data)
    wants = [_derived_length(data, note), header.length]
    for want in dict.fromkeys(w for w in wants if w is not None and w != klen):
        if not VMCOREINFO_NOTE_HEADER <= want <= MAX_HEADER or abs(want - klen) > MAX_PAD:
            continue
        fixed = bytearray(data[:want].ljust(want, b"\0"))
        name_at = want - 12
        namesz, ntype = (int.from_bytes(fixed[name_at - 12 + k : name_at - 8 + k], "little")
                         for k in (0, 8))
        restored = namesz == 11 and ntype == 0 and fixed[name_at:want] != _VMCOREINFO_NAME
        if restored:
            fixed[name_at:want] = _VMCOREINFO_NAME
        if _vmcoreinfo_note(bytes(fixed), note)[1] == "missing":
            continue
        how = (f"{want - klen} bytes short: zero-padded" if want > klen
               else f"{klen - want} bytes too long: truncated")
        policy.repairable(f"{header.label} is {klen} bytes, its ELF header says {want} ({how}"
                          f"{', VMCOREINFO note name restored' if restored else ''})")
        return bytes(fixed)
    return data


def _kmemdump(scan: FolderScan, header: Entry, data: bytes, eh: Ehdr, phdrs: list[Phdr],
              others: list[Entry], output: Path, policy: _Policy, repair: bool) -> KernelResult:
    label = header.label
    info = KernelInfo("kmemdump", label, eh.machine, eh.machine_name)
    if eh.phoff != EHDR_SIZE:
        policy.warn(f"{label}: e_phoff is {eh.phoff}, kmemdump writes 64")
    if not 2 <= eh.phnum <= NMAX:
        policy.warn(f"{label}: {eh.phnum} program headers (kmemdump writes 2..{NMAX}); crash "
                    "needs at least one PT_LOAD")
    note = phdrs[0]
    data = _fit_header(header, data, note, policy)
    klen = len(data)
    hdr = bytearray(data)

    descsz, state = _vmcoreinfo_note(data, note)
    unreachable = False  # corrupt CORE notes left as they are: readers cannot walk to VMCOREINFO
    if state == "corrupt-core":
        assert descsz is not None
        at = klen - VMCOREINFO_NOTE_HEADER
        p = at - note.offset - 40 - PRPSINFO_SIZE
        if repair and p > 0 and p % 4 == 0:
            hdr[note.offset : at] = core_notes(p)
            known = PRSTATUS_SIZE.get(eh.machine)
            info.repairs.append(f"rewrote the CORE notes (prstatus {p} bytes, prpsinfo "
                                f"{PRPSINFO_SIZE}) at offset {note.offset}: they were garbage")
            if known is not None and known != p:
                policy.warn(f"{label}: regenerated prstatus is {p} bytes; {eh.machine_name} "
                            f"uses {known}")
        elif repair:
            raise InputError(f"{label}: the CORE notes are corrupt and their size cannot be "
                             "derived; --repair cannot rebuild them")
        elif policy.strict:
            raise InputError(f"--strict: {label}: the CORE notes are corrupt (the VMCOREINFO "
                             "note header is intact)", hint="re-run with --repair")
        else:
            unreachable = True
            policy.warn(f"{label}: the CORE notes (NT_PRSTATUS/NT_PRPSINFO) are corrupt, so "
                        "crash and readelf cannot walk to VMCOREINFO; re-run with --repair")
    elif state == "missing":
        descsz = max(0, note.offset + note.filesz - klen)
        policy.repairable(f"{label}: no VMCOREINFO note header ends the region; assuming a "
                          f"{descsz}-byte descriptor from the PT_NOTE size. crash will lack "
                          "vmcoreinfo (--minimal only, KASLR unknown)")
    assert descsz is not None
    if descsz > MAX_VMCOREINFO:
        raise InputError(f"{label}: VMCOREINFO descriptor of {descsz} bytes: corrupt header")
    if note.offset + note.filesz != klen + descsz:
        policy.warn(f"{label}: PT_NOTE ends at {note.offset + note.filesz}, expected "
                    f"{klen + descsz} (KELF {klen} + vmcoreinfo {descsz})")
    data_start = klen + descsz

    loads = [(i, ph) for i, ph in enumerate(phdrs) if i > 0 and ph.type == PT_LOAD]
    for i, ph in enumerate(phdrs):
        if i > 0 and ph.type != PT_LOAD:
            policy.warn(f"{label}: program header {i} has type {ph.type}, not PT_LOAD; ignored")
    for i, ph in loads:
        if ph.filesz != ph.memsz:
            policy.warn(f"{label}: PT_LOAD {i} has p_filesz {ph.filesz} != p_memsz {ph.memsz}")
    _check_loads(loads, data_start, label, policy)

    # vmcoreinfo (§8.2 step 4): id 2, length == descsz, starts with OSRELEASE=, not a PT_LOAD.
    def covered(addr: int | None) -> bool:
        return addr is not None and any(
            ph.paddr <= addr < ph.paddr + max(ph.memsz, ph.filesz, 1) for _, ph in loads)

    vm: Entry | None = None
    cands = [e for e in others if e.cls.id == 2 and e.wanted == descsz
             and not covered(e.base) and looks_like_vmcoreinfo(_head(e))]
    if len(cands) == 1:
        vm = cands[0]
    elif scan.has_addresses:
        loose = [e for e in others if e.base is not None and not covered(e.base)
                 and looks_like_vmcoreinfo(_head(e))]
        by_id = [e for e in others if e.cls.id == 2 and not covered(e.base)]
        vm = loose[0] if len(loose) == 1 else by_id[0] if len(by_id) == 1 else None
    else:
        by_id = [e for e in others if e.cls.id == 2]
        vm = by_id[0] if len(by_id) == 1 else None

    vm_bytes = bytes(descsz)
    if vm is None or vm.path is None:
        info.vmcoreinfo_status = "missing"
        if descsz:
            policy.repairable(f"vmcoreinfo region ({'id 2' if vm is None else vm.label}) is "
                              f"missing: {descsz} zero bytes written in its place; crash will "
                              "lack vmcoreinfo (--minimal only, KASLR unknown)")
        info.vmcoreinfo_file = None if vm is None else vm.label
    else:
        info.vmcoreinfo_file = vm.label
        raw = _read(vm.path, MAX_VMCOREINFO, vm.label)
        info.vmcoreinfo_status = "ok"
        if len(raw) < descsz:
            info.vmcoreinfo_status = "short"
            policy.repairable(f"{vm.label} is {len(raw)} bytes, the note wants {descsz}: "
                              "zero-padded; vmcoreinfo may be cut")
        elif len(raw) > descsz:
            info.vmcoreinfo_status = "long"
            policy.repairable(f"{vm.label} is {len(raw)} bytes, the note wants {descsz}: "
                              "truncated")
        if not looks_like_vmcoreinfo(raw):
            policy.warn(f"{vm.label} does not start with OSRELEASE=; it may not be vmcoreinfo")
        vm_bytes = raw[:descsz].ljust(descsz, b"\0")
    if unreachable and info.vmcoreinfo_status != "missing":
        info.vmcoreinfo_status = UNREACHABLE
    info.vmcoreinfo = parse_vmcoreinfo(vm_bytes)
    info.osrelease, info.kerneloffset, info.page_size = kernel_facts(info.vmcoreinfo)

    # Map PT_LOADs to regions (§8.2 step 6).
    pool = [e for e in others if e is not vm]
    used: set[int] = set()
    matched: dict[int, tuple[Entry, int, str]] = {}
    if scan.has_addresses:
        for i, ph in loads:
            what = f"PT_LOAD {i} (0x{ph.paddr:x}, {ph.filesz} bytes)"
            m = _match(ph, what, pool, used, policy)
            if m is not None:
                matched[i] = m
                used.add(id(m[0]))
    else:
        ordered = sorted((e for e in pool if e.cls.id is not None and e.path is not None),
                         key=lambda e: (e.cls.id or 0, e.position))
        for k, (i, ph) in enumerate(loads):
            if k >= len(ordered):
                raise InputError(
                    f"no address file and only {len(ordered)} md_K data files for {len(loads)} "
                    "PT_LOADs: the id-order heuristic (minidump-format.md §8.6) cannot continue",
                    hint="put the dump's dump_info.txt or load.cmm next to the files")
            e = ordered[k]
            # Firmware masks the base to 4 bytes (§8.3): the file starts paddr & 3 early,
            # has the table length (= p_filesz) and goes through the same repair as by address.
            if e.size != ph.filesz:
                raise InputError(
                    f"no address file, and the id-order heuristic fails at PT_LOAD {i}: "
                    f"{e.label} is {e.size} bytes, the header wants {ph.filesz} "
                    "(minidump-format.md §8.6)",
                    hint="put the dump's dump_info.txt or load.cmm next to the files")
            skip = ph.paddr & 3
            matched[i] = (e, skip, "misaligned" if skip else "ok")
            used.add(id(e))
        policy.warn("no address file (manifest.json, dump_info.txt or load.cmm): regions were "
                    "matched to PT_LOADs by id order and size (minidump-format.md §8.6)")

    # Output layout: every region at its p_offset; a missing one becomes p_filesz = 0 with
    # p_memsz kept (reads as zeros) and later offsets move down by its size (§8.3).
    pieces: list[Piece] = []
    placements: list[Placement] = []
    shift = 0
    end = data_start
    for i, ph in sorted(loads, key=lambda t: t[1].offset):
        what = f"PT_LOAD {i} (0x{ph.paddr:x}, {ph.filesz} bytes)"
        new_off = ph.offset - shift
        m = matched.get(i)
        if m is None or m[0].path is None:
            name = None if m is None else m[0].label
            detail = (f"{name} is listed but not on disk" if name else
                      "no region with this address") + "; p_filesz set to 0, p_memsz kept"
            policy.repairable(f"{what} is missing ({detail})")
            shift += ph.filesz
            out = dataclasses.replace(ph, offset=new_off, filesz=0)
            placements.append(Placement(i, name, ph.paddr, ph.vaddr, new_off, 0, ph.memsz,
                                        "missing", detail))
        else:
            e, skip, how = m
            count, status, detail = _region_status(e, ph, skip, how, what, policy)
            out = dataclasses.replace(ph, offset=new_off)
            pieces.append(Piece(new_off, count, path=e.path, src_offset=skip))
            placements.append(Placement(i, e.label, ph.paddr, ph.vaddr, new_off, ph.filesz,
                                        ph.memsz, status, detail))
        if out != ph:
            at = eh.phoff + i * PHDR_SIZE
            hdr[at : at + PHDR_SIZE] = out.pack()
        end = max(end, out.offset + out.filesz)
    info.placements = sorted(placements, key=lambda p: p.index)

    unreferenced = [e for e in pool if id(e) not in used]
    for e in unreferenced:
        info.unreferenced.append(e.label)
    if unreferenced:
        policy.warn(f"{len(unreferenced)} md_K region(s) registered but not in the ELF header: "
                    f"{', '.join(e.label for e in unreferenced[:8])}"
                    f"{' ...' if len(unreferenced) > 8 else ''} (kept in a side ELF)")
    pieces = [Piece(0, klen, data=bytes(hdr)), Piece(klen, descsz, data=vm_bytes), *pieces]
    plan = OutputPlan(output, "kernel", end, pieces, regions=len(placements))
    return KernelResult(plan, info, unreferenced,
                        vm_bytes if info.vmcoreinfo_status != "missing" else None)


# --- downstream msm_minidump (section based) -------------------------------------------------

_BANNER = re.compile(rb"Linux version (\S+)")


def _downstream(scan: FolderScan, header: Entry, data: bytes, eh: Ehdr, phdrs: list[Phdr],
                others: list[Entry], output: Path, policy: _Policy) -> KernelResult:
    label = header.label
    info = KernelInfo("downstream", label, eh.machine, eh.machine_name)
    shdrs = parse_shdrs(data, eh, label)
    if not 0 < eh.shstrndx < len(shdrs) or shdrs[eh.shstrndx].type != SHT_STRTAB:
        raise InputError(f"{label}: no section string table (e_shstrndx {eh.shstrndx})")
    strtab = shdrs[eh.shstrndx]
    hlen = len(data)
    names: dict[int, list[str]] = {}
    for sh in shdrs:
        if sh.type != SHT_PROGBITS:
            continue
        name = section_name(data, strtab, sh.name)
        names.setdefault(sh.offset, []).append(name)
        if name == "linux_banner" and sh.offset + sh.size <= hlen:
            hit = _BANNER.search(data[sh.offset : sh.offset + sh.size])
            if hit:
                info.osrelease = hit.group(1).decode("ascii", errors="replace")
    # LRDP's view: md_<name>.BIN per section name, duplicates in seq order (§3.4, §4.2).
    # A name that ends in digits ("KCPU0") is also indexed whole, since the id split is a guess.
    by_name: dict[str, list[Entry]] = {}
    for e in sorted(others, key=lambda e: (e.cls.id or 0, e.position)):
        by_name.setdefault(e.cls.name.lower(), []).append(e)
        if e.cls.id is not None:
            by_name.setdefault(f"{e.cls.name}{e.cls.id}".lower(), []).append(e)

    loads = [(i, ph) for i, ph in enumerate(phdrs) if ph.type == PT_LOAD]
    outside = [(i, ph) for i, ph in loads if ph.offset + ph.filesz > hlen]
    _check_loads(outside, hlen, label, policy)
    used: set[int] = set()
    pieces: list[Piece] = [Piece(0, hlen, data=data)]
    placements: list[Placement] = []
    end = hlen
    for i, ph in loads:
        what = f"PT_LOAD {i} (0x{ph.paddr:x}, {ph.filesz} bytes)"
        sec = names.get(ph.offset, [])
        if ph.offset + ph.filesz <= hlen:
            placements.append(Placement(i, sec[0] if sec else None, ph.paddr, ph.vaddr,
                                        ph.offset, ph.filesz, ph.memsz, "in-header"))
            continue
        m = _match(ph, what, others, used, policy) if scan.has_addresses else None
        if m is None and sec:
            queue = [e for e in by_name.get(sec[0].lower(), []) if id(e) not in used
                     and e.base in (None, ph.paddr)]
            if queue:
                m = (queue[0], 0, "ok" if queue[0].wanted == ph.filesz else "length-mismatch")
        if m is None or m[0].path is None:
            policy.repairable(f"{what} ({sec[0] if sec else '?'}) is missing: zero-filled at "
                              "its offset")
            placements.append(Placement(i, None if m is None else m[0].label, ph.paddr,
                                        ph.vaddr, ph.offset, ph.filesz, ph.memsz, "missing"))
        else:
            used.add(id(m[0]))
            count, status, detail = _region_status(m[0], ph, m[1], m[2], what, policy)
            pieces.append(Piece(ph.offset, count, path=m[0].path, src_offset=m[1]))
            placements.append(Placement(i, m[0].label, ph.paddr, ph.vaddr, ph.offset,
                                        ph.filesz, ph.memsz, status, detail))
        end = max(end, ph.offset + ph.filesz)
    info.placements = placements
    unreferenced = [e for e in others if id(e) not in used]
    info.unreferenced = [e.label for e in unreferenced]
    if unreferenced:
        policy.warn(f"{len(unreferenced)} md_K region(s) not described by {label}: "
                    f"{', '.join(e.label for e in unreferenced[:8])}")
    return KernelResult(OutputPlan(output, "kernel", end, pieces, regions=len(placements)),
                        info, unreferenced)

