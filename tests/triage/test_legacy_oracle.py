"""The record log_buf (3.5 to 5.9) read through VMCOREINFO, judged by vmcore-dmesg.

vmcore-dmesg prints an empty ``[    0.000000] `` line where a lap ends (the zeroed header
that marks the wrap); no record exists there, so qdlpy prints everything else and not it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from triage_build import boot_log, legacy_core
from triage_kring import LegacyLog
from triage_oracle import vmcore_dmesg

import qdlpy

MARKER = b"[    0.000000] \n"


def fill(log: LegacyLog, n: int) -> None:
    for text, ts in boot_log(n, start_ns=1_000_000):
        assert log.store(text, ts, b"SUBSYSTEM=usb\0DEVICE=c189:1" if len(text) % 3 == 0
                         else b"", caller=77)


@pytest.mark.parametrize("endian,word", [("<", 8), (">", 8), ("<", 4)])
def test_not_wrapped_is_identical(endian: str, word: int, tmp_path: Path) -> None:
    log = LegacyLog(8192, endian=endian)
    fill(log, 40)
    core = tmp_path / "core.elf"
    core.write_bytes(legacy_core(log, word=word))
    want = vmcore_dmesg(core)
    got = qdlpy.dmesg(core)
    assert log.wraps == 0 and got.text() == want and len(got.records) == 40
    assert got.layout == "log_buf"


@pytest.mark.parametrize("header,align", [(16, 4), (16, 8), (20, 4), (24, 8)])
def test_wrapped_is_vmcore_dmesg_without_the_lap_marker(header: int, align: int,
                                                        tmp_path: Path) -> None:
    log = LegacyLog(4096, header, align, caller=header > 16)
    fill(log, 300)
    assert log.wraps >= 2
    core = tmp_path / "core.elf"
    core.write_bytes(legacy_core(log))
    want = vmcore_dmesg(core)
    got = qdlpy.dmesg(core).text()
    # Exactly one lap marker lies between log_first_idx and log_next_idx, and it is the
    # only difference.
    assert want.count(MARKER) == 1 and MARKER not in got
    at = want.index(MARKER)
    assert got == want[:at] + want[at + len(MARKER) :]


@pytest.mark.parametrize("damage", ["outside", "loop"])
def test_a_damaged_buffer_stops_with_a_warning(damage: str, tmp_path: Path) -> None:
    log = LegacyLog(4096)
    fill(log, 20)
    second = struct.unpack_from("<H", log.buf, 8)[0]
    if damage == "outside":
        struct.pack_into("<H", log.buf, second + 8, 0xFFF0)  # leads past the buffer's end
    else:
        struct.pack_into("<H", log.buf, 8, 0)  # the first record is a lap marker: to 0, again
    log.next_idx = 4000  # never reached
    core = tmp_path / "core.elf"
    core.write_bytes(legacy_core(log))
    got = qdlpy.dmesg(core)
    assert len(got.warnings) == 1 and "stopped" in got.warnings[0]
    assert len(got.records) == (2 if damage == "outside" else 0)
