"""Arbitrary header/region bytes give an ELF or a QdlpyError, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import kmemdump
from oracle.folder import TableEntry, write_folder

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import QdlpyError

BASE = kmemdump.build("arm64")
SMALL = list(BASE.rows[:8])  # KELF, vmcoreinfo, 6 data regions


def _run(rows: list[TableEntry], source: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = write_folder(Path(d) / "dump", rows,
                              sources=() if source == "none" else (source,))
        try:
            report = assemble(folder)
        except QdlpyError:
            pass
        else:
            assert report.outputs
            for o in report.outputs:
                assert Path(o.path).stat().st_size == o.size
                inspect(o.path)  # what we wrote can be inspected
        try:
            inspect(folder)
        except QdlpyError:
            pass


def _with_header(kelf: bytes) -> list[TableEntry]:
    return [TableEntry(SMALL[0].base, SMALL[0].desc, SMALL[0].filename, kelf), *SMALL[1:]]


mutation = st.lists(st.tuples(st.integers(0, len(BASE.kelf) - 1), st.integers(0, 255)),
                    min_size=1, max_size=12)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutation, cut=st.one_of(st.none(), st.integers(0, len(BASE.kelf))),
       source=st.sampled_from(["manifest", "none"]))
def test_mutated_kelf_header(edits: list[tuple[int, int]], cut: int | None, source: str) -> None:
    kelf = bytearray(BASE.kelf)
    for pos, val in edits:
        kelf[pos] = val
    if cut is not None:
        kelf = kelf[:cut]
    _run(_with_header(bytes(kelf)), source)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.binary(max_size=600), vm=st.binary(max_size=64),
       data=st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32),
                               st.binary(max_size=64)), max_size=4))
def test_random_bytes_and_table(header: bytes, vm: bytes,
                                data: list[tuple[int, int, bytes]]) -> None:
    rows = [TableEntry(0x1000, "md_KELF1", "md_KELF1.BIN", header),
            TableEntry(0x2000, "md_Kvmcorein2", "md_Kvmcorein2.BIN", vm)]
    rows += [TableEntry(base, f"md_Kunknown{50 + i}", f"md_Kunknown{50 + i}.BIN", blob,
                        length=length) for i, (base, length, blob) in enumerate(data)]
    _run(rows, "manifest")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phdr=st.integers(1, 7), field=st.integers(0, 6), value=st.integers(0, 2**64 - 1))
def test_hostile_program_header_fields(phdr: int, field: int, value: int) -> None:
    kelf = bytearray(BASE.kelf)
    at = 64 + 56 * phdr + (0 if field == 0 else 8 * field)  # p_type/flags, offset.. align
    width = 4 if field == 0 else 8
    kelf[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    _run(_with_header(bytes(kelf)), "manifest")
