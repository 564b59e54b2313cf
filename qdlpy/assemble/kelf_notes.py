"""The note segment of a kmemdump header region: find the VMCOREINFO note, fit a region a few
bytes off to the length its layout gives, and deal with corrupt CORE notes.

The region ends with the VMCOREINFO note header; its descriptor is the next region (id 2)
and starts exactly at the region's end.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

from qdlpy.errors import InputError
from qdlpy.formats.coreimage import (
    PRPSINFO_SIZE,
    PRSTATUS_SIZE,
    VMCOREINFO_NOTE_HEADER,
    VMCOREINFO_NOTE_NAME,
    core_notes,
    header_start,
    note_len,
    vmcoreinfo_note_header,
)
from qdlpy.formats.elf import EHDR_SIZE, Ehdr, Phdr, align4, walk_notes

from .folder import Entry
from .plan import MAX_HEADER, MAX_PAD, MAX_VMCOREINFO
from .policy import Policy
from .report import KernelInfo

__all__ = ["NoteState", "VmcoreinfoNote", "find_vmcoreinfo_note", "fit_header",
           "settle_core_notes"]

_CORE_PAIR = [(b"CORE", 1), (b"CORE", 3)]  # NT_PRSTATUS, NT_PRPSINFO


class NoteState(enum.Enum):
    OK = "ok"  # CORE, CORE, VMCOREINFO: readers walk to the descriptor
    CORRUPT_CORE = "corrupt-core"  # CORE notes are garbage, the VMCOREINFO header is intact
    MISSING = "missing"  # no VMCOREINFO note header ends the region


@dataclasses.dataclass(frozen=True)
class VmcoreinfoNote:
    state: NoteState
    descsz: int | None  # the descriptor size the note header gives (None when MISSING)


def _intact_header_at_end(data: bytes, start: int) -> int | None:
    """descsz of a VMCOREINFO note header in the last 24 bytes, whatever precedes it."""
    at = len(data) - VMCOREINFO_NOTE_HEADER
    if at < max(start, EHDR_SIZE) or data[at + 12 :] != VMCOREINFO_NOTE_NAME:
        return None
    namesz, descsz, ntype = struct.unpack_from("<3I", data, at)
    return descsz if namesz == 11 and ntype == 0 else None


def find_vmcoreinfo_note(data: bytes, note: Phdr) -> VmcoreinfoNote:
    """The VMCOREINFO note whose descriptor starts at ``len(data)``."""
    klen = len(data)
    notes = walk_notes(data, note.offset, klen) if note.offset < klen else []
    if (len(notes) >= 3 and [(n.name, n.type) for n in notes[:2]] == _CORE_PAIR
            and notes[2].name == b"VMCOREINFO" and notes[2].desc_offset == klen):
        return VmcoreinfoNote(NoteState.OK, notes[2].descsz)
    descsz = _intact_header_at_end(data, note.offset)
    if descsz is not None:
        return VmcoreinfoNote(NoteState.CORRUPT_CORE, descsz)
    for n in notes:
        if n.name == b"VMCOREINFO" and n.desc_offset == klen:
            return VmcoreinfoNote(NoteState.OK, n.descsz)
    return VmcoreinfoNote(NoteState.MISSING, None)


# --- a header region a few bytes off -------------------------------------------------------


def _layout_length(eh: Ehdr, data: bytes, note: Phdr) -> int | None:
    """The region length the kernel's layout gives, from the PT_NOTE alone: with P the
    prstatus size (by e_machine, else the first note's) the descriptor size is
    ``V = p_filesz - note_len(P, S, 0)``, accepted only when ``header_start(P, S, V)`` is
    ``p_offset``; the region is then ``p_offset + p_filesz - V`` bytes."""
    first = walk_notes(data, note.offset, len(data), limit=1) if note.offset < len(data) else []
    for p in (PRSTATUS_SIZE.get(eh.machine), first[0].descsz if first else None):
        if p is None or p > MAX_HEADER:
            continue
        v = note.filesz - note_len(p, PRPSINFO_SIZE, 0)
        if v >= 0 and v % 4 == 0 and header_start(p, PRPSINFO_SIZE, v) == note.offset:
            return note.offset + note.filesz - v
    return None


def _notes_length(data: bytes, note: Phdr) -> int | None:
    """The length the note headers themselves give: where the VMCOREINFO descriptor starts,
    found whole (region too long) or after the two CORE notes (region a few bytes short)."""
    note_end = note.offset + note.filesz
    notes = walk_notes(data, note.offset, len(data)) if note.offset < len(data) else []
    for n in notes:
        if n.name == b"VMCOREINFO" and n.desc_offset + n.descsz == note_end:
            return n.desc_offset
    if len(notes) >= 2 and [(n.name, n.type) for n in notes[:2]] == _CORE_PAIR:
        pos = notes[1].desc_offset + align4(notes[1].descsz)
        if pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<3I", data, pos)
            if namesz == 11 and ntype == 0 and pos + VMCOREINFO_NOTE_HEADER + descsz == note_end:
                return pos + VMCOREINFO_NOTE_HEADER
    return None


def _refit(data: bytes, want: int, note: Phdr, *, exact: bool) -> tuple[bytes, bool]:
    """``data`` cut or zero padded to ``want`` bytes, and whether part of the VMCOREINFO
    note header (a constant once its descsz is known) was put back where the region was
    cut. Without an ``exact`` length only a cut name is put back, and only when the
    header's numbers survived and agree."""
    fixed = bytearray(data[:want].ljust(want, b"\0"))
    descsz = note.offset + note.filesz - want
    start = want - VMCOREINFO_NOTE_HEADER
    if len(data) >= want or descsz < 0 or start < EHDR_SIZE:
        return bytes(fixed), False
    expected = vmcoreinfo_note_header(descsz)
    cut = max(len(data), start)
    if not exact and (cut < start + 12 or fixed[start : start + 12] != expected[:12]):
        return bytes(fixed), False
    fixed[cut:want] = expected[cut - start :]
    return bytes(fixed), True


def fit_header(header: Entry, data: bytes, eh: Ehdr, note: Phdr, policy: Policy) -> bytes:
    """The header region cut or zero padded to the length its layout (else its notes, else
    the table) gives, when no VMCOREINFO note header ends it as it is; otherwise ``data``
    unchanged. A cut VMCOREINFO note header is restored. Reported as a repair."""
    if find_vmcoreinfo_note(data, note).state is not NoteState.MISSING:
        return data
    klen = len(data)
    exact = _layout_length(eh, data, note)
    wants = [exact, _notes_length(data, note), header.length]
    for want in dict.fromkeys(w for w in wants if w is not None and w != klen):
        if not VMCOREINFO_NOTE_HEADER <= want <= MAX_HEADER or abs(want - klen) > MAX_PAD:
            continue
        fixed, restored = _refit(data, want, note, exact=want == exact)
        if find_vmcoreinfo_note(fixed, note).state is NoteState.MISSING:
            continue
        how = (f"{want - klen} bytes short: zero-padded" if want > klen
               else f"{klen - want} bytes too long: truncated")
        policy.repairable(f"{header.label} is {klen} bytes, its ELF header says {want} ({how}"
                          f"{', VMCOREINFO note header restored' if restored else ''})")
        return fixed
    return data


# --- corrupt CORE notes --------------------------------------------------------------------


def _corrupt_core(hdr: bytearray, eh: Ehdr, note: Phdr, label: str, policy: Policy,
                  repair: bool, info: KernelInfo) -> bool:
    """Rewrite the CORE notes (``repair``), refuse (--strict) or warn. True when they stay
    corrupt, so readers cannot walk to VMCOREINFO."""
    at = len(hdr) - VMCOREINFO_NOTE_HEADER
    p = at - note.offset - 40 - PRPSINFO_SIZE
    if repair and p > 0 and p % 4 == 0:
        hdr[note.offset : at] = core_notes(p)
        info.repairs.append(f"rewrote the CORE notes (prstatus {p} bytes, prpsinfo "
                            f"{PRPSINFO_SIZE}) at offset {note.offset}: they were garbage")
        known = PRSTATUS_SIZE.get(eh.machine)
        if known is not None and known != p:
            policy.warn(f"{label}: regenerated prstatus is {p} bytes; {eh.machine_name} "
                        f"uses {known}")
        return False
    if repair:
        raise InputError(f"{label}: the CORE notes are corrupt and their size cannot be "
                         "derived; --repair cannot rebuild them")
    if policy.strict:
        raise InputError(f"--strict: {label}: the CORE notes are corrupt (the VMCOREINFO "
                         "note header is intact)", hint="re-run with --repair")
    policy.warn(f"{label}: the CORE notes (NT_PRSTATUS/NT_PRPSINFO) are corrupt, so "
                "crash and readelf cannot walk to VMCOREINFO; re-run with --repair")
    return True


def settle_core_notes(hdr: bytearray, eh: Ehdr, note: Phdr, label: str, policy: Policy,
                      repair: bool, info: KernelInfo) -> tuple[int, bool]:
    """(VMCOREINFO descriptor size, whether the notes stay unwalkable) for the header
    ``hdr``, whose corrupt CORE notes ``repair`` rewrites in place."""
    klen = len(hdr)
    found = find_vmcoreinfo_note(bytes(hdr), note)
    unreachable = False
    if found.state is NoteState.CORRUPT_CORE:
        unreachable = _corrupt_core(hdr, eh, note, label, policy, repair, info)
    descsz = found.descsz
    if descsz is None:
        descsz = max(0, note.offset + note.filesz - klen)
        policy.repairable(f"{label}: no VMCOREINFO note header ends the region; assuming a "
                          f"{descsz}-byte descriptor from the PT_NOTE size. crash will lack "
                          "vmcoreinfo (--minimal only, KASLR unknown)")
    if descsz > MAX_VMCOREINFO:
        raise InputError(f"{label}: VMCOREINFO descriptor of {descsz} bytes: corrupt header")
    if note.offset + note.filesz != klen + descsz:
        policy.warn(f"{label}: PT_NOTE ends at {note.offset + note.filesz}, expected "
                    f"{klen + descsz} (KELF {klen} + vmcoreinfo {descsz})")
    return descsz, unreachable
