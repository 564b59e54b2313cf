"""The top-level Python API: ``import qdlpy`` then call the operations directly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import qdlpy


def test_pull_and_read_regions_from_the_package(tmp_path: Path) -> None:
    table = qdlpy.read_regions("sim:legacy32")
    assert not table.table.is64 and table.table.regions[-1].filename == "load.cmm"
    result = qdlpy.pull("sim:fulldump?size=1M", output=tmp_path / "d", after="none")
    assert isinstance(result, qdlpy.PullResult)
    assert result.status == "ok"
    assert (tmp_path / "d" / "DDRCS0_0.BIN").stat().st_size == 1 << 20


def test_import_qdlpy_does_not_load_the_usb_stack() -> None:
    code = ("import sys, qdlpy; heavy = [m for m in ('usb', 'construct', 'click', 'rich') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_sizes_in_options_and_knobs() -> None:
    from qdlpy.errors import InvalidArgument
    from qdlpy.units import parse_size

    assert parse_size("512K") == 512 * 1024 and parse_size("4GiB") == 4 << 30
    assert parse_size("0x8000000B") == 0x8000000B  # a hex address ending in B is not bytes-unit
    for bad in ("12Q", "0x10K", ""):
        try:
            parse_size(bad)
        except InvalidArgument:
            continue
        raise AssertionError(f"{bad!r} was accepted")
