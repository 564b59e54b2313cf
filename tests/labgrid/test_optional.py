"""labgrid stays optional: nothing in qdlpy but qdlpy.labgrid imports it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_no_qdlpy_module_outside_qdlpy_labgrid_mentions_it() -> None:
    offenders = []
    for folder in ("qdlpy", "protocols", "cli", "udev"):
        for path in (REPO / folder).rglob("*.py"):
            if path.is_relative_to(REPO / "qdlpy" / "labgrid"):
                continue
            text = path.read_text()
            if "qdlpy.labgrid" in text or "import labgrid" in text or "from labgrid" in text:
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def _module_names() -> list[str]:
    """Every importable module of the installed tree (protocols/ and cli/ are mapped to
    qdlpy.protocols and qdlpy.cli), except qdlpy.labgrid and __main__ modules."""
    names = []
    for folder, package in (("qdlpy", "qdlpy"), ("protocols", "qdlpy.protocols"),
                            ("cli", "qdlpy.cli")):
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__main__" or (folder == "qdlpy" and parts[:1] == ["labgrid"]):
                continue
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join([package, *parts]))
    return names


def test_importing_all_of_qdlpy_but_its_labgrid_package_loads_no_labgrid() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_module_names()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(n for n in sys.modules if n == 'labgrid' or n.startswith('labgrid.')))\n"
    )
    # -P and a neutral cwd: the installed package, never the checkout's unmapped folders.
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, stdin=subprocess.DEVNULL,
                          cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
