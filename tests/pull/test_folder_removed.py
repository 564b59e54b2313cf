"""The output folder removed or moved mid-pull: noticed at the next chunk, exit 9.

Without the check a multi-GiB region keeps streaming into a deleted file until its end.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import start_qdlpy
from pull_support import wait_for_file_size

from qdlpy.dump import pull
from qdlpy.errors import FolderRemoved

SPEC = "fulldump?size=4M"
CHUNK = 64 * 1024


class ActAt:
    """A progress sink that runs ``action`` once ``limit`` bytes were saved, then counts."""

    def __init__(self, limit: int, action: Callable[[], object]) -> None:
        self.limit, self.action = limit, action
        self.saved = 0
        self.after = 0

    def begin(self, total_bytes: int, regions: int) -> None:
        pass

    def region_start(self, name: str, size: int, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        if self.saved >= self.limit:
            self.after += n
        self.saved += n
        if self.saved == self.limit:
            self.action()

    def region_end(self, name: str, status: str) -> None:
        pass

    def end(self) -> None:
        pass


def test_a_removed_folder_stops_the_pull_at_the_next_chunk(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    sink = ActAt(4 * CHUNK, lambda: shutil.rmtree(out))
    with pytest.raises(FolderRemoved) as info:
        pull(f"sim:{SPEC}", output=out, chunk_size=CHUNK, progress=sink)
    assert info.value.exit_code == 9 and str(out) in info.value.message
    assert sink.after == 0  # not one more chunk was counted as saved
    assert not out.exists()
    assert "resume" not in info.value.details  # nothing is left to resume


def test_a_moved_folder_stops_the_pull_and_keeps_what_it_holds(tmp_path: Path) -> None:
    out, moved = tmp_path / "dump", tmp_path / "elsewhere"
    sink = ActAt(4 * CHUNK, lambda: out.rename(moved))
    with pytest.raises(FolderRemoved) as info:
        pull(f"sim:{SPEC}", output=out, chunk_size=CHUNK, progress=sink)
    assert "moved" in info.value.message
    assert sink.after == 0
    assert not out.exists()
    assert (moved / "manifest.json").is_file() and (moved / "DDRCS0_0.BIN.part").is_file()


def test_rm_rf_of_the_folder_exits_9(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = start_qdlpy("pull", "-t", "sim:fulldump?size=64M", "-o", out, "--chunk-size", "4K",
                       "--json")
    try:
        wait_for_file_size(out / "DDRCS0_0.BIN.part", 64 * 1024)
        while out.exists():  # again if the pull created a file while rm -rf ran
            shutil.rmtree(out, ignore_errors=True)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 9, stderr
    err = json.loads(stdout)["error"]
    assert err["code"] == "output-removed" and err["hint"]
    assert not out.exists()
