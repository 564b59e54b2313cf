"""One durability policy for every whole-file write: temp file beside the target, write,
fsync the file, rename, fsync the folder (qdlpy.atomic_write), used by the manifest, the
assembler's outputs and ``qdlpy udev install``."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from oracle import kmemdump

from qdlpy import atomic_write, udev_rules
from qdlpy.assemble import assemble
from qdlpy.errors import NoSpace, OutputError
from qdlpy.formats.manifest import Manifest

Event = tuple[str, str]


@pytest.fixture
def syscalls(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every fsync (of a file or a folder, by path) and rename, in order."""
    events: list[Event] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file"
        events.append((kind, os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str, *, src_dir_fd: int | None = None,
                dst_dir_fd: int | None = None) -> None:
        folder = os.readlink(f"/proc/self/fd/{dst_dir_fd}") if dst_dir_fd is not None else ""
        events.append(("rename", os.path.join(folder, dst)))
        real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def assert_durable(events: list[Event], target: Path) -> None:
    """The target was renamed into place after its temp file was synced, and its folder was
    synced after the rename."""
    at = events.index(("rename", str(target)))
    before = [p for kind, p in events[:at] if kind == "fsync-file"]
    assert before and Path(before[-1]).parent == target.parent
    assert Path(before[-1]).name.startswith(f".{target.name}.")  # the temp file, beside it
    assert ("fsync-dir", str(target.parent)) in events[at + 1 :]


def test_manifest_save(tmp_path: Path, syscalls: list[Event]) -> None:
    m = Manifest(status="running", started="2024-01-01T00:00:00Z", transport="sim",
                 device={}, table={}, chunk_size=1 << 20, regions=[])
    m.save(tmp_path)
    assert_durable(syscalls, tmp_path / "manifest.json")
    assert Manifest.load(tmp_path).status == "running"


def test_assembler_outputs(tmp_path: Path, syscalls: list[Event]) -> None:
    folder = kmemdump.build("x86_64").write(tmp_path / "dump")
    report = assemble(folder)
    assert len(report.outputs) == 3
    for out in report.outputs:
        assert_durable(syscalls, Path(out.path))


def test_udev_install(tmp_path: Path, syscalls: list[Event]) -> None:
    res = udev_rules.install(root=tmp_path, reload=False)
    assert res.written
    target = tmp_path / "etc/udev/rules.d/60-qdlpy.rules"
    assert_durable(syscalls, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write.atomic_file(target) as fd:
        os.write(fd, b"half")
        raise RuntimeError("stop")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "manifest.json").symlink_to(outside)
    atomic_write.write_atomic(folder / "manifest.json", b"{}")
    assert outside.read_text() == "precious"
    assert not (folder / "manifest.json").is_symlink()
    assert (folder / "manifest.json").read_bytes() == b"{}"


def test_modes(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write.write_atomic(tmp_path / "a", b"x")
        atomic_write.write_atomic(tmp_path / "b", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640  # 0o666 minus the umask
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o644  # exact


@pytest.mark.parametrize("errno_value,error", [(28, NoSpace), (13, OutputError)])
def test_errors_map_to_output_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     errno_value: int, error: type[OutputError]) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise OSError(errno_value, os.strerror(errno_value))

    monkeypatch.setattr(os, "write", refuse)
    with pytest.raises(error) as e:
        atomic_write.write_atomic(tmp_path / "f", b"data")
    assert e.value.exit_code == 9 and str(tmp_path / "f") in e.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_caller_maps_errors_itself(tmp_path: Path) -> None:
    def mine(exc: OSError, path: Path) -> OutputError:
        return OutputError(f"mine: {path.name}")

    error: Callable[[OSError, Path], OutputError] = mine
    with pytest.raises(OutputError, match="mine: f"):
        atomic_write.write_atomic(tmp_path / "missing-folder" / "f", b"x", error=error)


def test_beneath_creates_missing_folders(tmp_path: Path) -> None:
    atomic_write.write_atomic(tmp_path / "a" / "b" / "x.bin", b"data", beneath=tmp_path)
    assert (tmp_path / "a" / "b" / "x.bin").read_bytes() == b"data"


@pytest.mark.parametrize("depth", [1, 2])
def test_beneath_never_follows_a_linked_folder(tmp_path: Path, depth: int) -> None:
    top = tmp_path / "dump"
    (top / "a").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = top / "a" if depth == 1 else top / "a" / "b"
    if depth == 1:
        (top / "a").rmdir()
    link.symlink_to(elsewhere)
    with pytest.raises(OutputError, match="symbolic link") as info:
        atomic_write.write_atomic(top / "a" / "b" / "c" / "x.bin", b"data", beneath=top)
    assert str(link) in info.value.message
    assert list(elsewhere.iterdir()) == []


def test_the_beneath_folder_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)  # the user's own path: followed
    atomic_write.write_atomic(tmp_path / "via" / "x.bin", b"ok", beneath=tmp_path / "via")
    assert (real / "x.bin").read_bytes() == b"ok"
