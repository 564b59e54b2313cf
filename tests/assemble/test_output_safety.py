"""What assemble may replace, with which mode, and where `-o` puts the ELF."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump

from qdlpy.assemble import assemble
from qdlpy.cli.main import main
from qdlpy.errors import OutputError

MakeFolder = Callable[..., Path]


def test_refuses_to_replace_a_file_that_is_not_an_elf_core(
        tmp_path: Path, make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00" + bytes(46))  # ET_EXEC
    with pytest.raises(OutputError, match="not an ELF core") as e:
        assemble(folder, vmlinux)
    assert "--force" in (e.value.hint or "")
    assert vmlinux.read_bytes()[16] == 2  # untouched
    assemble(folder, vmlinux, force=True)
    assert vmlinux.read_bytes() == s.expected()


def test_cli_force_flag(tmp_path: Path, make_folder: MakeFolder,
                        capsys: pytest.CaptureFixture[str]) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    assert main(["assemble", str(folder), "-o", str(notes)]) == 9
    assert "--force" in capsys.readouterr().err and notes.read_text() == "keep me"
    assert main(["assemble", str(folder), "-o", str(notes), "--force"]) == 0
    assert notes.read_bytes() == s.expected()


def test_a_group_elf_target_is_checked_before_anything_is_written(
        tmp_path: Path, make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64"))
    (tmp_path / "core-firmware.elf").write_text("mine")
    with pytest.raises(OutputError, match="core-firmware.elf"):
        assemble(folder, tmp_path / "core.elf")
    assert not (tmp_path / "core.elf").exists()


@pytest.mark.parametrize("name", ["table.bin", "qdlpy.log", "manifest.json"])
def test_files_of_the_dump_folder_are_never_replaced(name: str, make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64"))
    target = folder / name
    if not target.exists():
        target.write_bytes(b"precious")
    before = target.read_bytes()
    for force in (False, True):
        with pytest.raises(OutputError, match="dump folder|input"):
            assemble(folder, target, force=force)
        assert target.read_bytes() == before


def test_input_message_does_not_call_the_manifest_a_region_file(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64"))
    with pytest.raises(OutputError) as e:
        assemble(folder, folder / "manifest.json", force=True)
    assert "region file" not in e.value.message


def test_rerun_replaces_its_own_elfs_without_force(make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    assemble(folder)
    assemble(folder)  # what `qdlpy pull --resume` does after every pull
    assemble(folder, skip_groups=("fulldump",))
    assert (folder / "minidump.elf").read_bytes() == s.expected()


def test_output_mode_follows_the_umask(make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("arm64"))
    old = os.umask(0o077)
    try:
        report = assemble(folder)
    finally:
        os.umask(old)
    for o in report.outputs:
        assert stat.S_IMODE(Path(o.path).stat().st_mode) == 0o600, o.path
    old = os.umask(0o022)
    try:
        assemble(folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / "minidump.elf").stat().st_mode) == 0o644


def test_trailing_slash_means_a_new_directory(tmp_path: Path, make_folder: MakeFolder) -> None:
    s = kmemdump.build("arm64")
    folder = make_folder(s)
    out = tmp_path / "newdir"
    report = assemble(folder, str(out) + os.sep)
    assert out.is_dir() and (out / "minidump.elf").read_bytes() == s.expected()
    assert report.output == str(out / "minidump.elf")
