"""The layer rules that no lint rule can see: what a code path actually imports at run time.

Static rules live in ruff (click/rich/tqdm only in cli/, protocols/ sans-I/O, the simulator
never importing the assembler); these run the code and look at ``sys.modules``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


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
