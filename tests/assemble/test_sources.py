"""dump_info.txt / load.cmm writers and tolerant parsers, manifest reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qdlpy.errors import InputError
from qdlpy.formats.dumpinfo import parse_dump_info, write_dump_info
from qdlpy.formats.entries import SourceEntry
from qdlpy.formats.loadcmm import parse_load_cmm, write_load_cmm
from qdlpy.formats.manifest import read_entries as read_manifest
from qdlpy.protocols.table import Region
from qdlpy.simulator import kmemdump_image as kimg


def test_dump_info_round_trip_keeps_descriptions_with_spaces() -> None:
    rows = kimg.fulldump_records() + kimg.build("arm64").table()[:5]
    text = write_dump_info(rows)
    assert text.splitlines()[0] == "1 0x80000000 65536 DDR CS0 part0 Memory DDRCS0_0.BIN"
    back = parse_dump_info(text)
    assert [(e.save_pref, e.base, e.length, e.description, e.filename) for e in back] == [
        (r.save_pref, r.base, r.length, " ".join(r.description.split()), r.filename)
        for r in rows]


def test_dump_info_accepts_protocol_regions_and_skips_junk() -> None:
    regions = [Region(0, 0x1000, 4, 1, "md_Kx1", "md_Kx1.BIN")]
    text = "# header line\n\n" + write_dump_info(regions) + "garbage line here\n1 zz 4 a b\n"
    assert parse_dump_info(text) == [SourceEntry("md_Kx1.BIN", "md_Kx1", 0x1000, 4, 1)]


def test_load_cmm_round_trip_and_variants() -> None:
    rows = kimg.build("x86_64").table()
    script = write_load_cmm(rows)
    parsed = parse_load_cmm(script)
    assert [(e.filename, e.base, e.length) for e in parsed] == [
        (r.filename, r.base, None) for r in rows if r.filename != "load.cmm"]
    odd = ('D.LOAD.BINARY "C:\\dumps\\md_KELF1.BIN" 0x9000 /noclear\n'
           "  data.load.binary &dir/OCIMEM.BIN a:0x14680000 /NoClear\n")
    assert [(e.filename, e.base) for e in parse_load_cmm(odd)] == [
        ("md_KELF1.BIN", 0x9000), ("OCIMEM.BIN", 0x14680000)]


def test_manifest_reading_is_tolerant(tmp_path: Path) -> None:
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps({"schema": "qdlpy.pull/1", "extra": 1, "regions": [
        {"filename": "a.BIN", "description": "md_Ka1", "base": "0x10", "length": 4,
         "status": "complete", "sha256": "x", "raw": {"k": 1}},
        {"filename": "b.BIN", "base": 32, "length": "8"},
        {"filename": "", "base": "0x1"}, "not a dict", {"base": "0x5"},
        {"filename": "c.BIN", "base": "nonsense", "length": True},
    ]}))
    rows = read_manifest(p)
    assert [(r.filename, r.base, r.length, r.status) for r in rows] == [
        ("a.BIN", 0x10, 4, "complete"), ("b.BIN", 32, 8, "complete"), ("c.BIN", None, None,
                                                                        "complete")]
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_manifest(p)
    p.write_text("[]")
    with pytest.raises(InputError, match="no 'regions'"):
        read_manifest(p)


def test_broken_manifest_falls_back_to_dump_info(tmp_path: Path) -> None:
    from qdlpy.assemble import assemble

    s = kimg.build("arm64")
    folder = kimg.write_folder(tmp_path / "d", s.table(), source="dump_info")
    (folder / "manifest.json").write_text("{broken")
    report = assemble(folder)
    assert report.address_source == "dump_info"
    assert any("manifest.json ignored" in w for w in report.warnings)
    assert (folder / "minidump.elf").read_bytes() == s.reference


def test_manifest_paths_in_a_regions_subfolder(tmp_path: Path) -> None:
    from qdlpy.assemble import assemble

    s = kimg.build("x86_64")
    folder = tmp_path / "pulled"
    (folder / "regions").mkdir(parents=True)
    rows = s.table()
    for r in rows:
        (folder / "regions" / r.filename).write_bytes(r.data)
    doc = {"regions": [{"filename": f"regions/{r.filename}", "description": r.description,
                        "base": hex(r.base), "length": r.length, "status": "complete"}
                       for r in rows]}
    doc["regions"].append({"filename": "../../etc/passwd", "base": "0x1", "length": 1})
    (folder / "manifest.json").write_text(json.dumps(doc))
    report = assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.reference
    assert "passwd" not in json.dumps(report.to_dict()["outputs"])
