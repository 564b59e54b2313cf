"""A pull writes only inside DIR, whatever the folder it is handed holds.

``--resume`` trusts nothing in the folder: a manifest naming ``../../etc/x``, an absolute
path, a 256-byte name or one of qdlpy's own files is refused (exit 10) before anything is
written, and symbolic or hard links planted at NAME.part, a region's name, qdlpy.log, the
manifest's temporary names or the lock file never lead a write outside DIR: the pull either
refuses with a clear error or replaces the link with a real file.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pull_support import (
    StopAfterBytes,
    check_complete_folder,
    expected_regions,
    load_manifest,
    regions_by_name,
)

from qdlpy.cli.main import main
from qdlpy.dump import pull
from qdlpy.errors import Interrupted

SPEC = "fulldump?size=1M"
CHUNK = 64 * 1024


def tree(root: Path) -> dict[str, Any]:
    """Every path under root: file bytes, link targets, or None for a folder."""
    out: dict[str, Any] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = None
    return out


def interrupted_pull(out: Path) -> dict[str, Any]:
    """DDRCS0_0.BIN half saved in its .part (3 chunks), the other regions pending."""
    stop = threading.Event()
    with pytest.raises(Interrupted):
        pull(f"sim:{SPEC}", output=out, chunk_size=CHUNK, interrupt=stop,
             progress=StopAfterBytes(stop, 3 * CHUNK))
    m = load_manifest(out)
    assert regions_by_name(m)["DDRCS0_0.BIN"]["bytes"] == 3 * CHUNK
    return m


def resume(out: Path, *extra: str) -> int:
    return main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "-q", *extra])


# ---- names from the manifest -------------------------------------------------------------

HOSTILE = {
    "parent": "../../etc/x",
    "absolute": "/tmp/qdlpy-absolute-target",
    "too-long": "x" * 256,
    "separator": "a/b.bin",
    "own-manifest": "manifest.json",
    "own-log": "qdlpy.log",
    "lock": ".qdlpy.lock",
    "part": "OCIMEM.BIN.part",
    "hidden": ".OCIMEM.BIN",
}


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_unsafe_names_in_the_manifest_are_refused_before_writing(
        tmp_path: Path, name: object, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d1" / "d2" / "dump"
    m = interrupted_pull(out)
    m["regions"][1]["filename"] = name  # OCIMEM.BIN, still to be pulled
    (out / "manifest.json").write_text(json.dumps(m))
    before = tree(tmp_path)
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"])
    assert code == 10
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["code"] == "unsafe-name" and "manifest.json" in err["message"]
    assert err["hint"]
    assert tree(tmp_path) == before
    assert not Path("/tmp/qdlpy-absolute-target").exists()


def test_two_regions_with_one_name_are_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    m = interrupted_pull(out)
    m["regions"][2]["filename"] = m["regions"][1]["filename"].lower()
    (out / "manifest.json").write_text(json.dumps(m))
    before = tree(tmp_path)
    assert main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"]) == 10
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unsafe-name"
    assert tree(tmp_path) == before


# ---- links planted in the folder ----------------------------------------------------------


def test_planted_symlinks_lead_nothing_outside(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    interrupted_pull(out)
    outside = tmp_path / "outside"
    outside.mkdir()
    part = (out / "DDRCS0_0.BIN.part").read_bytes()
    victims = {
        # The kept .part's very bytes: following it would even pass the sha256 check.
        "DDRCS0_0.BIN.part": part,
        "OCIMEM.BIN": b"victim region",
        "OCIMEM.BIN.part": b"victim part",
        "qdlpy.log": b"victim log\n",
        ".manifest.json.tmp": b"victim tmp",
        "manifest.json.tmp": b"victim tmp 2",
        "table.bin": b"victim table",
    }
    for name, data in victims.items():
        target = outside / name.lstrip(".")
        target.write_bytes(data)
        (out / name).unlink(missing_ok=True)
        (out / name).symlink_to(target)
    before = tree(outside)
    assert resume(out) == 0
    assert tree(outside) == before
    for name in (".manifest.json.tmp", "manifest.json.tmp"):
        assert (out / name).is_symlink()  # not qdlpy's: left as they were
        (out / name).unlink()
    check_complete_folder(out, SPEC)
    for name in ("DDRCS0_0.BIN", "OCIMEM.BIN", "qdlpy.log", "table.bin", "manifest.json"):
        assert not (out / name).is_symlink() and (out / name).is_file(), name
    expected = expected_regions(SPEC)
    assert (out / "OCIMEM.BIN").read_bytes() == expected["OCIMEM.BIN"]


def test_a_hard_link_at_qdlpy_log_is_not_written_through(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    interrupted_pull(out)
    victim = tmp_path / "victim.log"
    victim.write_text("someone else's log\n")
    (out / "qdlpy.log").unlink()
    os.link(victim, out / "qdlpy.log")
    assert resume(out) == 0
    assert victim.read_text() == "someone else's log\n"
    assert (out / "qdlpy.log").stat().st_nlink == 1
    check_complete_folder(out, SPEC)


def test_a_symlinked_lock_file_is_refused(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dump"
    interrupted_pull(out)
    victim = tmp_path / "victim"
    victim.write_bytes(b"x")
    (out / ".qdlpy.lock").unlink(missing_ok=True)
    (out / ".qdlpy.lock").symlink_to(victim)
    before = tree(tmp_path)
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"])
    assert code == 9
    err = json.loads(capsys.readouterr().out)["error"]
    assert ".qdlpy.lock" in err["message"] and "link" in err["message"]
    assert tree(tmp_path) == before


def test_force_into_a_folder_of_links_writes_real_files(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("DDRCS0_0.BIN.part", "qdlpy.log", "OCIMEM.BIN"):
        (outside / name).write_bytes(b"victim")
        (out / name).symlink_to(outside / name)
    before = tree(outside)
    assert main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--force", "-q"]) == 0
    assert tree(outside) == before
    m = load_manifest(out)
    expected = expected_regions(SPEC)
    for r in m["regions"]:
        path = out / r["filename"]
        assert not path.is_symlink() and path.read_bytes() == expected[r["raw_filename"]]
    names = {r["raw_filename"]: r["filename"] for r in m["regions"]}
    assert names["DDRCS0_0.BIN"] != "DDRCS0_0.BIN"  # its .part name was taken
    assert names["OCIMEM.BIN"] != "OCIMEM.BIN"
    assert (out / "OCIMEM.BIN").is_symlink()  # the user's files are kept as they were
