"""Which libusb qdlpy uses: resolved once per process, in ``get_backend()`` only.

pyusb's libusb1 backend is a process-wide singleton: whichever library is loaded first
wins, and a later ``find_library=`` has no effect (docs/protocol.md#choosing-the-libusb-backend). So
nothing else in qdlpy may call ``usb.backend.libusb1.get_backend()`` or
``libusb_package.get_libusb1_backend()``; everything goes through here.

Order (docs/protocol.md#choosing-the-libusb-backend):

1. A backend plugged in with ``plug_backend()``: the simulator's pyusb backend (the ``qdlpy``
   command plugs it when ``QDLPY_USB_SIM`` is set, see qdlpy.simulator.pyusb_backend), so
   tests and CLI subprocesses run the production USB transport without hardware. This
   module never imports the simulator: it is handed a factory.
2. ``QDLPY_LIBUSB`` = a path to a libusb-1.0 shared object, ``system`` or ``bundled``.
3. Default: the system libusb through pyusb's normal lookup, else libusb-package's
   bundled build (a udev-less libusb 1.0.x wheel, docs/protocol.md#choosing-the-libusb-backend).

``backend_info()`` tells ``qdlpy doctor`` what won (library path, libusb version, why), and
distinguishes "library not found" from "library loaded but libusb_init failed" (libusb
PR #1756: udev-less builds fail init without /dev/bus/usb).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from qdlpy.errors import BackendUnavailable

__all__ = [
    "BackendInfo",
    "get_backend",
    "backend_info",
    "fresh_context",
    "current_context",
    "bus_signature",
    "is_libusb",
    "reset_backend_cache",
    "plug_backend",
    "ENV_LIBUSB",
]

log = logging.getLogger(__name__)

ENV_LIBUSB = "QDLPY_LIBUSB"


@dataclasses.dataclass(frozen=True)
class BackendInfo:
    """What ``get_backend()`` chose, for ``qdlpy doctor`` and ``-v`` logs."""

    kind: str  # "system", "bundled", "path", or the kind a plugged backend declared ("sim")
    library: str | None  # the loaded shared object (absolute path when it can be found)
    version: str | None  # libusb_get_version(), e.g. "1.0.26.11724"
    reason: str  # why this one, e.g. "default: system libusb found by pyusb"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


_lock = threading.Lock()
_cached: tuple[Any, BackendInfo] | None = None
_plugged: tuple[Callable[[], Any], BackendInfo] | None = None


def get_backend() -> Any:
    """The pyusb backend for this process (resolved on first call, then cached)."""
    return _resolve()[0]


def backend_info() -> BackendInfo:
    """How the backend was chosen (resolves it if nobody has yet)."""
    return _resolve()[1]


def plug_backend(factory: Callable[[], Any], *, kind: str, reason: str) -> None:
    """Use the pyusb backend ``factory()`` builds (on first use) instead of any libusb.

    For backends that are not a libusb, such as the simulator's; ``kind`` and ``reason``
    are what ``backend_info()`` (and ``qdlpy doctor``) will report.
    """
    global _cached, _plugged
    with _lock:
        _plugged = (factory, BackendInfo(kind, None, None, reason))
        _cached = None


def reset_backend_cache() -> None:
    """Forget the choice and any plugged backend (tests: pyusb's own singleton stays)."""
    global _cached, _plugged
    with _lock:
        _cached, _plugged = None, None


def _resolve() -> tuple[Any, BackendInfo]:
    global _cached
    with _lock:
        if _cached is None:
            sig = bus_signature()
            _cached = _choose()
            _remember(_cached[0], sig)
        return _cached


# -- staleness of a libusb context --------------------------------------------------------

SYSFS_USB = "/sys/bus/usb/devices"
_context_sigs: weakref.WeakKeyDictionary[Any, frozenset[str] | None] = (
    weakref.WeakKeyDictionary()
)


def bus_signature(root: str = SYSFS_USB) -> frozenset[str] | None:
    """A cheap fingerprint of the USB bus from sysfs (no libusb); None without sysfs.

    ``"1-2@7"``: device 1-2 has device number 7. A re-enumeration changes the number, an
    arrival or departure the set, so comparing fingerprints tells whether a libusb
    context created earlier may have missed something
    (docs/protocol.md#choosing-the-libusb-backend).
    """
    try:
        names = os.listdir(root)
    except OSError:
        return None
    sig = set()
    for name in names:
        if ":" in name:  # interfaces, not devices
            continue
        try:
            with open(os.path.join(root, name, "devnum"), encoding="ascii") as f:
                sig.add(f"{name}@{f.read().strip()}")
        except OSError:
            continue
    return frozenset(sig)


def _remember(backend: Any, sig: frozenset[str] | None) -> None:
    try:
        _context_sigs[backend] = sig
    except TypeError:  # not weak-referenceable: never considered fresh
        pass


def is_libusb(backend: Any) -> bool:
    """True for pyusb's libusb1 backend (whose context can go stale), not the simulator."""
    cls = getattr(_libusb1(), "_LibUSB", None)
    return cls is not None and isinstance(backend, cls)


def current_context(backend: Any) -> Any:
    """``backend``, or a fresh context on its library when the bus changed since it was made.

    Without sysfs there is no cheap way to tell, so a fresh context is made every time
    (it costs one bus scan, about what the enumeration that follows costs anyway).
    """
    if not is_libusb(backend):
        return backend
    sig = bus_signature()
    if sig is not None and backend in _context_sigs and _context_sigs[backend] == sig:
        return backend
    return fresh_context(backend)


def _choose() -> tuple[Any, BackendInfo]:
    if _plugged is not None:
        factory, info = _plugged
        return factory(), info
    choice = os.environ.get(ENV_LIBUSB, "").strip()
    if choice == "system":
        chosen = _system(f"{ENV_LIBUSB}=system", required=True)
        assert chosen is not None  # required=True raises instead of returning None
        return chosen
    if choice == "bundled":
        return _bundled(f"{ENV_LIBUSB}=bundled")
    if choice:
        return _from_path(choice)
    found = _system("default: system libusb found by pyusb", required=False)
    if found is not None:
        return found
    return _bundled("default: no system libusb, using libusb-package's bundled build")


def _libusb1() -> Any:
    from usb.backend import libusb1

    return libusb1


def _init_failed_text() -> str:
    """Why pyusb's get_backend() returned None: no library, or libusb_init failed."""
    lib = _libusb1()._lib
    if lib is not None:
        return (
            f"libusb was loaded from {_library_path(lib)} but libusb_init failed "
            "(no /dev/bus/usb in this container or WSL?)"
        )
    return "no libusb-1.0 shared library was found"


def _system(reason: str, *, required: bool) -> tuple[Any, BackendInfo] | None:
    libusb1 = _libusb1()
    backend = libusb1.get_backend()
    if backend is None:
        if required:
            raise BackendUnavailable(f"{ENV_LIBUSB}=system: {_init_failed_text()}")
        if libusb1._lib is not None:
            # The library loaded but could not initialise: the bundled one would share
            # pyusb's singleton state and fail the same way; say so now.
            raise BackendUnavailable(_init_failed_text())
        return None
    return backend, _info("system", backend, reason)


def _bundled(reason: str) -> tuple[Any, BackendInfo]:
    try:
        import libusb_package
    except ImportError as exc:
        raise BackendUnavailable(
            f"{reason}: libusb-package is not installed and no system libusb was found"
        ) from exc
    path = libusb_package.find_library("usb-1.0")
    if not path:
        raise BackendUnavailable(f"{reason}: libusb-package ships no library for this platform")
    return _load_path(str(path), "bundled", reason)


def _from_path(path: str) -> tuple[Any, BackendInfo]:
    if not os.path.exists(path):
        raise BackendUnavailable(f"{ENV_LIBUSB}={path}: no such file")
    return _load_path(path, "path", f"{ENV_LIBUSB}={path}")


def _load_path(path: str, kind: str, reason: str) -> tuple[Any, BackendInfo]:
    libusb1 = _libusb1()
    backend = libusb1.get_backend(find_library=lambda _name: path)
    if backend is None:
        raise BackendUnavailable(f"{reason}: {_init_failed_text()}")
    loaded = _library_path(libusb1._lib)
    if os.path.realpath(loaded) != os.path.realpath(path):
        # pyusb's singleton was already loaded with another library
        # (docs/protocol.md#choosing-the-libusb-backend).
        raise BackendUnavailable(
            f"{reason}: libusb was already loaded from {loaded} in this process; "
            "set the choice before anything touches USB"
        )
    return backend, _info(kind, backend, reason)


def _info(kind: str, backend: Any, reason: str) -> BackendInfo:
    lib = getattr(backend, "lib", None)
    return BackendInfo(kind, _library_path(lib), _libusb_version(lib), reason)


def _library_path(lib: Any) -> str:
    """Absolute path of a loaded ctypes library (``/proc/self/maps``), else its name."""
    name = str(getattr(lib, "_name", "") or "")
    if not name or os.path.isabs(name):
        return name
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith(name):
                    return parts[5].strip()
    except OSError:
        pass
    return name


class _LibusbVersion(ctypes.Structure):
    # struct libusb_version (libusb.h): major, minor, micro, nano, rc, describe.
    _fields_ = [
        ("major", ctypes.c_uint16),
        ("minor", ctypes.c_uint16),
        ("micro", ctypes.c_uint16),
        ("nano", ctypes.c_uint16),
        ("rc", ctypes.c_char_p),
        ("describe", ctypes.c_char_p),
    ]


def _libusb_version(lib: Any) -> str | None:
    if lib is None:
        return None
    try:
        fn = lib.libusb_get_version
        fn.restype = ctypes.POINTER(_LibusbVersion)
        fn.argtypes = []
        v = fn().contents
    except (AttributeError, ValueError, OSError):
        return None
    rc = (v.rc or b"").decode(errors="replace")
    return f"{v.major}.{v.minor}.{v.micro}.{v.nano}{rc}"


def fresh_context(backend: Any) -> Any:
    """A new libusb context on the same library, for a device that re-enumerated.

    pyusb keeps one libusb context per process; without hot-plug events (containers
    without uevents, udev-less libusb builds) its device list can go stale, so a board
    that re-enumerated would stay invisible (docs/protocol.md#choosing-the-libusb-backend). A fresh
    context rescans the bus. This is the one place qdlpy touches pyusb's private API
    (``usb.backend.libusb1._LibUSB``); tests/transport/test_usb_backend.py pins it.
    Backends that are not pyusb's libusb1 (the simulator) are returned unchanged.
    """
    libusb1 = _libusb1()
    cls = getattr(libusb1, "_LibUSB", None)
    if cls is None or not isinstance(backend, cls):
        return backend
    sig = bus_signature()
    try:
        fresh = cls(backend.lib)
    except Exception as exc:  # noqa: BLE001 - libusb_init failed: keep the old context
        log.debug("fresh libusb context failed (%s); keeping the process-wide one", exc)
        return backend
    _remember(fresh, sig)
    return fresh
