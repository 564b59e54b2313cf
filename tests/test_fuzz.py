"""The fuzz harnesses (fuzz/, docs/testing.md#fuzzing) as part of the test suite.

Every target's seeds and every case saved under fuzz/regressions/ (each one an escape a
campaign found, fixed since) must pass; the runner must count cases and must fail on each
kind of finding (an exception other than QdlpyError, a case over its time limit, memory
over the cap), shown with targets that break the rules on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

from fuzzlimits import run_case  # noqa: E402
from fuzztargets import TARGETS, load  # noqa: E402


def _cases(name: str) -> list[tuple[str, bytes]]:
    module = load(name)
    saved = FUZZ / "regressions" / name
    cases = [(f"seed-{i}", s) for i, s in enumerate(module.seeds())]
    if saved.is_dir():
        cases += [(p.name, p.read_bytes()) for p in sorted(saved.iterdir())]
    return cases


@pytest.mark.parametrize("name", list(TARGETS))
def test_seeds_and_saved_cases_pass(name: str) -> None:
    module = load(name)
    for label, data in _cases(name):
        try:
            run_case(module.one_input, data, 120)
        except BaseException as exc:
            raise AssertionError(f"{name} case {label} ({data[:32]!r}): {exc!r}") from exc


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(FUZZ / "run.py"), *args], capture_output=True,
                          text=True, errors="replace", timeout=300, check=False)


def test_the_runner_counts_cases(tmp_path: Path) -> None:
    proc = _run("--seconds", "4", "--target", "packets", "--target", "table",
                "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    counts = {line.split()[0]: int(line.split()[2]) for line in proc.stdout.splitlines()
              if line.split() and line.split()[0] in ("packets", "table")}
    assert counts["packets"] > 100 and counts["table"] > 100, proc.stdout


def _engine(name: str) -> str:
    if name == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            msg = "atheris is not installed (pip install -e '.[fuzz]')"
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must provide atheris: {msg}")
            pytest.skip(msg)
    return name


@pytest.mark.parametrize("engine", ["atheris", "hypothesis"])
@pytest.mark.parametrize(("canary", "kind"), [("canary-escape", "escape"),
                                              ("canary-hang", "timeout"),
                                              ("canary-memory", "memory")])
def test_the_runner_fails_on_each_kind_of_finding(canary: str, kind: str, engine: str,
                                                  tmp_path: Path) -> None:
    proc = _run("--seconds", "5", "--case-seconds", "2", "--rss-mb", "512", "--target", canary,
                "--engine", _engine(engine), "--artifacts", str(tmp_path))
    assert proc.returncode == 1, proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(canary))
    assert line.split()[-1] == kind, proc.stdout
    assert list((tmp_path / canary).iterdir()), "the failing case was not saved"
