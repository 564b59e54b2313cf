"""Tier 2 (docs/testing.md#the-real-libusb-tier): qdlpy's usb transport through pyusb, real libusb
and real usbdevfs ioctls, answered by a Python handler inside a umockdev testbed.

Run it in its own pytest invocation, under the preload:

    umockdev-wrapper "$(command -v pytest)" tests/umockdev

(tests/test_umockdev_tier.py does exactly that from a plain `pytest` run.)

While a testbed exists all of /sys is redirected into it (docs/testing.md#umockdev-pitfalls),
which is one more reason to keep this tier out of the main run. Without the packages the
tests skip with the install command; with CI=true a missing package is a failure, so CI
cannot silently lose the tier. Merely not running under umockdev-wrapper is a skip (the
main ``pytest tests`` run collects this folder too).
"""

from __future__ import annotations

import ctypes.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
INSTALL = "apt-get install -y umockdev gir1.2-umockdev-1.0 python3-gi libusb-1.0-0"


def _missing_packages() -> str | None:
    try:
        import gi

        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev  # noqa: F401
    except (ImportError, ValueError) as exc:
        return f"umockdev's GObject bindings are missing ({exc}); install: {INSTALL}"
    if ctypes.util.find_library("usb-1.0") is None:
        return f"Debian's libusb-1.0 is missing; install: {INSTALL}"
    try:
        import usb.core  # noqa: F401
    except ImportError:
        return "pyusb is missing: pip install pyusb libusb-package"
    return None


def _not_preloaded() -> str | None:
    if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
        return ("not running under umockdev's preload; run this tier as "
                "`umockdev-wrapper \"$(command -v pytest)\" tests/umockdev`; a plain `pytest` "
                "runs it that way through tests/test_umockdev_tier.py")
    return None


_PACKAGES = _missing_packages()
_PRELOAD = _not_preloaded()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.umockdev)


def _require_umockdev() -> None:
    """Skip (or, with CI=true and packages missing, fail) when the tier cannot run."""
    if _PACKAGES is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the umockdev tier cannot run: {_PACKAGES}")
        pytest.skip(_PACKAGES)
    if _PRELOAD is not None:
        pytest.skip(_PRELOAD)


@pytest.fixture(autouse=True)
def _umockdev_available() -> None:
    _require_umockdev()


@pytest.fixture(scope="session")
def helpers() -> Any:
    """The helper modules (imported only once the environment is known to be usable)."""
    _require_umockdev()  # session fixtures run before the autouse check
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # importlib mode: helpers are loaded as top-level
    import fake_bus
    import umockdev_support

    assert fake_bus.FakeBus is not None
    return umockdev_support


@pytest.fixture(scope="session")
def bus_session(helpers: Any) -> Iterator[Any]:
    import fake_bus

    bus = fake_bus.FakeBus()
    yield bus
    bus.clear()


@pytest.fixture
def bus(bus_session: Any) -> Iterator[Any]:
    """The fake bus, emptied after every test (device numbers keep counting up)."""
    yield bus_session
    bus_session.clear()


@pytest.fixture
def pipe(helpers: Any) -> Callable[..., Any]:
    """``pipe(scenario="kmemdump", serial=..., max_packet=512, ports=(2,), **usb)``."""
    return helpers.make_pipe  # type: ignore[no-any-return]


@pytest.fixture
def backend(helpers: Any) -> Callable[[], Any]:
    """``backend()``: a fresh libusb context (sees the devices plugged so far)."""
    return helpers.fresh_backend  # type: ignore[no-any-return]


@pytest.fixture
def replugger(bus: Any) -> Iterator[Any]:
    """Re-enumerates devices that dropped off the bus by themselves (disconnect fault)."""
    stop = threading.Event()
    replugs: list[str] = []

    def watch() -> None:
        while not stop.is_set():
            for p in list(bus.plugged):
                model = p.pipe.model
                if p.pipe.unplugged and getattr(model, "unplugged", False) and \
                        not getattr(model, "rebooted", False):
                    time.sleep(0.3)  # off the bus while it re-enumerates
                    bus.replug(p)
                    replugs.append(p.usb_path)
            stop.wait(0.01)

    thread = threading.Thread(target=watch, name="umockdev-replugger", daemon=True)
    thread.start()
    yield replugs
    stop.set()
    thread.join(5)
