"""Corrupt input ends in a QdlpyError or a partial log, never another exception, a hang or
a huge allocation: random bytes in each region, truncated files, absurd VMCOREINFO values,
and the fuzz entry points (qdlpy.triage.fuzz) on arbitrary bytes."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from triage_build import boot_log, legacy_core, lockless_core, lockless_segments, vendor_folder
from triage_elf import Seg, core, vmcoreinfo_text
from triage_kring import LegacyLog, LocklessRing

import qdlpy
from qdlpy.errors import QdlpyError
from qdlpy.triage import fuzz

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def ring() -> LocklessRing:
    r = LocklessRing(5, 12)
    for text, ts in boot_log(120):
        r.write(text, ts)
    return r


def read_or_refuse(path: Path) -> None:
    try:
        qdlpy.dmesg(path)
        qdlpy.report(path, debuginfod=False)
    except QdlpyError:
        pass


@SETTINGS
@given(which=st.integers(0, 4), seed=st.integers(0, 2**32 - 1))
def test_random_bytes_in_one_region(tmp_path: Path, which: int, seed: int) -> None:
    segs, _, vi = lockless_segments(ring())
    rng = random.Random(seed)
    segs[which] = Seg(segs[which].vaddr, rng.randbytes(len(segs[which].data)))
    path = tmp_path / "core.elf"
    path.write_bytes(core(segs, vi))
    read_or_refuse(path)


@SETTINGS
@given(cut=st.floats(0.0, 1.0))
def test_truncated_core(tmp_path: Path, cut: float) -> None:
    data = lockless_core(ring())
    path = tmp_path / "core.elf"
    path.write_bytes(data[: int(len(data) * cut)])
    read_or_refuse(path)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), which=st.sampled_from(["KLOGBUF", "LOG_DESC", "LOG_INFO"]))
def test_random_vendor_regions(tmp_path: Path, seed: int, which: str) -> None:
    r = ring()
    files = {"KLOGBUF": bytes(r.data), "LOG_DESC": r.desc_bytes(), "LOG_INFO": r.info_bytes()}
    files[which] = random.Random(seed).randbytes(len(files[which]))
    read_or_refuse(vendor_folder(tmp_path / f"d{seed}", files))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_random_log_buf(tmp_path: Path, seed: int) -> None:
    log = LegacyLog(4096)
    for text, ts in boot_log(100):
        log.store(text, ts)
    rng = random.Random(seed)
    at = rng.randrange(4096)
    log.buf[at : at + 64] = rng.randbytes(64)
    path = tmp_path / "core.elf"
    path.write_bytes(legacy_core(log))
    read_or_refuse(path)
    read_or_refuse(vendor_folder(tmp_path / f"v{seed}", {"KLOGBUF": bytes(log.buf)}))


ABSURD = [("SIZE(printk_info)", 10**12), ("SIZE(prb_desc)", 2**40),
          ("OFFSET(printk_info.ts_nsec)", 2**33), ("SIZE(printk_ringbuffer)", 10**15),
          ("OFFSET(prb_desc_ring.count_bits)", 2**31), ("SIZE(printk_info)", -5)]


@pytest.mark.parametrize("key,value", ABSURD)
def test_absurd_vmcoreinfo_values_are_refused_without_allocating(key: str, value: int,
                                                                  tmp_path: Path) -> None:
    r = ring()
    segs, _, _ = lockless_segments(r)
    _, keys = r.header_bytes(segs[2].vaddr, segs[3].vaddr, segs[4].vaddr)
    keys = {**keys, **r.layout_keys(), key: value}
    path = tmp_path / "core.elf"
    path.write_bytes(core(segs, vmcoreinfo_text(keys, symbols={"prb": segs[0].vaddr})))
    tracemalloc.start()
    try:
        with pytest.raises(QdlpyError):
            qdlpy.dmesg(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


@pytest.mark.parametrize("count_bits,size_bits", [(60, 12), (5, 63), (0, 12), (5, 0)])
def test_absurd_ring_header_is_refused(count_bits: int, size_bits: int, tmp_path: Path) -> None:
    r = ring()
    r.count_bits, r.size_bits = count_bits, size_bits  # what the header will claim
    with pytest.raises(QdlpyError, match="not a ring"):
        path = tmp_path / "core.elf"
        path.write_bytes(lockless_core(r))
        qdlpy.dmesg(path)


@SETTINGS
@given(data=st.binary(max_size=40000))
def test_fuzz_entry_points(data: bytes) -> None:
    for entry in (fuzz.fuzz_elf_core, fuzz.fuzz_lockless_ring, fuzz.fuzz_log_buf,
                  fuzz.fuzz_vendor_log_buf):
        try:
            entry(data)
        except QdlpyError:
            pass


def test_fuzz_elf_core_reads_a_valid_core() -> None:
    got = fuzz.fuzz_elf_core(lockless_core(ring()))
    assert len(got.records) == 32 and not got.skipped
