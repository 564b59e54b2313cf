"""Hostile region names: a crashed device names the files, qdlpy decides where they go.

Whatever the table says (path separators, "..", qdlpy's own file names, NUL and
non-ASCII bytes, duplicates, empty names), every region is saved as one plain file inside
DIR, none is lost or overwritten, nothing is written outside DIR, and the manifest keeps
the device's name next to the safe one.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_qdlpy
from pull_support import load_manifest

from qdlpy.dump import pull
from qdlpy.protocols.constants import Mode
from qdlpy.protocols.device import Personality
from qdlpy.protocols.table import Region, build_table, decode_field
from qdlpy.simulator.memory import Span, SparseMemory, address_pattern
from qdlpy.simulator.model import DeviceModel, SimIdentity
from qdlpy.simulator.scenarios.common import TABLE_ADDRESS
from qdlpy.transport.sim import SimTransport


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def check_saved_inside(out: Path, manifest: dict[str, object], contents: dict[int, bytes]) -> None:
    """One plain file per region, in DIR itself, with that region's bytes."""
    regions = manifest["regions"]
    assert isinstance(regions, list)
    names = [r["filename"] for r in regions]
    assert len({n.lower() for n in names}) == len(names)  # unique, even case-folded
    for r in regions:
        assert r["status"] == "complete", r
        name = r["filename"]
        assert name and "/" not in name and "\\" not in name and "\0" not in name
        assert name not in (".", "..") and all(0x21 <= ord(c) <= 0x7E for c in name)
        path = out / name
        assert path.parent == out and path.is_file() and not path.is_symlink()
        assert path.read_bytes() == contents[r["position"]], name
    assert all(p.is_file() for p in out.iterdir())  # no sub-folders were created


# ---- through the CLI: a dir: scenario replaying a folder with hostile names -------------

# The dir: scenario reads files by the member-name rule, like assemble; the names it
# serves are the manifest's raw_filename (what the device called each region).
DIR_NAMES = ["../../etc/x", "a/b", "manifest.json", "qdlpy.log", "table.bin",
             "dup.bin", "DUP.BIN", "x.part", "minidump.elf", "dump_info.txt"]


def make_hostile_source(root: Path) -> tuple[Path, dict[int, bytes]]:
    """root/d1/src holds a manifest whose regions the device named by hostile paths."""
    src = root / "d1" / "src"
    src.mkdir(parents=True)
    (root / "etc").mkdir()
    regions, contents = [], {}
    for i, name in enumerate(DIR_NAMES):
        data = bytes([0x41 + i]) * (100 + 10 * i)
        (src / f"r{i}.bin").write_bytes(data)
        regions.append({"filename": f"r{i}.bin", "raw_filename": name, "description": f"R{i}",
                        "base": f"0x{0x1000_0000 + i * 0x1_0000:x}", "length": len(data),
                        "save_pref": 1, "status": "complete"})
        contents[i] = data
    # The same name served twice (a second table entry with the same name).
    i = len(DIR_NAMES)
    regions.append({"filename": "r5.bin", "raw_filename": "dup.bin", "description": "again",
                    "base": f"0x{0x1000_0000 + i * 0x1_0000:x}", "length": 100,
                    "save_pref": 1, "status": "complete"})
    contents[i] = (src / "r5.bin").read_bytes()[:100]
    (src / "manifest.json").write_text(json.dumps({"schema": "qdlpy.pull/2",
                                                   "regions": regions}))
    return src, contents


def test_hostile_names_from_a_dir_scenario(tmp_path: Path) -> None:
    src, contents = make_hostile_source(tmp_path)
    out = tmp_path / "out" / "dump"
    before = tree(tmp_path)
    proc = run_qdlpy("pull", "-t", f"sim:dir:{src}", "-o", out, "--json", "--no-elf")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # Nothing appeared anywhere but in DIR, and nothing outside DIR changed.
    outside = {p for p in tree(tmp_path) - before if not p.startswith("out")}
    assert outside == set()
    assert not (tmp_path / "etc" / "x").exists()
    m = load_manifest(out)
    assert doc["regions"] == m["regions"]
    served = [*DIR_NAMES, "dup.bin", "load.cmm"]
    assert [r["raw_filename"] for r in m["regions"]] == served  # the device's names kept
    contents[len(served) - 1] = (out / "load.cmm").read_bytes()
    check_saved_inside(out, m, contents)
    by_raw = {r["raw_filename"]: r["filename"] for r in m["regions"]}
    for own in ("manifest.json", "qdlpy.log", "table.bin", "minidump.elf", "dump_info.txt"):
        assert by_raw[own] != own  # qdlpy's own files are never taken by a region
    assert not by_raw["x.part"].endswith(".part")
    # qdlpy's own files are still its own.
    assert json.loads((out / "manifest.json").read_text())["schema"] == "qdlpy.pull/2"
    assert (out / "table.bin").stat().st_size == 64 * len(served)


# ---- through the API: raw table bytes no text file can express -----------------------------

RAW_NAMES: list[tuple[bytes, bytes]] = [  # (description, filename) as the table carries them
    (b"latin1", b"\xe9t\xe9.bin"),
    (b"latin1 again", b"\xe8t\xe8.bin"),  # decodes to the same text as the previous one
    (b"nul inside", b"a\x00b.bin"),
    (b"", b""),  # no name at all
    (b"Modem Dump", b""),  # no file name: the description names it
    (b"abs", b"/abs/x"),
    (b"dots", b"../../etc/passwd"),
    (b"backslash", b"..\\..\\win.ini"),
    (b"ctrl", b"\x01\x02\x7f\x1b[31m"),
    (b"full", b"x" * 20),  # no NUL terminator
    (b"upper", b"MANIFEST.JSON"),
    (b"index", b"dump_info.txt"),
    (b"dot", b"..."),
    (b"dup", b"dup.bin"),
    (b"dup", b"DUP.bin"),
    (b"high", b"\xff\xfe\xfd"),
    (b"tmp", b"manifest.json.tmp"),
]


def hostile_device(
    names: list[tuple[bytes, bytes]] = RAW_NAMES,
) -> tuple[DeviceModel, dict[int, bytes]]:
    regions = [
        Region(position=i, base=0x1000_0000 + i * 0x1_0000, length=0x100 + 7 * i, save_pref=1,
               description="", filename="", raw_description=d, raw_filename=f)
        for i, (d, f) in enumerate(names)
    ]
    personality = Personality(
        mode=Mode.MEMORY_DEBUG, is64=True, table=build_table(regions, is64=True),
        table_address=TABLE_ADDRESS, readable=[(r.base, r.end) for r in regions],
        memory=SparseMemory([Span(r.base, r.length, generate=address_pattern) for r in regions]),
    )
    contents = {r.position: address_pattern(r.base, r.length) for r in regions}
    return DeviceModel(personality, identity=SimIdentity("hostile")), contents


def test_raw_hostile_names_through_the_api(tmp_path: Path) -> None:
    model, contents = hostile_device()
    out = tmp_path / "out"
    before = tree(tmp_path)
    result = pull(SimTransport("hostile", model=model), output=out, elf=False)
    assert result.status == "ok"
    assert {p for p in tree(tmp_path) - before if not p.startswith("out")} == set()
    m = load_manifest(out)
    check_saved_inside(out, m, contents)
    for r, (_desc, raw) in zip(m["regions"], RAW_NAMES):
        assert r["raw_filename"] == decode_field(raw)


def test_manifest_keeps_raw_name_bytes(tmp_path: Path) -> None:
    model, _ = hostile_device()
    pull(SimTransport("hostile", model=model), output=tmp_path / "out", elf=False,
         regions=["*t*.bin"])
    for r in load_manifest(tmp_path / "out")["regions"]:
        raw = RAW_NAMES[r["position"]][1]
        candidates = {raw.hex(), raw.split(b"\0", 1)[0].hex(), raw.ljust(20, b"\0").hex()}
        assert any(v in candidates for v in r.values() if isinstance(v, str)), r
