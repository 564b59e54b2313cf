"""Fixtures of the real-kernel tier: the generator runs once per architecture per session.

Skips and failures: a missing package skips the tier on a developer
machine, naming the command that enables it; in CI (CI=true) it fails. QDLPY_E2E=0 skips
the tier on purpose; QDLPY_E2E_ARCHES (default "x86_64,arm64") picks the architectures;
QDLPY_E2E_CACHE moves the download cache; QDLPY_E2E_QDLPY runs another qdlpy executable.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # generator/, kernel_checks, qdlpy_cli

from generator.arch import get_arch
from generator.errors import GeneratorError, MissingTool
from generator.pipeline import EXPECTED_SCHEMA, Options, default_cache, generate
from kernel_case import NOTES, KernelCase

ARCH_NAMES = [a for a in os.environ.get("QDLPY_E2E_ARCHES", "x86_64,arm64").split(",") if a]
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session", params=ARCH_NAMES)
def case(request: pytest.FixtureRequest) -> KernelCase:
    if os.environ.get("QDLPY_E2E") == "0":
        pytest.skip("real-kernel tier disabled by QDLPY_E2E=0")
    arch = get_arch(request.param)
    try:
        out = generate(Options(arch=arch, cache=default_cache()))
    except MissingTool as e:
        msg = f"{e.message}; enable the real-kernel tier with: {e.enable_command}"
        if IN_CI:
            pytest.fail(f"CI must provide every package of the real-kernel tier: {msg}")
        pytest.skip(msg)
    except GeneratorError as e:
        pytest.fail(f"real-kernel generator failed: {e.message}\nhint: {e.hint}")
    expected = json.loads((out / "expected.json").read_text())
    assert expected["schema"] == EXPECTED_SCHEMA
    report = json.loads((out / "generator-report.json").read_text())
    NOTES.append(f"[{arch.name}] generator: {json.dumps(report['seconds'])}; "
                 f"reference.elf {report['bytes']['reference_elf']} bytes; "
                 f"kernel {expected['kernel_package']}")
    return KernelCase(arch, out, expected)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if NOTES:
        terminalreporter.section("real-kernel tier (informational)")
        for note in NOTES:
            terminalreporter.write_line(note)
