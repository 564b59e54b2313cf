"""Step 1: find or install the host tools, download and unpack the guest kernel.

Kernel packages are fetched with ``apt-get download`` and only the needed members are
unpacked with ``dpkg-deb --fsys-tarfile | tar -x`` (docs/testing.md#kernel-packages: installing the
image would run bootloader hooks; unpacking only vmlinux takes seconds). Everything lands
in a cache directory so that a second run downloads nothing.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .arch import ArchSpec
from .errors import GeneratorError, MissingTool
from .proc import run

__all__ = ["KernelFiles", "ensure_host_tools", "fetch_kernel", "enable_command", "tool_versions",
           "apt_install", "candidate_version", "download_debs", "ensure_foreign_arch",
           "host_deb_arch", "is_root"]

log = logging.getLogger("qdlpy.e2e")

APT_TIMEOUT = 900.0
PYTHON_MODULES = {"drgn": "drgn", "elftools": "pyelftools"}  # import name -> PyPI name


def enable_command(arch: ArchSpec) -> str:
    """The command that installs this tier's Debian packages (and adds the foreign arch)."""
    return f"sudo tests/e2e/prepare.sh {arch.name}"


def pip_command() -> str:
    return f"{sys.executable} -m pip install {' '.join(PYTHON_MODULES.values())}"


def is_root() -> bool:
    return os.geteuid() == 0


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def host_packages(arch: ArchSpec) -> dict[str, str]:
    """Binary -> Debian package providing it, for the host side of ``arch``."""
    need = {
        arch.qemu_binary: arch.qemu_package,
        arch.gdb_binary: arch.gdb_package,
        "dpkg-deb": "dpkg",
        "tar": "tar",
        "apt-get": "apt",
    }
    if arch.deb_arch == host_deb_arch():
        need["crash"] = "crash"  # Debian builds crash for its own architecture's cores only
    else:
        need[arch.qemu_user_binary] = "qemu-user-static"  # runs crash:<arch> (crashtool.py)
    return need


def host_deb_arch() -> str:
    """The Debian architecture of this machine (``amd64``)."""
    return run("tools", ["dpkg", "--print-architecture"], timeout=30).stdout.strip()


def ensure_host_tools(arch: ArchSpec, *, allow_install: bool = True) -> None:
    """Install (as root) or find qemu, gdb, crash, drgn and pyelftools; else MissingTool."""
    step = "tools"
    missing = sorted({pkg for binary, pkg in host_packages(arch).items()
                      if not shutil.which(binary)})
    if missing:
        if not (allow_install and is_root()):
            raise MissingTool(step, f"missing Debian packages: {' '.join(missing)}",
                              enable_command=enable_command(arch))
        apt_install(step, missing)
    py_missing = [pypi for mod, pypi in PYTHON_MODULES.items()
                  if importlib.util.find_spec(mod) is None]
    if py_missing:
        in_venv = sys.prefix != sys.base_prefix
        if not (allow_install and (in_venv or is_root())):
            raise MissingTool(step, f"missing Python packages: {' '.join(py_missing)}",
                              enable_command=pip_command())
        run(step, [sys.executable, "-m", "pip", "install", "-q", *py_missing], timeout=APT_TIMEOUT)
        importlib.invalidate_caches()


def apt_install(step: str, packages: list[str]) -> None:
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    proc = run(step, argv, timeout=APT_TIMEOUT, env=_apt_env(), check=False)
    if proc.returncode != 0:  # stale or empty package lists: refresh once, then insist
        run(step, ["apt-get", "update", "-q"], timeout=APT_TIMEOUT, env=_apt_env())
        run(step, argv, timeout=APT_TIMEOUT, env=_apt_env())


def tool_versions(arch: ArchSpec, crash: list[str]) -> dict[str, str]:
    """First version line of every tool the tier uses (for expected.json and reports);
    ``crash`` is the command that runs crash for ``arch`` (crashtool.crash_command)."""
    out: dict[str, str] = {}
    cmds = {"qemu": [arch.qemu_binary, "--version"], "gdb": [arch.gdb_binary, "--version"],
            "crash": [*crash, "--version"]}
    for name, argv in cmds.items():
        proc = run("tools", argv, timeout=60, check=False)
        lines = [ln.strip() for ln in (proc.stdout or proc.stderr).splitlines() if ln.strip()]
        out[name] = lines[0] if lines else f"exit {proc.returncode}"
    for mod in PYTHON_MODULES:
        spec = importlib.util.find_spec(mod)
        if spec is not None:
            module = __import__(mod)
            out[mod] = str(getattr(module, "__version__", "?"))
    return out


# ---------------------------------------------------------------------------------------
# kernel packages


@dataclasses.dataclass(frozen=True)
class KernelFiles:
    abi: str  # "6.1.0-56-cloud-amd64": the uname -r of the guest
    image_package: str
    package_version: str
    vmlinuz: Path
    vmlinux: Path
    busybox: Path
    downloaded_bytes: int  # 0 on a warm cache


def ensure_foreign_arch(arch: ArchSpec) -> None:
    if arch.deb_arch == host_deb_arch():
        return
    foreign = run("packages", ["dpkg", "--print-foreign-architectures"], timeout=30).stdout.split()
    if arch.deb_arch in foreign:
        return
    if not is_root():
        raise MissingTool("packages", f"dpkg does not know architecture {arch.deb_arch}",
                          enable_command=enable_command(arch))
    # For `apt-get download` of the kernel and crash, and for the shared libraries crash of
    # this architecture needs under qemu-user (crashtool.py).
    run("packages", ["dpkg", "--add-architecture", arch.deb_arch], timeout=60)
    run("packages", ["apt-get", "update", "-q"], timeout=APT_TIMEOUT, env=_apt_env())


def candidate_version(pkg: str) -> str | None:
    proc = run("packages", ["apt-cache", "show", "--no-all-versions", pkg], timeout=60, check=False)
    m = re.search(r"^Version: (\S+)", proc.stdout, re.MULTILINE)
    return m.group(1) if proc.returncode == 0 and m else None


def _resolve_image_package(arch: ArchSpec) -> str:
    """The versioned image package the metapackage currently depends on."""
    meta = f"{arch.kernel_meta}:{arch.deb_arch}"
    if candidate_version(meta) is None:  # package lists never fetched or too old
        if not is_root():
            raise MissingTool("packages", f"apt-cache does not know {meta}",
                              enable_command=enable_command(arch))
        run("packages", ["apt-get", "update", "-q"], timeout=APT_TIMEOUT, env=_apt_env())
        if candidate_version(meta) is None:
            raise GeneratorError("packages",
                                 f"no installable candidate for {meta} after apt-get update")
    deps = run("packages", ["apt-cache", "depends", meta], timeout=60).stdout
    pattern = rf"Depends: (linux-image-\d[^\s:]*{re.escape(arch.kernel_flavour_suffix)})\b"
    m = re.search(pattern, deps)
    if not m:
        raise GeneratorError("packages", f"{meta} depends on no versioned linux-image: {deps!r}")
    return m.group(1)


def _deb_name(pkg: str, version: str, deb_arch: str) -> str:
    return f"{pkg}_{version.replace(':', '%3a')}_{deb_arch}.deb"  # as apt-get download names it


def download_debs(arch: ArchSpec, pkgs: list[str], debs: Path) -> tuple[dict[str, Path], int]:
    debs.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    todo: list[str] = []
    for pkg in pkgs:
        qualified = f"{pkg}:{arch.deb_arch}"
        version = candidate_version(qualified)
        if version is None:
            raise GeneratorError("packages", f"apt-cache has no candidate for {qualified}")
        paths[pkg] = debs / _deb_name(pkg, version, arch.deb_arch)
        if not paths[pkg].is_file():
            todo.append(qualified)
    if todo:
        run("packages", ["apt-get", "download", "-q", *todo], timeout=APT_TIMEOUT, cwd=debs)
    for pkg, path in paths.items():
        if not path.is_file():
            raise GeneratorError("packages",
                                 f"apt-get download did not produce {path.name} ({pkg})")
    downloaded = sum(paths[p.split(":")[0]].stat().st_size for p in todo)
    return paths, downloaded


def _extract_member(deb: Path, member: str, dest: Path, timeout: float = 300.0) -> None:
    """Unpack one member. tar stops at the first occurrence (4 s instead of 12 s for the
    590 MB vmlinux), which breaks dpkg-deb's pipe: only tar's status counts."""
    if dest.is_file() and dest.stat().st_size > 0:
        return
    tmp = dest.parent / f".{dest.name}.unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert dpkg.stdout is not None
    try:
        tar = subprocess.Popen(["tar", "-x", "-C", str(tmp), "--occurrence=1", member],
                               stdin=dpkg.stdout, stderr=subprocess.PIPE, text=True)
        dpkg.stdout.close()
        try:
            _, err = tar.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            tar.kill()
            tar.wait()
            raise GeneratorError("extract", f"unpacking {member} from {deb.name} timed out") from e
    finally:
        dpkg.kill()
        dpkg.wait()
    src = tmp / member
    if tar.returncode != 0 or not src.is_file():
        raise GeneratorError("extract", f"{member} not unpacked from {deb.name}: {err.strip()}")
    os.replace(src, dest)
    shutil.rmtree(tmp, ignore_errors=True)


def _prune(arch_dir: Path, abi: str) -> None:
    """Drop unpacked trees of older kernel ABIs (the dbg vmlinux alone is 300-600 MB)."""
    for old in arch_dir.iterdir():
        if old.is_dir() and old.name not in (abi, "out", "out.tmp", "work"):
            log.info("cache: removing old %s", old)
            shutil.rmtree(old, ignore_errors=True)


def fetch_kernel(arch: ArchSpec, cache: Path) -> KernelFiles:
    """Download the current kernel image, its -dbg package and busybox-static for ``arch``
    and unpack vmlinuz, vmlinux and busybox into ``cache/<arch>/<abi>/``. When those three
    files are there already, nothing is downloaded; the .debs are deleted once unpacked."""
    ensure_foreign_arch(arch)
    image_pkg = _resolve_image_package(arch)
    abi = image_pkg.removeprefix("linux-image-")
    dbg_pkg = f"{image_pkg}-dbg"
    arch_dir = cache / arch.name
    kdir = arch_dir / abi
    kdir.mkdir(parents=True, exist_ok=True)
    _prune(arch_dir, abi)
    files = {"vmlinuz": kdir / f"vmlinuz-{abi}", "vmlinux": kdir / f"vmlinux-{abi}",
             "busybox": kdir / "busybox"}
    version_file = kdir / "package-version"
    downloaded = 0
    wanted = candidate_version(f"{image_pkg}:{arch.deb_arch}")
    cached = version_file.read_text().strip() if version_file.is_file() else None
    if cached != wanted or not all(f.is_file() for f in files.values()):
        for f in (*files.values(), version_file):  # same ABI, new upload: unpack afresh
            f.unlink(missing_ok=True)
        debs, downloaded = download_debs(arch, [image_pkg, dbg_pkg, "busybox-static"],
                                     cache / "debs" / arch.deb_arch)
        _extract_member(debs[image_pkg], f"./boot/vmlinuz-{abi}", files["vmlinuz"])
        _extract_member(debs[dbg_pkg], f"./usr/lib/debug/boot/vmlinux-{abi}", files["vmlinux"])
        _extract_member(debs["busybox-static"], "./bin/busybox", files["busybox"])
        files["busybox"].chmod(0o755)
        version_file.write_text(debs[image_pkg].name.split("_")[1].replace("%3a", ":") + "\n")
        for deb in debs.values():
            deb.unlink()
    return KernelFiles(abi=abi, image_package=image_pkg,
                       package_version=version_file.read_text().strip(),
                       vmlinuz=files["vmlinuz"], vmlinux=files["vmlinux"],
                       busybox=files["busybox"], downloaded_bytes=downloaded)
