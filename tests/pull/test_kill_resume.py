"""SIGKILL at any moment leaves a folder that --resume completes byte-identically.

``kill_at.py`` runs the real ``qdlpy`` command and kills it (SIGKILL: no handler, no
cleanup) right before or after a chosen write, fsync or rename: during a manifest rewrite,
around a finished region's rename, and at seeded random calls. After each kill the folder's
manifest must describe only what is really on disk, and ``--resume`` must finish with region
files whose sha256 equal an uninterrupted pull's. ``bench/pull_kill_campaign.py`` runs the
same check at hundreds of random points.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import qdlpy_env, run_qdlpy
from pull_support import check_complete_folder, load_manifest

KILL_AT = Path(__file__).resolve().parent / "kill_at.py"
SPEC = "fulldump?size=2M"
ARGS = ("-t", f"sim:{SPEC}", "--chunk-size", "64K", "--no-elf")
SEED = 1103
CHECKPOINT = 256 * 1024  # the 2 MiB region is counted in the manifest 7 times on its way


def killed_pull(out: Path, plan: str, counts: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(KILL_AT), plan, str(counts), "--checkpoint", str(CHECKPOINT), "--",
         "pull", "-o", str(out), *ARGS],
        env=qdlpy_env(), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        check=False)


def digests(out: Path) -> dict[str, str]:
    """sha256 of each region file the manifest lists (computed here, not read from it)."""
    return {r["filename"]: hashlib.sha256((out / r["filename"]).read_bytes()).hexdigest()
            for r in load_manifest(out)["regions"]}


def check_consistent(out: Path) -> None:
    """The manifest claims nothing the disk does not hold."""
    m = load_manifest(out)
    for r in m["regions"]:
        if r["status"] == "complete":
            data = (out / r["filename"]).read_bytes()
            assert len(data) == r["length"] == r["bytes"], r["filename"]
            assert hashlib.sha256(data).hexdigest() == r["sha256"], r["filename"]
        elif r["bytes"]:
            part = out / (r["filename"] + ".part")
            # Killed right after the finished part was renamed: the bytes are in NAME.
            data = (part if part.exists() else out / r["filename"]).read_bytes()
            assert len(data) >= r["bytes"], r["filename"]
            assert hashlib.sha256(data[: r["bytes"]]).hexdigest() == r["sha256"], r["filename"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, int]]:
    """An uninterrupted pull's region digests, and how many calls of each kind it made."""
    root = tmp_path_factory.mktemp("reference")
    proc = killed_pull(root / "dump", "count", root / "counts.json")
    assert proc.returncode == 0, proc.stderr
    check_complete_folder(root / "dump", SPEC)
    counts: dict[str, int] = json.loads((root / "counts.json").read_text())
    return digests(root / "dump"), counts


def kill_points(counts: dict[str, int]) -> list[str]:
    rng = random.Random(SEED)
    chosen = [
        "replace:1:before:manifest.json",  # the first manifest: written, never renamed
        "replace:4:after:manifest.json",  # the third checkpoint of DDRCS0_0.BIN, just made
        "replace:6:before:manifest.json",  # a checkpoint written, not yet renamed
        "replace:1:before:.BIN.part",  # a finished region, not yet renamed
        "replace:2:after:.BIN.part",  # renamed, the manifest not yet rewritten
    ]
    for func in ("write", "fsync", "write"):
        if counts[func]:
            when = rng.choice(["before", "after"])
            chosen.append(f"{func}:{rng.randint(1, counts[func])}:{when}")
    return chosen


def test_kill_points_cover_the_writes(reference: tuple[dict[str, str], dict[str, int]]) -> None:
    _, counts = reference
    assert counts["write"] > 32 and counts["replace"] >= 12 and counts["fsync"] >= 12
    assert counts["ftruncate"] >= 4


@pytest.mark.parametrize("index", range(8))
def test_sigkill_then_resume_is_byte_identical(
        tmp_path: Path, reference: tuple[dict[str, str], dict[str, int]], index: int) -> None:
    expected, counts = reference
    plan = kill_points(counts)[index]
    out = tmp_path / "dump"
    proc = killed_pull(out, plan, tmp_path / "unused.json")
    assert proc.returncode == -9, f"{plan} was never reached: {proc.stderr}"
    if (out / "manifest.json").exists():
        check_consistent(out)
        resumed = run_qdlpy("pull", "-o", out, "--resume", "--json", *ARGS)
    else:  # killed before the first manifest: nothing to resume, the folder is a fresh one
        resumed = run_qdlpy("pull", "-o", out, "--force", "--json", *ARGS)
    assert resumed.returncode == 0, (plan, resumed.stderr)
    check_complete_folder(out, SPEC, json.loads(resumed.stdout), resumed=True)
    assert digests(out) == expected, plan
