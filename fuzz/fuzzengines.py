"""Two ways to run a target: atheris (coverage-guided libFuzzer, where it installs) and
hypothesis (random and seed-mutating generation, everywhere the tests run).

Both print ``stat::number_of_executed_units: N`` at the end, the line ``fuzz/run.py``
counts cases from, and end the process non-zero when a case broke a rule.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import fuzzlimits
from fuzzlimits import cap_memory, run_case, save_case

__all__ = ["have_atheris", "run_atheris", "run_hypothesis"]


def have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _write_seeds(module: ModuleType, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(module.seeds()):
        (corpus / f"seed-{i:03d}").write_bytes(seed)


def run_atheris(load: Any, name: str, seconds: int, case_seconds: int, rss_mb: int,
                corpus: Path, artifacts: Path) -> None:
    """libFuzzer drives; it ends the process itself (exit 0, or non-zero on a finding)."""
    import atheris

    with atheris.instrument_imports(include=["qdlpy"]):
        module = load(name)
    _write_seeds(module, corpus)
    cap_memory(rss_mb + 1024)  # libFuzzer's -rss_limit_mb reports first; this is the backstop
    artifacts.mkdir(parents=True, exist_ok=True)
    fuzzlimits.ARTIFACTS[:] = [artifacts]

    def test_one_input(data: bytes) -> None:
        run_case(module.one_input, data, case_seconds)

    argv = [sys.argv[0], f"-max_total_time={seconds}", f"-timeout={case_seconds}",
            f"-rss_limit_mb={rss_mb}", f"-malloc_limit_mb={rss_mb}", "-print_final_stats=1",
            "-max_len=8192", f"-artifact_prefix={artifacts}/", str(corpus)]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


class _CaseTimeout(BaseException):
    """Raised by the alarm in a case that ran too long (not an Exception: nothing catches
    it by accident)."""


def _mutants(seeds: list[bytes]) -> Any:
    from hypothesis import strategies as st

    def apply(args: tuple[bytes, list[tuple[int, int]], int | None, bytes]) -> bytes:
        seed, edits, cut, tail = args
        out = bytearray(seed)
        for pos, value in edits:
            if out:
                out[pos % len(out)] = value
        if cut is not None:
            del out[cut:]
        return bytes(out) + tail

    edited = st.tuples(st.sampled_from(seeds), st.lists(st.tuples(
        st.integers(0, 1 << 16), st.integers(0, 255)), max_size=16),
        st.one_of(st.none(), st.integers(0, 4096)), st.binary(max_size=64)).map(apply)
    return st.one_of(edited, st.binary(max_size=2048))


def run_hypothesis(load: Any, name: str, seconds: int, case_seconds: int, rss_mb: int,
                   artifacts: Path) -> None:
    from hypothesis import HealthCheck, Phase, given, settings

    module = load(name)
    cap_memory(rss_mb)
    artifacts.mkdir(parents=True, exist_ok=True)
    fuzzlimits.ARTIFACTS[:] = [artifacts]
    count = 0
    current = [b""]

    def alarm(signum: int, frame: FrameType | None) -> None:
        save_case(current[0], "timeout")
        raise _CaseTimeout(f"a case ran over {case_seconds} s")

    signal.signal(signal.SIGALRM, alarm)

    @settings(max_examples=50, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    @given(_mutants(module.seeds()))
    def prop(data: bytes) -> None:
        nonlocal count
        count += 1
        current[0] = data
        signal.setitimer(signal.ITIMER_REAL, case_seconds)
        try:
            run_case(module.one_input, data, case_seconds + 1)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    end = time.monotonic() + seconds
    status = 0
    try:
        for seed in module.seeds():
            prop.hypothesis.inner_test(seed)  # type: ignore[attr-defined]
        while time.monotonic() < end:
            prop()
    except BaseException as exc:  # noqa: BLE001 - every finding ends the run, reported
        import traceback

        traceback.print_exception(exc)
        print(f"==qdlpy-fuzz== {type(exc).__name__} escaped in target {name}", file=sys.stderr)
        status = 1
    print(f"stat::number_of_executed_units: {count}", file=sys.stderr, flush=True)
    sys.stderr.flush()
    os._exit(status)
