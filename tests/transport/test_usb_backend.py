"""libusb backend resolution (docs/protocol.md#choosing-the-libusb-backend).

pyusb's libusb1 backend is a process-wide singleton, so the choices that load a library
are checked in fresh interpreter processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qdlpy.errors import BackendUnavailable
from qdlpy.simulator.pyusb_backend import FakeBackend, plug_from_environment
from qdlpy.transport import usb_backend

_PROBE = (
    "import json; from qdlpy.transport import usb_backend as u\n"
    "try:\n"
    "    print(json.dumps(u.backend_info().to_dict()))\n"
    "except Exception as e:\n"
    "    print(json.dumps({'error': type(e).__name__, 'message': str(e)}))\n"
)


def _probe(**env: str) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("QDLPY_")}
    full.update(env)
    out = subprocess.run([sys.executable, "-P", "-c", _PROBE], env=full, capture_output=True,
                         text=True, check=True, timeout=60)
    result: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _have_system_libusb() -> bool:
    import ctypes.util

    return ctypes.util.find_library("usb-1.0") is not None


def test_sim_env_alone_changes_nothing_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production chooser never looks at QDLPY_USB_SIM: only the simulator plugs it."""
    monkeypatch.setenv("QDLPY_USB_SIM", "fulldump?size=1M")
    monkeypatch.setenv("QDLPY_LIBUSB", "/nonexistent/libusb-1.0.so.0")
    with pytest.raises(BackendUnavailable):
        usb_backend.get_backend()


def test_the_simulator_plugs_its_backend_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDLPY_USB_SIM", "fulldump?size=1M,fulldump?size=1M")
    assert plug_from_environment()
    backend = usb_backend.get_backend()
    assert isinstance(backend, FakeBackend) and len(backend.devices) == 2
    assert usb_backend.get_backend() is backend  # resolved once
    info = usb_backend.backend_info()
    assert info.kind == "sim" and "fulldump" in info.reason


def test_missing_path_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDLPY_LIBUSB", "/nonexistent/libusb-1.0.so.0")
    with pytest.raises(BackendUnavailable) as info:
        usb_backend.get_backend()
    assert info.value.exit_code == 1 and "no such file" in str(info.value)


@pytest.mark.skipif(not _have_system_libusb(), reason="no system libusb-1.0 installed")
def test_default_is_system_libusb_with_version() -> None:
    info = _probe()
    assert info["kind"] == "system", info
    assert os.path.isabs(info["library"]) and "libusb-1.0" in info["library"]
    assert info["version"] and info["version"].startswith("1.0.")


def test_bundled_choice_loads_libusb_package() -> None:
    pytest.importorskip("libusb_package", reason="libusb-package not installed")
    info = _probe(QDLPY_LIBUSB="bundled")
    assert info.get("kind") == "bundled", info
    assert "libusb_package" in info["library"]


def test_explicit_path(tmp_path: object) -> None:
    libusb_package = pytest.importorskip("libusb_package", reason="libusb-package not installed")
    path = str(libusb_package.find_library("usb-1.0"))
    info = _probe(QDLPY_LIBUSB=path)
    assert info.get("kind") == "path", info
    assert os.path.realpath(info["library"]) == os.path.realpath(path)


def test_unloadable_file_is_backend_unavailable(tmp_path: os.PathLike[str]) -> None:
    bogus = os.path.join(os.fspath(tmp_path), "libusb-1.0.so.0")
    with open(bogus, "wb") as f:
        f.write(b"not an ELF")
    info = _probe(QDLPY_LIBUSB=bogus)
    assert info.get("error") == "BackendUnavailable", info


@pytest.mark.skipif(not _have_system_libusb(), reason="no system libusb-1.0 installed")
def test_fresh_context_uses_pyusb_private_api() -> None:
    # Pins the one private pyusb API qdlpy relies on (usb.backend.libusb1._LibUSB):
    # a pyusb upgrade that renames it fails here, not in a user's --wait.
    import usb.core
    from usb.backend import libusb1

    assert hasattr(libusb1, "_LibUSB")
    backend = usb_backend.get_backend()
    fresh = usb_backend.fresh_context(backend)
    assert fresh is not backend and isinstance(fresh, libusb1._LibUSB)
    assert fresh.lib is backend.lib  # same library, new context
    list(usb.core.find(find_all=True, backend=fresh))  # the new context enumerates


def test_fresh_context_leaves_other_backends_alone() -> None:
    fake = FakeBackend([])
    assert usb_backend.fresh_context(fake) is fake
