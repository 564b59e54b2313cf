"""One pull per folder: a second one is refused at once (exit 9, ``folder-locked``).

The lock is an flock on DIR/.qdlpy.lock, so the kernel drops it with the process that held
it: a pull killed with SIGKILL leaves nothing stuck, and ``--resume`` goes on.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

from helpers import Simulator, run_qdlpy, start_qdlpy
from pull_support import (
    check_complete_folder,
    expected_regions,
    load_manifest,
    served_model,
    wait_for_file_size,
)

from qdlpy.dump import pull
from qdlpy.errors import FolderLocked

SPEC = "fulldump?size=4M"
CUT = 1 << 20


def test_a_second_pull_into_a_busy_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    stall_after = CUT + len(served_model(SPEC).personality.table)
    with Simulator(f"{SPEC}&stall_after={stall_after}") as sim:
        # The first pull waits for an answer the device holds back.
        first = start_qdlpy("pull", "-t", sim.uri, "-o", out, "--chunk-size", "256K",
                            "--io-timeout", "600", "--no-elf")
        try:
            wait_for_file_size(out / "DDRCS0_0.BIN.part", CUT)
            manifest = (out / "manifest.json").read_bytes()
            part = (out / "DDRCS0_0.BIN.part").read_bytes()
            for extra in ((), ("--resume",), ("--force",)):
                # A device that would answer at once: only the lock can stop this pull.
                second = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--json", *extra,
                                   timeout=60)
                assert second.returncode == 9, (extra, second.stderr)
                err = json.loads(second.stdout)["error"]
                assert err["code"] == "folder-locked" and err["exit_code"] == 9, extra
                assert str(out) in err["message"] and err["hint"]
            assert (out / "manifest.json").read_bytes() == manifest
            assert (out / "DDRCS0_0.BIN.part").read_bytes()[: len(part)] == part
        finally:
            first.send_signal(signal.SIGKILL)  # a dead process leaves no lock behind
            first.communicate(timeout=60)
    assert load_manifest(out)["status"] == "running"
    resumed = run_qdlpy("pull", "-t", f"sim:{SPEC}", "-o", out, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    check_complete_folder(out, SPEC, json.loads(resumed.stdout), resumed=True)


class SecondPull:
    """A progress sink that starts another pull into the same folder mid-region."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.refusal: BaseException | None = None
        self.done = False

    def begin(self, total_bytes: int, regions: int) -> None:
        pass

    def region_start(self, name: str, size: int, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        if self.done:
            return
        self.done = True
        try:
            pull(f"sim:{SPEC}", output=self.out, resume=True, interrupt=threading.Event())
        except FolderLocked as exc:
            self.refusal = exc

    def region_end(self, name: str, status: str) -> None:
        pass

    def end(self) -> None:
        pass


def test_the_lock_holds_within_one_process(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    sink = SecondPull(out)
    result = pull(f"sim:{SPEC}", output=out, chunk_size=64 * 1024, progress=sink)
    assert isinstance(sink.refusal, FolderLocked)
    assert result.status == "ok"
    for r in result.regions:
        assert (out / r.filename).read_bytes() == expected_regions(SPEC)[r.raw_filename]
