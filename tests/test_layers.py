"""The layer rules hold: lint rules that guard them fire, and the code paths behind them
import at run time only what they may.

* ``qdlpy/simulator/`` never imports ``qdlpy.assemble`` (qdlpy/simulator/ruff.toml): the
  device that produces dumps shares no code with the assembler that reads them.
* ``tests/oracle/`` never imports qdlpy (tests/oracle/ruff.toml): the oracle the assembler
  tests grade against shares no code with it.
* The production USB path never imports the simulator, and the CLI entry point loads no UI
  library before a command runs (run-time checks: an import through importlib would escape
  a lint rule).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must provide ruff (pip install '.[dev]')")
        pytest.skip("ruff is not installed (pip install '.[dev]')")
    return [exe]


def _lint(path: str, source: str) -> str:
    """ruff's verdict on ``source`` as if it were the file ``path`` of the repository."""
    proc = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise",
                           "--stdin-filename", path, "-"], input=source, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("source", [
    "import qdlpy.assemble\n",
    "from qdlpy.assemble.kernel import plan_kernel\n",
    "from ...assemble import kernel\n",
])
def test_the_simulator_may_not_import_the_assembler(source: str) -> None:
    out = _lint("qdlpy/simulator/scenarios/probe.py", source + "\n__all__ = ['x']\n")
    assert "TID251" in out and "qdlpy.assemble" in out, out


def test_the_simulator_may_import_the_leaf_formats() -> None:
    out = _lint("qdlpy/simulator/probe.py",
                "from qdlpy.formats.elf import build_ehdr\n\n__all__ = ['build_ehdr']\n")
    assert "TID251" not in out, out


@pytest.mark.parametrize("source", ["import qdlpy\n", "from qdlpy.formats import elf\n"])
def test_the_oracle_may_not_import_qdlpy(source: str) -> None:
    out = _lint("tests/oracle/probe.py", source)
    assert "TID251" in out, out


def test_other_tests_may_import_qdlpy() -> None:
    assert "TID251" not in _lint("tests/assemble/probe.py", "import qdlpy\n")


def test_at_run_time_too(tmp_path: Path) -> None:
    """Building every simulator scenario and every oracle set loads neither forbidden
    package (an import through importlib would escape the lint rule)."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "X.BIN").write_bytes(b"x" * 16)
    (tmp_path / "d" / "dump_info.txt").write_text("1 0x1000 16 X X.BIN\n")
    code = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import oracle.downstream, oracle.kmemdump
oracle.kmemdump.build("x86_64", corrupt_notes=True).expected(repair=True)
oracle.downstream.build_downstream().expected()
assert not any(m == "qdlpy" or m.startswith("qdlpy.") for m in sys.modules), "oracle"
from qdlpy.simulator.scenarios import SCENARIOS, build_model
for spec in ("kmemdump", "kmemdump?downstream=1", "fulldump?size=1M", "legacy32", "edl",
             "command", "dir:{tmp_path / 'd'}"):
    build_model(spec)
bad = sorted(m for m in sys.modules if m == "qdlpy.assemble" or m.startswith("qdlpy.assemble."))
assert not bad, bad
"""
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr


def _run(code: str, **env: str) -> str:
    # -P and a neutral cwd: import the installed package, never the source folders.
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          check=True, cwd=tempfile.gettempdir(), env={**os.environ, **env})
    return done.stdout.strip()


def test_the_production_usb_path_never_imports_the_simulator() -> None:
    code = (
        "import sys, contextlib\n"
        "import qdlpy, qdlpy.dump, qdlpy.session, qdlpy.doctor\n"
        "from qdlpy.transport import make_transport, usb_backend\n"
        "make_transport('usb')\n"
        "with contextlib.suppress(qdlpy.QdlpyError):\n"
        "    usb_backend.get_backend()\n"
        "print(sorted(m for m in sys.modules if m.startswith('qdlpy.simulator')))\n"
    )
    # Even with the simulator's variable set: only the qdlpy command plugs it in.
    assert _run(code, QDLPY_USB_SIM="kmemdump") == "[]"


def test_the_cli_entry_point_loads_no_ui_library_before_a_command_runs() -> None:
    code = ("import sys, qdlpy.cli.main\n"
            "print(sorted(m for m in ('rich', 'tqdm', 'usb', 'construct') if m in sys.modules))")
    assert _run(code) == "[]"


def test_python_dash_m_qdlpy_is_the_qdlpy_command() -> None:
    by_module = subprocess.run([sys.executable, "-m", "qdlpy", "--version"], capture_output=True,
                               text=True, check=True, cwd=tempfile.gettempdir()).stdout
    import qdlpy

    assert by_module.strip() == f"qdlpy, version {qdlpy.__version__}"
