"""The simulator's kmemdump scenarios carry a real-format printk log: pulled through the
simulated device, the assembled minidump.elf is read by vmcore-dmesg, and qdlpy reads the
same from the ELF and from the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from triage_oracle import vmcore_dmesg

import qdlpy
from qdlpy.simulator import printk_ring

MARKER = b"[    0.000000] \n"  # vmcore-dmesg's line for a log_buf lap marker (not a record)


@pytest.mark.parametrize("query", ["", "?arch=x86_64", "?printk=legacy",
                                   "?arch=x86_64&printk=legacy&numbering=meminspect"])
def test_pulled_kmemdump_log_is_what_vmcore_dmesg_reads(query: str, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    result = qdlpy.pull(f"sim:kmemdump{query}", output=out, after="none")
    assert result.status == "ok"
    want = vmcore_dmesg(out / "minidump.elf")
    if "legacy" in query:
        want = want.replace(MARKER, b"", 1)
    assert printk_ring.PANIC_LINE.encode() in want
    assert qdlpy.dmesg(out / "minidump.elf").text() == want
    assert qdlpy.dmesg(out).text() == want
    assert (out / "dmesg.txt").read_bytes() == want
    triage = (result.elf or {})["triage"]
    assert triage["panic_line"] == printk_ring.PANIC_LINE


def test_the_ring_has_wrapped() -> None:
    """More lines were logged than the ring keeps: the oldest are gone, as on a device."""
    lines = printk_ring.story("arm64", "6.1.0")
    img = printk_ring.lockless(lines, printk_ring.RING_COUNT, printk_ring.RING_SIZE,
                               descs_va=0, infos_va=0, data_va=0)
    assert img.dropped == len(lines) - printk_ring.RING_COUNT > 0


def test_downstream_scenario_reads_as_the_vendor_layout(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    qdlpy.pull("sim:kmemdump?downstream=1", output=out, after="none")
    got = qdlpy.dmesg(out)
    assert got.layout == "vendor-lockless"
    assert got.records[-1].text == b"Memory Limit: none"
    rep = qdlpy.report(out, debuginfod=False)
    assert rep.panic_line == printk_ring.PANIC_LINE and rep.kernel.release == "5.15.0-qdlpy-arm64"
