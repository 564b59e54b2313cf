"""The address files (qdlpy.formats): files written by other tools are read, qdlpy's own
are in the documented format, and assemble and the dir: simulator scenario pick the same
file when a folder holds several."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump
from oracle.extras import fulldump_entries
from oracle.folder import TableEntry, dump_info_text, load_cmm_text, manifest_text, write_folder

from qdlpy.assemble import assemble
from qdlpy.errors import InputError
from qdlpy.formats.dumpinfo import parse_dump_info, write_dump_info
from qdlpy.formats.loadcmm import parse_load_cmm, write_load_cmm
from qdlpy.formats.manifest import read_entries
from qdlpy.protocols.table import Region, parse_table
from qdlpy.simulator.scenarios import build_model

MakeFolder = Callable[..., Path]
Verify = Callable[..., None]


def _rows() -> list[TableEntry]:
    return [*fulldump_entries(), *kmemdump.build("arm64").rows[:5]]


def test_dump_info_from_another_tool_is_read() -> None:
    rows = _rows()
    text = "# written by a QPST-like tool\n\n" + dump_info_text(rows) + "garbage line\n1 zz 4 a b\n"
    back = parse_dump_info(text)
    assert [(e.save_pref, e.base, e.length, e.description, e.filename) for e in back] == [
        (r.save_pref, r.base, r.table_length, " ".join(r.desc.split()), r.filename)
        for r in rows]


def test_qdlpy_writes_dump_info_in_the_documented_format() -> None:
    regions = [Region(0, 0x8000_0000, 65536, 1, " DDR CS0\tpart0 Memory", "DDRCS0_0.BIN"),
               Region(1, 0x1000, 4, 2, "", "X.BIN")]
    lines = write_dump_info(regions).splitlines()
    assert lines == ["1 0x80000000 65536 DDR CS0 part0 Memory DDRCS0_0.BIN", "2 0x00001000 4 X.BIN"]


def test_load_cmm_from_firmware_and_other_tools_is_read() -> None:
    rows = _rows()
    assert [(e.filename, e.base, e.length) for e in parse_load_cmm(load_cmm_text(rows))] == [
        (r.filename, r.base, None) for r in rows]
    odd = ('D.LOAD.BINARY "C:\\dumps\\md_KELF1.BIN" 0x9000 /noclear\n'
           "  data.load.binary &dir/OCIMEM.BIN a:0x14680000 /NoClear\n"
           "; d.load.binary commented.BIN 0x1 /noclear\n")
    assert [(e.filename, e.base) for e in parse_load_cmm(odd)] == [
        ("md_KELF1.BIN", 0x9000), ("OCIMEM.BIN", 0x14680000)]


def test_qdlpy_writes_load_cmm_that_t32_reads() -> None:
    regions = [Region(0, 0x8000_0000, 16, 1, "a", "A.BIN"), Region(1, 0x10, 4, 2, "s", "load.cmm")]
    commands = [ln for ln in write_load_cmm(regions).splitlines() if not ln.startswith(";")]
    assert commands == ["d.load.binary A.BIN 0x80000000 /noclear"]  # the script skips itself


def test_manifest_reading_is_tolerant(tmp_path: Path) -> None:
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps({"schema": "qdlpy.pull/1", "extra": 1, "regions": [
        {"filename": "a.BIN", "description": "md_Ka1", "base": "0x10", "length": 4,
         "status": "complete", "sha256": "x", "raw": {"k": 1}},
        {"filename": "b.BIN", "base": 32, "length": "8"},
        {"filename": "", "base": "0x1"}, "not a dict", {"base": "0x5"},
        {"filename": "c.BIN", "base": "nonsense", "length": True},
    ]}))
    rows = read_entries(p)
    assert [(r.filename, r.base, r.length, r.status) for r in rows] == [
        ("a.BIN", 0x10, 4, "complete"), ("b.BIN", 32, 8, "complete"),
        ("c.BIN", None, None, "complete")]
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_entries(p)
    p.write_text("[]")
    with pytest.raises(InputError, match="no 'regions'"):
        read_entries(p)


def _served_bases(folder: Path) -> dict[str, int]:
    """What the dir: scenario's device lists: file name -> address."""
    table = build_model(f"dir:{folder}").personality.table
    return {r.filename: r.base for r in parse_table(table, is64=True)
            if r.filename != "load.cmm"}


def _shifted(rows: list[TableEntry], by: int) -> list[TableEntry]:
    return [TableEntry(r.base + by, r.desc, r.filename, r.data, length=r.length) for r in rows]


def test_assemble_and_the_dir_scenario_pick_the_same_address_file(tmp_path: Path,
                                                                  verify: Verify) -> None:
    s = kmemdump.build("x86_64")
    rows = s.table()
    folder = write_folder(tmp_path / "d", rows, sources=("manifest",))
    # Disagreeing copies: only the manifest has the right addresses.
    (folder / "dump_info.txt").write_text(dump_info_text(_shifted(rows, 0x100_0000)))
    (folder / "load.cmm").write_text(load_cmm_text(_shifted(rows, 0x200_0000)))
    right = {r.filename: r.base for r in rows}
    report = assemble(folder)
    assert report.address_source == "manifest" and _served_bases(folder) == right
    verify(folder / "minidump.elf", s)

    (folder / "manifest.json").write_text("{broken")  # unusable: the next one, for both
    report = assemble(folder)
    assert report.address_source == "dump_info"
    assert any("manifest.json ignored" in w for w in report.warnings)
    assert _served_bases(folder) == {k: v + 0x100_0000 for k, v in right.items()}

    (folder / "manifest.json").unlink()
    (folder / "dump_info.txt").write_text("# no regions here\n")
    assert assemble(folder).address_source == "load.cmm"
    assert _served_bases(folder) == {k: v + 0x200_0000 for k, v in right.items()}


def test_dir_scenario_without_any_address_file(tmp_path: Path) -> None:
    (tmp_path / "X.BIN").write_bytes(b"x")
    with pytest.raises(InputError, match="needs the regions' physical addresses"):
        build_model(f"dir:{tmp_path}")


def test_broken_manifest_falls_back_to_dump_info(make_folder: MakeFolder,
                                                 verify: Verify) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s, source="dump_info")
    (folder / "manifest.json").write_text("{broken")
    report = assemble(folder)
    assert report.address_source == "dump_info"
    assert any("manifest.json ignored" in w for w in report.warnings)
    verify(folder / "minidump.elf", s)


def test_region_files_in_a_regions_subfolder(tmp_path: Path, verify: Verify) -> None:
    """The manifest names members; the files may sit in a regions/ subfolder. A path in a
    name (even one inside the folder) is refused: one rule for every name read."""
    s = kmemdump.build("x86_64")
    folder = tmp_path / "pulled"
    (folder / "regions").mkdir(parents=True)
    rows = s.table()
    for r in rows:
        (folder / "regions" / r.filename).write_bytes(r.data or b"")
    (folder / "manifest.json").write_text(manifest_text(rows))
    assemble(folder)
    verify(folder / "minidump.elf", s)
    for bad in ("regions/md_KELF1.BIN", "../../etc/passwd"):
        listed = [*rows, TableEntry(0x1, "passwd", bad, b"x")]
        (folder / "manifest.json").write_text(manifest_text(listed))
        with pytest.raises(InputError) as info:
            assemble(folder)
        assert info.value.code == "unsafe-name" and bad in info.value.message
