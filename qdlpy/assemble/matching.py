"""Which region file holds a PT_LOAD's bytes, and how much of it goes into the ELF.

Shared by both header styles (kmemdump and downstream): a PT_LOAD is matched by physical
address then length, then at the address rounded down to 4 (firmware masks table bases to
4 bytes); the file is then used as is, zero padded, truncated or shifted, and every repair is
reported through the :class:`~qdlpy.assemble.policy.Policy`.
"""

from __future__ import annotations

import itertools

from qdlpy.errors import InputError
from qdlpy.formats.elf import Phdr

from .folder import Entry
from .plan import MAX_OUTPUT, MAX_PAD, read_bounded
from .policy import Policy

__all__ = ["Match", "match_by_address", "check_loads", "region_status"]

Match = tuple[Entry, int, str]  # (entry, bytes of the file to skip, how it was matched)


def _same_bytes(entries: list[Entry]) -> bool:
    blobs = set()
    limit = 64 * 1024 * 1024
    for e in entries:
        if e.path is None or (e.size or 0) > limit:
            return False
        try:
            blobs.add(read_bounded(e.path, limit, e.label))
        except InputError:
            return False
    return len(blobs) == 1


def _choose(cands: list[Entry], what: str, policy: Policy) -> Entry:
    """One of several entries with the same address: length already tried
    (docs/formats.md#duplicate-addresses)."""
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


def match_by_address(ph: Phdr, what: str, pool: list[Entry], used: set[int],
                     policy: Policy) -> Match | None:
    """(entry, bytes to skip, how) for a PT_LOAD, by address then length
    (docs/formats.md#mapping-pt_loads-to-regions)."""
    free = [e for e in pool if id(e) not in used and e.base is not None]
    same = [e for e in free if e.base == ph.paddr]
    exact = [e for e in same if e.wanted == ph.filesz]
    if exact:
        return _choose(exact, what, policy), 0, "ok"
    if same:
        return _choose(same, what, policy), 0, "length-mismatch"
    if ph.paddr & 3:
        # Firmware masks the base to 4 bytes (docs/formats.md#misaligned-regions): the file starts
        # paddr & 3 bytes early.
        mis = [e for e in free if e.base == ph.paddr & ~3]
        if mis:
            return _choose(mis, what, policy), ph.paddr & 3, "misaligned"
    return None


def check_loads(loads: list[tuple[int, Phdr]], data_start: int, label: str,
                policy: Policy) -> None:
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


def region_status(e: Entry, ph: Phdr, skip: int, how: str, what: str,
                  policy: Policy) -> tuple[int, str, str]:
    """(bytes to copy, status, detail) for a matched entry; reports every repair."""
    avail = max(0, (e.size or 0) - skip)
    count = min(avail, ph.filesz)
    if ph.filesz - count > MAX_PAD:
        raise InputError(f"{what} wants {ph.filesz} bytes but {e.label} has {e.size}: "
                         "corrupt header")
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
    # nothing to repair: reported only (docs/formats.md#short-and-long-regions)
    if how == "length-mismatch":
        detail = f"table length {e.length} != p_filesz {ph.filesz}; the file has the right size"
        policy.warn(f"{what}: {detail}")
        return count, "length-mismatch", detail
    return count, "ok", ""
