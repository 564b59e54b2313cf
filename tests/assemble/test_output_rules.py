"""What assemble may write over, and where (docs/formats.md#what-may-be-replaced).

Inside the dump folder an existing ELF core is replaced without --force only when it is
qdlpy's own output (the default names, or an output the manifest records); region files
never; a symbolic link at a target is never written through; a folder component under the
dump folder that is a link is refused. A region file changed since the pull (its sha256)
is a hole, or refused under --strict.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump

from qdlpy.assemble import assemble
from qdlpy.cli.main import main
from qdlpy.dump import pull
from qdlpy.errors import InputError, OutputError

MakeFolder = Callable[..., Path]


@pytest.fixture
def pulled(tmp_path: Path) -> Path:
    """A folder as qdlpy pull writes it (its manifest records every region's sha256)."""
    out = tmp_path / "dump"
    pull("sim:kmemdump?arch=x86_64", output=out, after="none")
    return out


def _core(folder: Path) -> bytes:
    return (folder / "minidump.elf").read_bytes()


# --- sha256 against the manifest -------------------------------------------------------------


def test_a_region_changed_since_the_pull_is_a_hole(pulled: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    name = "md_Kinit_uts21.BIN"
    region = pulled / name
    data = bytearray(region.read_bytes())
    data[10] ^= 0xFF
    region.write_bytes(bytes(data))  # same size, other bytes
    assert main(["assemble", str(pulled), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert any(name in w and "sha256" in w for w in doc["warnings"]), doc["warnings"]
    assert [h["filename"] for h in doc["holes"]] == [name]
    assert bytes(data[:32]) not in _core(pulled)
    assert main(["assemble", str(pulled), "--strict", "--json"]) == 10
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["code"] == "region-changed" and name in err["message"]


def test_an_untouched_pull_is_verified_and_clean(pulled: Path) -> None:
    report = assemble(pulled, strict=True)
    assert report.holes == [] and not any("sha256" in w for w in report.warnings)


# --- what may be replaced --------------------------------------------------------------------


def test_an_elf_core_in_the_folder_that_is_not_qdlpys_needs_force(
        pulled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assemble(pulled)
    theirs = pulled / "vmcore"
    shutil.copyfile(pulled / "minidump.elf", theirs)
    theirs.write_bytes(theirs.read_bytes()[:4096])  # an ELF core someone else made
    before = theirs.read_bytes()
    assert main(["assemble", str(pulled), "-o", str(theirs)]) == 9
    assert "--force" in capsys.readouterr().err and theirs.read_bytes() == before
    assert main(["assemble", str(pulled), "-o", str(theirs), "--force"]) == 0
    assert theirs.read_bytes() == _core(pulled)


def test_an_elf_core_region_file_is_never_replaced(pulled: Path) -> None:
    stray = pulled / "md_KELF9.BIN"  # not listed, but a region file by its name
    shutil.copyfile(pulled / "md_KELF1.BIN", stray)
    stray.write_bytes(stray.read_bytes()[:64] + bytes(64))
    before = stray.read_bytes()
    for force in (False, True):
        with pytest.raises(OutputError, match="region"):
            assemble(pulled, stray, force=force)
        assert stray.read_bytes() == before


def test_own_outputs_are_replaced_without_force(pulled: Path) -> None:
    assemble(pulled)
    assemble(pulled)  # the default names are qdlpy's in a dump folder
    other = pulled / "again.elf"
    report = assemble(pulled, other, force=True)
    doc = json.loads((pulled / "manifest.json").read_text())
    doc["elf"] = report.to_dict()  # what pull records after assembling
    (pulled / "manifest.json").write_text(json.dumps(doc))
    assemble(pulled, other)  # recorded by the manifest: replaced without --force


@pytest.mark.parametrize("name", ["minidump.elf", "minidump-subsystems.elf"])
@pytest.mark.parametrize("what", ["elf-core", "text"])
def test_a_link_at_a_target_is_never_written_through(name: str, what: str, tmp_path: Path,
                                                     make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    outside = tmp_path / "outside"
    if what == "elf-core":
        assemble(make_folder(s), outside)  # a real ELF core elsewhere
    else:
        outside.write_text("precious")
    before = outside.read_bytes()
    (folder / name).symlink_to(outside)
    with pytest.raises(OutputError, match="symbolic link") as info:
        assemble(folder)
    assert "--force" in (info.value.hint or "")
    assert outside.read_bytes() == before and (folder / name).is_symlink()
    assert (folder / "minidump.elf").is_symlink() or not (folder / "minidump.elf").exists()
    assemble(folder, force=True)  # replaces the link itself
    assert outside.read_bytes() == before
    assert not (folder / name).is_symlink() and (folder / name).is_file()


def test_a_linked_folder_under_the_dump_folder_is_refused(tmp_path: Path,
                                                         make_folder: MakeFolder) -> None:
    folder = make_folder(kmemdump.build("x86_64"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "out").symlink_to(elsewhere)
    for force in (False, True):
        with pytest.raises(OutputError, match="symbolic link"):
            assemble(folder, folder / "out" / "core.elf", force=force)
    assert list(elsewhere.iterdir()) == []


def test_a_linked_folder_the_user_names_outside_the_dump_is_followed(
        tmp_path: Path, make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    assemble(folder, tmp_path / "via" / "core.elf")
    assert (real / "core.elf").read_bytes() == s.expected()


def test_unsafe_name_is_an_input_error_not_an_output_error(make_folder: MakeFolder) -> None:
    s = kmemdump.build("x86_64")
    folder = make_folder(s, source="load.cmm")
    with open(folder / "load.cmm", "a") as f:
        f.write("d.load.binary &dir\\.. 0x1000 /noclear\n")  # its last component: ..
    with pytest.raises(InputError) as info:
        assemble(folder)
    assert info.value.exit_code == 10
