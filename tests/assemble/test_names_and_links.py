"""Names read from a dump folder's files and links planted in it never lead outside it.

A folder handed over by someone else is input like any other: its manifest.json,
dump_info.txt and load.cmm name files by the one member-name rule (qdlpy.formats.names),
and a region file reached through a symbolic link that resolves outside the folder is
never read (docs/formats.md#names-and-links).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump
from oracle.folder import dump_info_text

from qdlpy.assemble import assemble
from qdlpy.cli.main import main
from qdlpy.errors import InputError

MakeFolder = Callable[..., Path]
SECRET = b"NOT-A-REGION-" * 512  # what lies outside the dump folder


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET)
    return secret


def _edit_manifest(folder: Path, filename: str, new: str) -> None:
    doc = json.loads((folder / "manifest.json").read_text())
    for r in doc["regions"]:
        if r["filename"] == filename:
            r["filename"] = new
    (folder / "manifest.json").write_text(json.dumps(doc))


def _no_secret_in_outputs(folder: Path) -> None:
    for elf in folder.glob("*.elf"):
        assert SECRET[:64] not in elf.read_bytes(), elf.name


@pytest.mark.parametrize("name", ["../secret.bin", "{abs}", "regions/../../secret.bin",
                                  "x" * 256 + ".BIN", "md_ADSP\tXYZ.BIN"])
def test_a_manifest_name_that_leaves_the_folder_is_refused(
        name: str, tmp_path: Path, make_folder: MakeFolder,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = _outside(tmp_path)
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    adsp = s.extras[0].filename
    _edit_manifest(folder, adsp, name.replace("{abs}", str(secret)))
    assert main(["assemble", str(folder), "--json"]) == 10
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["code"] == "unsafe-name"
    assert "manifest.json region" in doc["error"]["message"] and doc["error"]["hint"]
    assert not list(folder.glob("*.elf"))


@pytest.mark.parametrize("source", ["dump_info", "load.cmm"])
def test_a_256_byte_name_in_a_text_address_file_is_an_input_error(
        source: str, make_folder: MakeFolder, capsys: pytest.CaptureFixture[str]) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s, source=source)
    long_name = "m" * 252 + ".BIN"  # 256 bytes: one over NAME_MAX
    if source == "dump_info":
        with open(folder / "dump_info.txt", "a") as f:
            f.write(f"1 0x90000000 4096 Long {long_name}\n")
    else:
        with open(folder / "load.cmm", "a") as f:
            f.write(f"d.load.binary {long_name} 0x90000000 /noclear\n")
    assert main(["assemble", str(folder), "--json"]) == 10
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["code"] == "unsafe-name", doc["error"]
    assert "line" in doc["error"]["message"] and doc["error"]["hint"]


def test_dump_info_lines_that_are_not_entries_are_still_skipped(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s, source="dump_info")
    text = (folder / "dump_info.txt").read_text()
    (folder / "dump_info.txt").write_text("# save base length desc file\n; ../../etc/x\n" + text)
    assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.expected()


@pytest.mark.parametrize("victim", ["kernel", "subsystem"])
def test_a_region_linked_outside_the_folder_is_never_read(
        victim: str, tmp_path: Path, make_folder: MakeFolder) -> None:
    secret = _outside(tmp_path)
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    row = s.row(21) if victim == "kernel" else s.extras[0]
    (folder / row.filename).unlink()
    (folder / row.filename).symlink_to(secret)
    report = assemble(folder)
    _no_secret_in_outputs(folder)
    assert any(row.filename in w and "outside" in w for w in report.warnings), report.warnings
    if victim == "kernel":  # a hole, exactly as when the file is absent
        assert (folder / "minidump.elf").read_bytes() == s.without_file(21).expected()


def test_a_kernel_header_linked_outside_is_not_read(tmp_path: Path,
                                                    make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(s.kelf)  # even a valid header is not taken from outside
    (folder / s.file_of(1)).unlink()
    (folder / s.file_of(1)).symlink_to(outside)
    with pytest.raises(InputError, match="outside"):
        assemble(folder)
    assert not (folder / "minidump.elf").exists()


def test_a_regions_subfolder_linked_outside_is_not_searched(
        tmp_path: Path, make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name = s.extras[0].filename
    (folder / name).rename(elsewhere / name)
    (elsewhere / name).write_bytes(SECRET)
    (folder / "regions").symlink_to(elsewhere)
    assemble(folder)
    _no_secret_in_outputs(folder)


def test_a_link_inside_the_folder_is_followed(make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    name = s.file_of(21)
    (folder / "keep").mkdir()
    (folder / name).rename(folder / "keep" / name)
    (folder / name).symlink_to(Path("keep") / name)
    assemble(folder)
    assert (folder / "minidump.elf").read_bytes() == s.expected()


def test_the_dir_scenario_refuses_a_name_outside_its_folder(tmp_path: Path) -> None:
    from qdlpy.simulator.scenarios.registry import build_model

    _outside(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"A" * 64)
    from oracle.folder import TableEntry
    rows = [TableEntry(0x1000, "A", "a.bin", b"A" * 64),
            TableEntry(0x2000, "S", "../secret.bin", SECRET)]
    (src / "dump_info.txt").write_text(dump_info_text(rows))
    with pytest.raises(InputError) as info:
        build_model(f"dir:{src}")
    assert info.value.code == "unsafe-name"


def test_the_dir_scenario_does_not_serve_a_link_to_outside(tmp_path: Path) -> None:
    from oracle.folder import TableEntry

    from qdlpy.simulator.scenarios.registry import build_model

    secret = _outside(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").symlink_to(secret)
    (src / "dump_info.txt").write_text(dump_info_text([TableEntry(0x1000, "A", "a.bin",
                                                                  SECRET)]))
    with pytest.raises(InputError, match="outside"):
        build_model(f"dir:{src}")


@pytest.mark.parametrize("which", ["folder", "output", "output-dir", "inspect"])
def test_a_path_the_os_cannot_take_is_an_input_or_output_error(
        which: str, tmp_path: Path, make_folder: MakeFolder,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(kmemdump.build("x86_64"))
    long = "n" * 300  # one component over NAME_MAX
    argv = {"folder": ["assemble", str(tmp_path / long)],
            "output": ["assemble", str(folder), "-o", str(tmp_path / long)],
            "output-dir": ["assemble", str(folder), "-o", str(tmp_path / long / "x.elf")],
            "inspect": ["inspect", str(tmp_path / long)]}[which]
    code = main([*argv, "--json"])
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == (9 if which.startswith("output") else 10), err
    assert "too long" in err["message"] and err["hint"]
