"""Progress reporting and the Python API of pull.

`--progress plain` writes one line per region on stderr (CI logs); `--json` draws no
progress; ``qdlpy.pull()`` returns a PullResult; the tqdm adapter
(``qdlpy.cli.tqdm_progress.TqdmProgress``) follows a pull to the last byte.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers import run_qdlpy
from pull_support import check_complete_folder

from qdlpy.cli.tqdm_progress import TqdmProgress
from qdlpy.dump import PullResult, pull

SPEC = "fulldump?size=1M"
NAMES = ["DDRCS0_0.BIN", "OCIMEM.BIN", "CODERAM.BIN", "load.cmm"]


def test_plain_progress_prints_region_lines_on_stderr(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--progress", "plain")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    for name in NAMES:
        assert any(line.startswith(f"{name} complete") for line in lines), proc.stderr
        assert name not in proc.stdout  # stdout carries data only (the folder)
    assert proc.stdout.strip().splitlines()[-1].endswith("d")


def test_plain_progress_with_json_goes_to_stderr_only(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--progress", "plain",
                     "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"
    assert any(line.startswith("OCIMEM.BIN complete") for line in proc.stderr.splitlines())


def test_json_draws_no_progress(tmp_path: Path) -> None:
    proc = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", tmp_path / "d", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not any(name in proc.stderr for name in NAMES), proc.stderr


def test_api_returns_a_pull_result(tmp_path: Path) -> None:
    out = tmp_path / "d"
    result = pull(f"sim:{SPEC}", output=out, elf=False, after="none")
    assert isinstance(result, PullResult)
    assert result.status == "ok" and result.output_dir == out
    assert [r.filename for r in result.regions] == NAMES
    assert all(r.status == "complete" and r.bytes == r.length for r in result.regions)
    assert result.bytes_read == sum(r.length for r in result.regions)
    assert result.elf is None
    d = result.to_dict()
    assert d["schema"] == "qdlpy.pull/2" and d["output_dir"] == str(out)
    assert d["stats"]["bytes_read"] == result.bytes_read
    json.dumps(d)  # serialisable as is
    check_complete_folder(out, SPEC)


def test_tqdm_adapter_follows_the_pull(tmp_path: Path) -> None:
    sink_file = io.StringIO()
    bar = TqdmProgress(file=sink_file, mininterval=0)
    result = pull(f"sim:{SPEC}", output=tmp_path / "d", progress=bar, elf=False)
    total = sum(r.length for r in result.regions)
    assert bar.bar is not None
    assert bar.bar.total == total and bar.bar.n == total
    text = sink_file.getvalue()
    assert "100%" in text
    assert "load.cmm" in text or "CODERAM.BIN" in text  # the bar names the region


def test_tqdm_adapter_reports_a_failed_region(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sink_file = io.StringIO()
    bar = TqdmProgress(file=sink_file, mininterval=0)
    try:
        pull("sim:fulldump?size=1M&eoi_at=0x14680000", output=tmp_path / "d", progress=bar)
    except Exception as exc:  # noqa: BLE001 - the pull is meant to fail (exit 6)
        assert getattr(exc, "exit_code", None) == 6
    else:
        raise AssertionError("the pull should have failed on the unreadable OCIMEM")
    assert capsys.readouterr().out == ""  # a library never prints on stdout
    assert "OCIMEM.BIN: failed" in sink_file.getvalue()


def test_human_summary_names_the_elf_files(tmp_path: Path) -> None:
    out = tmp_path / "d"
    proc = run_qdlpy("pull", "-t", "sim:kmemdump", "-o", out, "--progress", "none",
                     env={"COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    elf_lines = [line for line in proc.stderr.splitlines() if line.startswith("ELF:")]
    assert elf_lines, proc.stderr
    assert f"ELF: {out / 'minidump.elf'}" in elf_lines
    assert all("{" not in line for line in elf_lines)


def test_plain_progress_tells_how_much_of_a_partial_region_was_saved(tmp_path: Path) -> None:
    # DDRCS0_0 is 1 MiB; the device refuses its second 64 KiB read.
    proc = run_qdlpy("pull", "-t", "sim:fulldump?size=1M&eoi_at=0x80010000", "-o",
                     tmp_path / "d", "--chunk-size", "64K", "--progress", "plain")
    assert proc.returncode == 6, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("DDRCS0_0.BIN partial"))
    # The saved amount is what the line reports (the region's full size only as context).
    assert "partial 64.0 KiB of 1.0 MiB" in line, line
