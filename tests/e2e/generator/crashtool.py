"""Step 1 (tools), continued: a crash that reads the cores of the guest's architecture.

Debian builds crash for one target, the architecture it is built for: the host's own
``crash`` package reads cores of the host's architecture only (on amd64 an arm64 core gets
"machine type mismatch"). For the other architecture, Debian's crash build *of that
architecture* is fetched with ``apt-get download crash:<arch>``, unpacked with ``dpkg -x``
into the cache (nothing is installed from it) and run under qemu-user
(``qemu-aarch64-static -L / .../usr/bin/crash``), with that architecture's shared libraries
installed through dpkg multiarch. Its ``log`` on the arm64 dump takes seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from .arch import ArchSpec
from .errors import GeneratorError, MissingTool
from .packages import (
    apt_install,
    candidate_version,
    download_debs,
    enable_command,
    ensure_foreign_arch,
    host_deb_arch,
    is_root,
)
from .proc import run

__all__ = ["crash_command", "RUNTIME_LIBRARIES"]

log = logging.getLogger("qdlpy.e2e")

STEP = "tools"
#: What Debian's crash binary links against (`apt-cache depends crash`), for its own arch.
RUNTIME_LIBRARIES = ("libc6", "libgcc-s1", "liblzo2-2", "libncursesw6", "libsnappy1v5",
                     "libstdc++6", "libtinfo6", "libzstd1", "zlib1g")


def crash_command(arch: ArchSpec, cache: Path, *, allow_install: bool = True) -> list[str]:
    """The argv prefix that runs a crash reading ``arch`` cores (then ``-s``, flags, files).

    Native: Debian's ``crash`` (ensure_host_tools installed it). Foreign: crash:<deb_arch>
    unpacked under ``cache/tools`` and run by qemu-user; raises MissingTool when its
    libraries are missing and cannot be installed here."""
    if arch.deb_arch == host_deb_arch():
        return ["crash"]
    _ensure_libraries(arch, allow_install)
    return [arch.qemu_user_binary, "-L", "/", str(_unpacked_crash(arch, cache))]


def _ensure_libraries(arch: ArchSpec, allow_install: bool) -> None:
    ensure_foreign_arch(arch)
    wanted = [f"{lib}:{arch.deb_arch}" for lib in RUNTIME_LIBRARIES]
    missing = [pkg for pkg in wanted if not _installed(pkg)]
    if not missing:
        return
    if not (allow_install and is_root()):
        raise MissingTool(STEP, f"missing Debian packages for crash:{arch.deb_arch}: "
                                f"{' '.join(missing)}", enable_command=enable_command(arch))
    apt_install(STEP, missing)


def _installed(pkg: str) -> bool:
    proc = run(STEP, ["dpkg-query", "-W", "-f=${Status}", pkg], timeout=60, check=False)
    # "install ok installed"; a removed package says "... not-installed" or "config-files"
    return proc.returncode == 0 and proc.stdout.split()[-1:] == ["installed"]


def _unpacked_crash(arch: ArchSpec, cache: Path) -> Path:
    """``cache/tools/crash_<version>_<arch>/usr/bin/crash``, fetched once per version."""
    version = candidate_version(f"crash:{arch.deb_arch}")
    if version is None:
        raise GeneratorError(STEP, f"apt-cache has no candidate for crash:{arch.deb_arch}",
                             hint=f"run apt-get update after `dpkg --add-architecture "
                                  f"{arch.deb_arch}`")
    tools = cache / "tools"
    root = tools / f"crash_{version.replace(':', '%3a')}_{arch.deb_arch}"
    binary = root / "usr" / "bin" / "crash"
    if binary.is_file():
        return binary
    debs, _ = download_debs(arch, ["crash"], cache / "debs" / arch.deb_arch)
    unpacking = root.with_name(root.name + ".unpack")
    shutil.rmtree(unpacking, ignore_errors=True)
    tools.mkdir(parents=True, exist_ok=True)
    run(STEP, ["dpkg-deb", "-x", str(debs["crash"]), str(unpacking)], timeout=300)
    if not (unpacking / "usr" / "bin" / "crash").is_file():
        raise GeneratorError(STEP, f"{debs['crash'].name} holds no usr/bin/crash")
    os.replace(unpacking, root)
    debs["crash"].unlink()
    for old in tools.glob(f"crash_*_{arch.deb_arch}"):
        if old != root:
            log.info("cache: removing old %s", old)
            shutil.rmtree(old, ignore_errors=True)
    _check_runs(arch, binary)
    return binary


def _check_runs(arch: ArchSpec, binary: Path) -> None:
    """A crash that cannot start under qemu-user says why here, not in every test."""
    argv = [arch.qemu_user_binary, "-L", "/", str(binary), "--version"]
    proc = run(STEP, argv, timeout=120, check=False)
    if proc.returncode != 0:
        raise GeneratorError(STEP, f"`{' '.join(argv)}` exited {proc.returncode}: "
                                   f"{(proc.stderr or proc.stdout)[-2000:].strip()}")
