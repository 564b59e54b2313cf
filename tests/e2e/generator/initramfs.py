"""A busybox initramfs whose /init leaves the facts the tests assert in kernel memory.

The cpio (``newc``) archive is written here directly: the format is a 110-byte ASCII header
per entry, which avoids needing a ``cpio`` binary (Debian's minimal images lack one) and lets
the archive hold a /dev/console node without root.
"""

from __future__ import annotations

import gzip
import stat

from .errors import GeneratorError

__all__ = ["HOSTNAME", "READY_LINE", "VMCOREINFO_PREFIX", "init_script", "build_initramfs"]

HOSTNAME = "qdlpy-e2e"
READY_LINE = "QDLPY-READY"
VMCOREINFO_PREFIX = "QDLPY-VMCOREINFO:"


def init_script(marker: str) -> str:
    """/init: mount, set the hostname, log the marker through printk, report, then idle.

    /sys/kernel/vmcoreinfo prints "<physical address of the VMCOREINFO note> <note size>"
    in hex; the generator finds vmcoreinfo through it on every architecture.
    """
    if "'" in marker or "\n" in marker:
        raise GeneratorError("initramfs", f"marker must be one line without quotes: {marker!r}")
    return f"""#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs devtmpfs /dev
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B hostname {HOSTNAME}
echo '{marker}' > /dev/kmsg
echo "{VMCOREINFO_PREFIX} $($B cat /sys/kernel/vmcoreinfo)"
echo "{READY_LINE}"
while true; do $B sleep 3600; done
"""


def _entry(name: str, mode: int, data: bytes = b"", ino: int = 0,
           rdev: tuple[int, int] = (0, 0)) -> bytes:
    namez = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(namez), 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = head + namez
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(busybox: bytes, marker: str) -> bytes:
    """gzip-compressed newc archive: /bin/busybox, /init, /dev/console and mount points."""
    d = stat.S_IFDIR | 0o755
    entries = [
        _entry("bin", d, ino=1),
        _entry("dev", d, ino=2),
        _entry("proc", d, ino=3),
        _entry("sys", d, ino=4),
        _entry("dev/console", stat.S_IFCHR | 0o600, ino=5, rdev=(5, 1)),
        _entry("bin/busybox", stat.S_IFREG | 0o755, busybox, ino=6),
        _entry("init", stat.S_IFREG | 0o755, init_script(marker).encode(), ino=7),
        _entry("TRAILER!!!", 0),
    ]
    return gzip.compress(b"".join(entries), compresslevel=1, mtime=0)
