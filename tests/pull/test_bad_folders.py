"""Bad folders are input or output errors (exit 10 / 9 with a hint), never "internal error".

A manifest damaged anywhere (wrong JSON types, impossible numbers) stops ``--resume`` with
exit 10 naming the field; an output folder qdlpy may not write to stops the pull with exit 9.
Both leave the folder as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import qdlpy_command, qdlpy_env, run_qdlpy
from pull_support import StopAfterBytes

from qdlpy.cli.main import main
from qdlpy.dump import pull

SPEC = "fulldump?size=1M"

Damage = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Damage:
    """A damage that sets manifest[path] (dotted, list indexes as numbers) to ``value``."""
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return apply


def _drop(path: str) -> Damage:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]
    return apply


DAMAGES: dict[str, tuple[Damage, str]] = {
    "regions-not-a-list": (_set("regions", {"a": 1}), "regions"),
    "region-not-an-object": (_set("regions.1", "OCIMEM.BIN"), "regions[1]"),
    "length-as-text": (_set("regions.1.length", "lots"), "length"),
    "length-negative": (_set("regions.1.length", -5), "length"),
    "base-float": (_set("regions.1.base", 5.5), "base"),
    "base-not-hex": (_set("regions.1.base", "0xZZ"), "base"),
    "base-over-64-bits": (_set("regions.1.base", hex(1 << 64)), "base"),
    "bytes-over-length": (_set("regions.0.bytes", 1 << 40), "bytes"),
    "bytes-bool": (_set("regions.0.bytes", True), "bytes"),
    "filename-number": (_set("regions.1.filename", 7), "filename"),
    "status-number": (_set("regions.1.status", 3), "status"),
    "status-unknown": (_set("regions.1.status", "done-ish"), "status"),
    "sha256-number": (_set("regions.0.sha256", 12), "sha256"),
    "sha256-not-hex": (_set("regions.0.sha256", "z" * 64), "sha256"),
    "position-missing": (_drop("regions.1.position"), "position"),
    "table-a-list": (_set("table", [1, 2]), "table"),
    "table-sha256-number": (_set("table.sha256", 1), "table"),
    "device-text": (_set("device", "usb"), "device"),
    "chunk-size-text": (_set("chunk_size", "512K"), "chunk_size"),
    "warnings-text": (_set("warnings", "oops"), "warnings"),
    "selection-include-text": (_set("selection.include", "md_K*"), "selection"),
    "transport-number": (_set("transport", 5), "transport"),
    "error-a-list": (_set("error", []), "error"),
    "top-level-list": (lambda doc: doc.clear(), "schema"),
}


@pytest.fixture(scope="module")
def stopped_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pull interrupted after DDRCS0_0 (its .part partly saved): a folder to resume."""
    out = tmp_path_factory.mktemp("stopped") / "dump"
    stop = threading.Event()

    with pytest.raises(Exception, match="interrupted"):
        pull(f"sim:{SPEC}", output=out, chunk_size=64 * 1024, interrupt=stop,
             progress=StopAfterBytes(stop, 1))
    return out


def copy_folder(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


@pytest.mark.parametrize("damage", DAMAGES, ids=DAMAGES)
def test_a_damaged_manifest_is_an_input_error(tmp_path: Path, stopped_folder: Path, damage: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = copy_folder(stopped_folder, tmp_path / "dump")
    apply, field = DAMAGES[damage]
    doc = json.loads((out / "manifest.json").read_text())
    apply(doc)
    (out / "manifest.json").write_text(json.dumps(doc))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = main(["pull", "-t", f"sim:{SPEC}", "-o", str(out), "--resume", "--json"])
    assert code == 10
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["exit_code"] == 10 and err["code"] == "damaged-manifest"
    assert "manifest.json" in err["message"] and field in err["message"]
    assert err["hint"] and "internal" not in err["message"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_manifest_that_is_not_json_is_an_input_error(tmp_path: Path, stopped_folder: Path,
                                                       ) -> None:
    out = copy_folder(stopped_folder, tmp_path / "dump")
    (out / "manifest.json").write_bytes(b'{"schema": "qdlpy.pull/2", "regions": [\xff')
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--resume")
    assert proc.returncode == 10, proc.stderr
    assert "manifest.json" in proc.stderr and "hint:" in proc.stderr


def test_an_output_path_under_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "file" / "dump", "--json")
    assert proc.returncode == 9, proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == "output-error" and err["hint"]


def _as_nobody() -> None:
    os.setgid(65534)
    os.setuid(65534)


def test_an_unwritable_output_folder_is_an_output_error() -> None:
    """A folder the user may read but not write. Root may write anywhere, so as root the
    pull runs as nobody, in a folder under /tmp that nobody can reach."""
    as_root = os.geteuid() == 0
    if as_root:
        probe = subprocess.run([sys.executable, "-P", "-c", "import qdlpy.cli.main"],
                               preexec_fn=_as_nobody, capture_output=True, check=False,
                               cwd=tempfile.gettempdir())  # the install, not the checkout
        if probe.returncode != 0:
            pytest.skip("as root this runs qdlpy as nobody, who cannot read this install")
    with tempfile.TemporaryDirectory(prefix="qdlpy-unwritable-") as base:
        os.chmod(base, 0o755)
        out = Path(base) / "dump"
        out.mkdir(mode=0o555)
        os.chmod(out, 0o555)
        proc = subprocess.run([*qdlpy_command(), "pull", "-t", f"sim:{SPEC}", "-o", str(out),
                               "--json"], env=qdlpy_env(), capture_output=True, text=True,
                              timeout=120, preexec_fn=_as_nobody if as_root else None, check=False,
                              stdin=subprocess.DEVNULL, cwd=base)
        assert proc.returncode == 9, proc.stderr
        err = json.loads(proc.stdout)["error"]
        assert err["exit_code"] == 9 and str(out) in err["message"] and err["hint"]
        assert list(out.iterdir()) == []
