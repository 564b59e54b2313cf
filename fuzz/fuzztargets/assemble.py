"""``assemble`` (and folder ``inspect``) on mutated dump folders.

A case copies one template folder (fuzz/fuzztemplates.py) and applies a script of edits: bytes
of a file flipped, cut or extended; a file renamed, removed or replaced by a folder; the
file names and fields of manifest.json, dump_info.txt and load.cmm replaced by fuzzed text
(absolute paths, "..", 300-byte names, wrong JSON types); symlinks planted to a file or
folder outside the dump folder. Then assemble must give ELFs or a QdlpyError, and:

* nothing outside the dump folder is written (the scratch root is compared before/after);
* no byte of the outside file reaches an output (a link must never be read through);
* no input file changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from fuzzcase import Input
from fuzztemplates import SECRET, folders
from fuzzwork import root, scratch

from qdlpy.assemble import assemble, inspect
from qdlpy.errors import QdlpyError

NAME = "assemble"
_MAX_EDITS = 8
_ADDRESS_FILES = ("manifest.json", "dump_info.txt", "load.cmm")


def _fs_name(raw: bytes) -> str:
    """Fuzzed bytes as a name the file system accepts (no NUL, no /, not empty)."""
    text = raw.decode("utf-8", "surrogateescape").replace("\0", "_").replace("/", "_")
    return text if text not in ("", ".", "..") else "_"


def _text_name(case: Input) -> str:
    """A name for an address file: often hostile on purpose."""
    pick = case.int_in(0, 7)
    if pick == 0:
        return "../" * case.int_in(1, 4) + "secret.bin"
    if pick == 1:
        return str(root() / "secret.bin")
    if pick == 2:
        return "x" * case.int_in(250, 300) + ".BIN"
    if pick == 3:
        return "regions/" + _fs_name(case.blob(24))
    return case.blob(40).decode("utf-8", "replace")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _edit_bytes(folder: Path, case: Input) -> None:
    files = _files(folder)
    if not files:
        return
    path = case.choice(files)
    data = bytearray(path.read_bytes())
    op = case.int_in(0, 3)
    if op == 0 and data:
        for _ in range(case.int_in(1, 8)):
            data[case.int_in(0, len(data) - 1)] = case.uint(1)
    elif op == 1:
        del data[case.int_in(0, len(data)) :]
    elif op == 2:
        data += case.blob(256)
    elif data:
        at = case.int_in(0, len(data) - 1)
        data[at : at + 8] = case.uint(8).to_bytes(8, "little")
    path.write_bytes(bytes(data))


def _edit_manifest(folder: Path, case: Input) -> None:
    path = folder / "manifest.json"
    try:
        doc = json.loads(path.read_text())
        regions = doc["regions"]
        region = case.choice(regions)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return
    if not isinstance(region, dict):
        return
    key = case.choice(("filename", "base", "length", "status", "sha256", "description"))
    values: list[object] = [_text_name(case), None, -1, 2**70, [1], {"a": 1}, "0x" + "f" * 20,
                            "partial", "failed", "complete", case.blob(8).hex(), True, 1.5]
    region[key] = case.choice(values)
    path.write_text(json.dumps(doc))


def _edit_text(folder: Path, case: Input) -> None:
    name = case.choice(("dump_info.txt", "load.cmm"))
    path = folder / name
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    bad = _text_name(case)
    if name == "dump_info.txt":
        new = f"1 0x{case.uint(8):x} {case.uint(4)} desc {bad}"
    else:
        new = f"d.load.binary {bad} 0x{case.uint(8):x} /noclear"
    at = case.int_in(0, len(lines))
    lines[at : at + case.int_in(0, 1)] = [new]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))


def _plant_link(folder: Path, case: Input) -> None:
    files = _files(folder)
    target = case.choice((root() / "secret.bin", root(), Path("/etc/hostname")))
    if files and case.flag():
        victim = case.choice(files)
        victim.unlink()
        victim.symlink_to(target)
    else:
        link = folder / case.choice(("regions", "minidump.elf", "minidump-subsystems.elf",
                                     _fs_name(case.blob(16))))
        if not link.exists() and not link.is_symlink():
            link.symlink_to(target)


def _rename(folder: Path, case: Input) -> None:
    files = _files(folder)
    if files:
        path = case.choice(files)
        try:
            path.rename(path.with_name(_fs_name(case.blob(300))))
        except OSError:
            pass


def _remove(folder: Path, case: Input) -> None:
    files = _files(folder)
    if files:
        path = case.choice(files)
        path.unlink()
        if case.flag():
            path.mkdir()


_EDITS: tuple[Callable[[Path, Input], None], ...] = (
    _edit_bytes, _edit_manifest, _edit_text, _plant_link, _rename, _remove)


def _digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _tree(path: Path) -> set[str]:
    return {str(p) for p in path.rglob("*")}


def seeds() -> list[bytes]:
    return [bytes([i]) for i in range(5)] + [bytes([0, 1, 0]) + bytes(32),
                                             bytes([2, 1, 1, 0, 0]), bytes([0, 1, 3, 1])]


def _check_outputs(report_paths: list[str]) -> None:
    marker = SECRET[:32]
    for p in report_paths:
        with open(p, "rb") as f:
            assert marker not in f.read(), f"{p} holds bytes of a file outside the dump folder"


def one_input(data: bytes) -> None:
    case = Input(data)
    template = case.choice(folders())
    with scratch() as work:
        folder = work / "dump"
        shutil.copytree(template, folder, symlinks=True)
        for _ in range(case.int_in(0, _MAX_EDITS)):
            edit = case.choice(_EDITS)
            with contextlib.suppress(OSError):  # an edit a former edit made impossible
                edit(folder, case)
        inputs = _digest(_files(folder))
        outside_before = _tree(root()) - _tree(folder)
        secret = (root() / "secret.bin").read_bytes()
        strict, repair, force = case.flag(), case.flag(), case.flag()
        try:
            report = assemble(folder, strict=strict, repair=repair, force=force)
        except QdlpyError:
            report = None
        outputs = [] if report is None else [o.path for o in report.outputs]
        _check_outputs(outputs)
        after = _digest([Path(p) for p in inputs if os.path.exists(p)])
        assert after == {k: v for k, v in inputs.items() if k in after}, "an input changed"
        assert _tree(root()) - _tree(folder) == outside_before, "wrote outside the folder"
        assert (root() / "secret.bin").read_bytes() == secret
        try:
            inspect(folder)
        except QdlpyError:
            pass
