"""Fixtures for the assembler tests: byte-accurate region sets written as dump folders.

Helpers are fixtures (pytest runs in importlib mode, test files cannot import each other).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from qdlpy.simulator import kmemdump_image as kimg

IN_CI = os.environ.get("CI") == "true"

MakeFolder = Callable[..., Path]


@pytest.fixture(params=["arm64", "x86_64"])
def arch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_folder(tmp_path: Path) -> MakeFolder:
    """make_folder(rows_or_set, source="manifest", case="as-is", name=...) -> folder."""
    counter = [0]

    def make(what: kimg.KmemdumpSet | Sequence[kimg.RegionRecord], *, source: str = "manifest",
             case: str = "as-is", extras: bool = True) -> Path:
        counter[0] += 1
        rows = what.table(with_extras=extras) if isinstance(what, kimg.KmemdumpSet) else what
        return kimg.write_folder(tmp_path / f"dump{counter[0]}", list(rows),
                                 source=source,  # type: ignore[arg-type]
                                 case=case)  # type: ignore[arg-type]

    return make


def need_tool(name: str) -> str:
    """Path of an external tool; skipped outside CI when absent, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (apt-get install {'binutils' if name == 'readelf' else name})"
        if IN_CI:
            pytest.fail(f"CI must provide {name}: {msg}")
        pytest.skip(msg)
    return path


@pytest.fixture
def tool() -> Callable[[str], str]:
    return need_tool


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def inputs_snapshot() -> Callable[[Path], dict[str, bytes]]:
    return snapshot
