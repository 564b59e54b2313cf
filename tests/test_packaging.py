"""The top-level folders must install as one `qdlpy` import tree (docs/design.md#packaging)."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def test_pyproject_has_no_project_table() -> None:
    # A [project] table makes setuptools ignore setup.cfg's metadata and console script.
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "project" not in data
    assert data["build-system"]["build-backend"] == "setuptools.build_meta"


def test_every_package_folder_is_listed_in_setup_cfg() -> None:
    cfg = _setup_cfg()
    listed = set(cfg["options"]["packages"].split())
    mapping = {"qdlpy": "qdlpy", "protocols": "qdlpy.protocols", "cli": "qdlpy.cli",
               "udev": "qdlpy.udev"}
    found = set()
    for top, prefix in mapping.items():
        for init in (REPO / top).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / top)
            found.add(".".join([prefix, *rel.parts]) if rel.parts else prefix)
    assert found <= listed, f"add to setup.cfg [options] packages: {sorted(found - listed)}"


def test_top_level_protocols_and_cli_are_not_importable() -> None:
    # Installed or under pytest's importlib mode, the repository's protocols/ and cli/ must
    # only be reachable as qdlpy.protocols / qdlpy.cli. (A test folder of the same name on
    # sys.path is a harmless namespace package, so look at where a spec would point.)
    import importlib.util

    for name in ("protocols", "cli"):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        places = [str(Path(p).resolve()) for p in (spec.submodule_search_locations or [])]
        assert str(REPO / name) not in places, f"top-level {name!r} resolves to the repo's folder"
    import qdlpy.cli
    import qdlpy.protocols

    assert Path(qdlpy.protocols.__file__).parent.name == "protocols"
    assert Path(qdlpy.cli.__file__).parent.name == "cli"


@pytest.mark.slow
def test_wheel_holds_only_qdlpy(tmp_path: Path) -> None:
    import importlib.util

    # Reuse the environment's setuptools when it has one (fast, offline); a fresh venv of a
    # newer Python may not, and then pip builds in isolation as a user's `pip install .` does.
    isolation = [] if importlib.util.find_spec("setuptools") and importlib.util.find_spec(
        "wheel") else ["--use-pep517"]
    flags = ["--no-build-isolation"] if not isolation else isolation
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *flags, "-w",
         str(tmp_path), str(REPO)],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("qdlpy-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"qdlpy"}
    for required in ("qdlpy/protocols/host.py", "qdlpy/cli/main.py", "qdlpy/udev/60-qdlpy.rules",
                     "qdlpy/py.typed"):
        assert required in names
    dist = next(t for t in tops if t.endswith(".dist-info"))
    z = zipfile.ZipFile(wheel)
    assert z.read(f"{dist}/top_level.txt").decode().split() == ["qdlpy"]
    assert "qdlpy = qdlpy.cli.main:main" in z.read(f"{dist}/entry_points.txt").decode()
