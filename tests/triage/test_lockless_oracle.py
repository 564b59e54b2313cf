"""The lockless ring (5.10+) read through VMCOREINFO equals vmcore-dmesg, byte for byte.

Rings come from tests/triage/triage_kring.py (the kernel's writers modelled with struct),
cores from triage_elf.py; vmcore-dmesg (kexec-tools) reads the same file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from triage_build import boot_log, lockless_core
from triage_elf import EM_ARM, EM_X86_64
from triage_kring import COMMITTED, FINALIZED, RESERVED, REUSABLE, Layout, LocklessRing
from triage_oracle import vmcore_dmesg

import qdlpy
from qdlpy.cli.main import main

LAYOUTS = {
    "aarch64": (Layout.for_word(8), None),
    "x86_64": (Layout.for_word(8), EM_X86_64),
    "be64": (Layout.for_word(8, ">"), None),
    "arm32": (Layout.for_word(4), EM_ARM),
    # VMCOREINFO says where every field is: a layout no kernel used must still be read.
    "shuffled": (Layout(8, "<", 40, 32, 8, 24, 96, 48, 8, 88, 0), None),
}


def check(ring: LocklessRing, tmp_path: Path, machine: int | None = None) -> bytes:
    core = tmp_path / "core.elf"
    core.write_bytes(lockless_core(ring, machine=machine))
    want = vmcore_dmesg(core)
    got = qdlpy.dmesg(core)
    assert got.text() == want
    assert got.layout == "lockless" and got.status == "ok"
    return want


def states(ring: LocklessRing) -> set[int | None]:
    """The states of the descriptors between the ring's tail and a full lap after it."""
    mask = ring.id_mask
    return {ring.state(i & mask) for i in range(ring.tail_id, ring.tail_id + ring.count)}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_wrapped_ring_with_every_state(name: str, tmp_path: Path) -> None:
    lay, machine = LAYOUTS[name]
    ring = LocklessRing(6, 11, lay)  # text-bound: records leave by their text first
    for text, ts in boot_log(400):
        ring.write(text, ts, caller=0x80000003 if ts % 2 else 42)
    ring.write(b"", 7_000_000_000)  # an empty record: NO_LPOS
    ring.write(b"z" * 5000, 7_100_000_000)  # larger than the ring: FAILED_LPOS, no text
    ring.write(b"still committed", 7_200_000_000, final=False)
    assert ring.wrapped_blocks >= 1  # some text block wrapped at the end of the ring
    assert {REUSABLE, FINALIZED, COMMITTED} <= states(ring)
    want = check(ring, tmp_path, machine)
    assert want.endswith(b"[    7.200000] still committed\n")
    assert b"[    0.000000] \n" in want  # the record whose text could not be stored
    # A writer caught between reserve and commit: its record is not printed (and the
    # reservation finalized the committed one before it, as the kernel does).
    ring.reserve(b"a writer was here when the dump was taken", 7_300_000_000)
    assert RESERVED in states(ring)
    again = check(ring, tmp_path, machine)  # the reservation may have pushed out the oldest
    assert again.endswith(b"still committed\n") and b"writer was here" not in again


def test_not_yet_wrapped_ring(tmp_path: Path) -> None:
    ring = LocklessRing(6, 14)
    for text, ts in boot_log(20):
        ring.write(text, ts)
    want = check(ring, tmp_path)
    assert want.count(b"\n") == 20


def test_every_byte_value_is_escaped_as_vmcore_dmesg_does(tmp_path: Path) -> None:
    ring = LocklessRing(6, 14)
    for start in range(0, 256, 64):
        ring.write(bytes(range(start, start + 64)), start * 1000)
    ring.write("multi\nline\trecord caf\u00e9".encode(), 999_999_999_999)
    want = check(ring, tmp_path)
    assert b"\\x00" in want and b"\\xff" in want and b"multi\nline\t" in want


def test_text_len_longer_than_its_block_is_cut_like_vmcore_dmesg(tmp_path: Path) -> None:
    ring = LocklessRing(4, 12)
    rid = ring.write(b"twelve bytes", 5)
    for text, ts in boot_log(3, start_ns=10):
        ring.write(text, ts)
    ring.infos[rid % ring.count]["text_len"] = 300  # longer than the 24-byte block
    check(ring, tmp_path)
    got = qdlpy.dmesg(tmp_path / "core.elf")
    assert got.records[0].truncated and got.to_dict()["records"][0]["truncated"] is True


def test_cli_output_is_the_same_bytes(tmp_path: Path,
                                      capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    ring = LocklessRing(5, 12)
    for text, ts in boot_log(100):
        ring.write(text, ts)
    want = check(ring, tmp_path)
    assert main(["dmesg", str(tmp_path / "core.elf")]) == 0
    out = capfdbinary.readouterr()
    assert out.out == want and out.err == b""
    assert main(["dmesg", "-n", "3", str(tmp_path / "core.elf")]) == 0
    assert capfdbinary.readouterr().out == b"".join(want.splitlines(keepends=True)[-3:])


_op = st.one_of(
    st.tuples(st.just("write"), st.binary(max_size=300), st.booleans()),
    st.tuples(st.just("empty"), st.just(b""), st.booleans()),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=120), count_bits=st.integers(2, 7),
       size_bits=st.integers(11, 13), word=st.sampled_from([4, 8]), tail_reserved=st.booleans())
def test_random_histories(tmp_path: Path, ops: list[tuple[str, bytes, bool]], count_bits: int,
                          size_bits: int, word: int, tail_reserved: bool) -> None:
    ring = LocklessRing(count_bits, size_bits, Layout.for_word(word))
    ts = 0
    for i, (_, text, final) in enumerate(ops):
        ts += 1_000_003 * (i % 7 + 1)
        ring.write(text, ts, final=final or i < len(ops) - 1)
    if tail_reserved:
        ring.reserve(b"in flight", ts + 1)
    check(ring, tmp_path, EM_ARM if word == 4 else None)


def test_ring_header_layout_is_taken_from_vmcoreinfo(tmp_path: Path) -> None:
    """The same ring with printk_ringbuffer's text ring moved 16 bytes further: VMCOREINFO
    says where. (vmcore-dmesg assumes desc_ring at offset 0 for the info pointer, so only
    the text ring moves.)"""
    from triage_build import lockless_segments
    from triage_elf import Seg, core, vmcoreinfo_text

    ring = LocklessRing(5, 12)
    for text, ts in boot_log(50):
        ring.write(text, ts)
    segs, _, _ = lockless_segments(ring)
    header, keys = ring.header_bytes(segs[2].vaddr, segs[3].vaddr, segs[4].vaddr)
    text_at = keys["OFFSET(printk_ringbuffer.text_data_ring)"]
    moved = header[:text_at] + bytes(16) + header[text_at:]
    keys["OFFSET(printk_ringbuffer.text_data_ring)"] = text_at + 16
    keys["SIZE(printk_ringbuffer)"] = len(moved)
    segs[1] = Seg(segs[1].vaddr, moved)
    vi = vmcoreinfo_text({**keys, **ring.layout_keys()}, symbols={"prb": segs[0].vaddr})
    path = tmp_path / "core.elf"
    path.write_bytes(core(segs, vi))
    want = vmcore_dmesg(path)
    assert qdlpy.dmesg(path).text() == want and want.count(b"\n") == ring.count
    assert struct.unpack_from("<Q", moved, text_at + 16 + 8)[0] == segs[4].vaddr


def test_an_array_split_across_two_touching_segments(tmp_path: Path) -> None:
    """Memory that two PT_LOADs cover back to back is one run: a descriptor across the
    seam is whole (the split falls inside a descriptor, 8 bytes into it)."""
    ring = LocklessRing(5, 12)
    for text, ts in boot_log(80):
        ring.write(text, ts)
    seam = ring.lay.desc_size * (ring.count // 2) + 8
    path = tmp_path / "core.elf"
    path.write_bytes(lockless_core(ring, holes={"descs": (seam, seam)}))
    got = qdlpy.dmesg(path)
    assert got.text() == vmcore_dmesg(path) and not got.skipped
