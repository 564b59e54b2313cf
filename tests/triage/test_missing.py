"""Missing and partial pieces: errors name the key or region (exit 10); a partly present
ring prints exactly the records whose bytes are all there, and says what it skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_qdlpy
from triage_build import boot_log, lockless_core, lockless_segments, table_folder
from triage_elf import core, vmcoreinfo_text
from triage_kring import LocklessRing
from triage_oracle import vmcore_dmesg

import qdlpy
from qdlpy.simulator import kmemdump_image as kimg
from qdlpy.triage.errors import MissingKey, MissingRegion


def ring() -> LocklessRing:
    r = LocklessRing(6, 13)
    for text, ts in boot_log(300):
        r.write(text, ts)
    return r


def lines_by_seq(path: Path) -> dict[int, bytes]:
    """vmcore-dmesg's line for each record of the complete core (seq from qdlpy's API,
    whose text on the complete core equals vmcore-dmesg's, line for line)."""
    want = vmcore_dmesg(path).splitlines(keepends=True)
    got = qdlpy.dmesg(path)
    assert got.text() == b"".join(want)
    return {r.seq: line for r, line in zip(got.records, want)}  # type: ignore[misc]


@pytest.mark.parametrize("array,reason", [("descs", "descriptors not in the dump"),
                                          ("infos", "record infos not in the dump"),
                                          ("data", "text not in the dump")])
def test_a_hole_in_one_array_skips_exactly_its_records(array: str, reason: str,
                                                       tmp_path: Path) -> None:
    r = ring()
    full = tmp_path / "full.elf"
    full.write_bytes(lockless_core(r))
    by_seq = lines_by_seq(full)
    size = {"descs": r.lay.desc_size, "infos": r.lay.info_size, "data": 1}[array] * \
        (r.count if array != "data" else r.size)
    hole = (size // 3, size // 2)
    cut = tmp_path / "cut.elf"
    cut.write_bytes(lockless_core(r, holes={array: hole}))
    got = qdlpy.dmesg(cut)
    assert got.skipped.get(reason, 0) > 0 and got.status == "partial"
    assert any(f"prb_{array}" in w and "only" in w for w in got.warnings)
    # Every printed line is vmcore-dmesg's line for that record, in the same order ...
    assert got.text() == b"".join(by_seq[rec.seq] for rec in got.records)  # type: ignore[index]
    # ... and exactly the records whose bytes are all outside the hole were printed.
    slot_size = r.lay.desc_size if array == "descs" else r.lay.info_size
    for rec in qdlpy.dmesg(full).records:
        slot = rec.seq % r.count  # type: ignore[operator]
        if array in ("descs", "infos"):
            outside = (slot + 1) * slot_size <= hole[0] or slot * slot_size >= hole[1]
            assert (rec in got.records) == outside


def test_missing_prb_data_is_an_error_naming_it(tmp_path: Path) -> None:
    r = ring()
    path = tmp_path / "core.elf"
    path.write_bytes(lockless_core(r, holes={"data": (0, r.size)}))
    with pytest.raises(MissingRegion, match="prb_data"):
        qdlpy.dmesg(path)
    proc = run_qdlpy("dmesg", path)
    assert proc.returncode == 10 and "prb_data" in proc.stderr and proc.stdout == ""
    doc = run_qdlpy("dmesg", "--json", path)
    assert doc.returncode == 10 and '"code": "region-missing"' in doc.stdout


@pytest.mark.parametrize("key", ["SIZE(printk_info)", "OFFSET(printk_info.text_len)",
                                 "OFFSET(prb_desc_ring.head_id)"])
def test_missing_vmcoreinfo_key_is_named(key: str, tmp_path: Path) -> None:
    r = ring()
    segs, _, _ = lockless_segments(r)
    _header, keys = r.header_bytes(segs[2].vaddr, segs[3].vaddr, segs[4].vaddr)
    keys = {**keys, **r.layout_keys()}
    del keys[key]
    path = tmp_path / "core.elf"
    path.write_bytes(core(segs, vmcoreinfo_text(keys, symbols={"prb": segs[0].vaddr})))
    with pytest.raises(MissingKey, match=key.replace("(", r"\(").replace(")", r"\)")):
        qdlpy.dmesg(path)


def test_no_vmcoreinfo_at_all(tmp_path: Path) -> None:
    segs, _, _ = lockless_segments(ring())
    path = tmp_path / "core.elf"
    path.write_bytes(core(segs, None))
    proc = run_qdlpy("dmesg", path)
    assert proc.returncode == 10 and "VMCOREINFO" in proc.stderr


@pytest.mark.parametrize("drop,named", [("md_Kprb_data27.BIN", "prb_data"),
                                        ("md_Kprb_desc25.BIN", "prb_descs"),
                                        ("md_Kprintk_r23.BIN", "printk ring header"),
                                        ("md_Kvmcorein2.BIN", "VMCOREINFO")])
def test_kmemdump_folder_without_a_log_region(drop: str, named: str, tmp_path: Path) -> None:
    s = kimg.build("arm64")
    folder = table_folder(tmp_path / "dump", [r for r in s.table() if r.filename != drop])
    proc = run_qdlpy("dmesg", folder)
    assert proc.returncode == 10
    assert (named if named != "printk ring header" else "printk ring header") in proc.stderr
    rep = qdlpy.report(folder)
    assert rep.log is None and rep.log_error is not None
    assert rep.kernel.release == s.osrelease  # from VMCOREINFO, else init_uts_ns's region
    if named != "VMCOREINFO":
        costs = {x.name: x.cost for x in rep.regions if x.status == "missing"}
        assert costs[named].startswith("no log")


def test_a_region_pulled_short_prints_only_what_it_holds(tmp_path: Path) -> None:
    s = kimg.build("x86_64")
    full = qdlpy.dmesg(table_folder(tmp_path / "full", s.table()))
    data = next(r.data for r in s.regions if r.filename == "md_Kprb_data27.BIN")
    folder = table_folder(tmp_path / "short", s.table())
    (folder / "md_Kprb_data27.BIN").write_bytes(data[: len(data) // 2])
    got = qdlpy.dmesg(folder)
    assert 0 < len(got.records) < len(full.records)
    assert all(rec in full.records for rec in got.records)
    assert got.skipped["text not in the dump"] == len(full.records) - len(got.records)
