"""Which kernel crashed: release, version, machine, node name, build ID, banner.

Sources, best first: ``init_uts_ns`` (``SYMBOL(init_uts_ns)`` + ``OFFSET(uts_namespace.name)``,
else the region of that name), ``linux_banner`` (the downstream header's copy, the region,
or ``SYMBOL(linux_banner)``), VMCOREINFO (``OSRELEASE``, ``BUILD-ID``), the ELF header
(machine). ``struct new_utsname`` is six 65-byte strings: sysname, nodename, release,
version, machine, domainname.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .blob import Blob
from .target import Dump

__all__ = ["KernelIdentity", "identify", "parse_banner"]

_UTS_FIELD = 65
_UTS_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")
_BANNER = re.compile(r"Linux version (?P<release>\S+)(?P<rest>.*)")


@dataclasses.dataclass
class KernelIdentity:
    release: str | None = None
    version: str | None = None  # "#1 SMP PREEMPT ..." (UTS_VERSION)
    machine: str | None = None
    nodename: str | None = None
    banner: str | None = None
    build_id: str | None = None
    sources: list[str] = dataclasses.field(default_factory=list)  # where each fact came from

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_banner(text: str) -> tuple[str | None, str | None]:
    """(release, version) of a linux_banner: the version is UTS_VERSION, from its ``#``."""
    m = _BANNER.search(text)
    if not m:
        return None, None
    rest = m.group("rest")
    at = rest.find(" #")
    return m.group("release"), (rest[at + 1 :].strip() or None) if at >= 0 else None


def _uts_fields(raw: bytes) -> dict[str, str] | None:
    fields = {}
    for i, name in enumerate(_UTS_FIELDS):
        chunk = raw[i * _UTS_FIELD : (i + 1) * _UTS_FIELD]
        if len(chunk) < _UTS_FIELD:
            break
        text = chunk.split(b"\0", 1)[0]
        if any(c < 0x20 or c > 0x7E for c in text):
            return None
        fields[name] = text.decode("ascii")
    return fields if fields.get("sysname") == "Linux" else None


def _utsname(dump: Dump) -> tuple[dict[str, str] | None, str]:
    vi, mem = dump.vmcoreinfo, dump.memory
    size = _UTS_FIELD * len(_UTS_FIELDS)
    if vi is not None and mem is not None and vi.has_symbol("init_uts_ns"):
        off = vi.offset("uts_namespace.name") if "OFFSET(uts_namespace.name)" in vi else 0
        raw = mem.read(vi.symbol("init_uts_ns") + off, size)
        got = _uts_fields(raw) if raw is not None else None
        if got:
            return got, "init_uts_ns (VMCOREINFO)"
    reg = dump.region("init_uts_ns")
    if reg is not None:
        for off in (0, 4, 8):  # the name member moved to offset 0 in 4.x (kref before it)
            raw = reg.blob.get(off, min(size, reg.blob.length - off))
            got = _uts_fields(raw) if raw else None
            if got:
                return got, f"init_uts_ns ({reg.name})"
    return None, ""


def _banner_text(blob: Blob) -> str | None:
    """The banner string at the start of ``blob`` (what is there of it)."""
    first = blob.ranges()[:1]
    if not first or first[0][0] != 0:
        return None
    raw = blob.get(0, min(first[0][1], 512)) or b""
    text = raw.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
    return text if text.startswith("Linux version ") else None


def _banner(dump: Dump) -> tuple[str | None, str]:
    if dump.header_banner:
        return dump.header_banner, "linux_banner (kernel header)"
    reg = dump.region("linux_banner")
    text = _banner_text(reg.blob) if reg is not None else None
    if text and reg is not None:
        return text, f"linux_banner ({reg.name})"
    vi, mem = dump.vmcoreinfo, dump.memory
    if vi is not None and mem is not None and vi.has_symbol("linux_banner"):
        text = _banner_text(mem.blob(vi.symbol("linux_banner"), 512))
        if text:
            return text, "linux_banner (VMCOREINFO)"
    return None, ""


def identify(dump: Dump) -> KernelIdentity:
    ident = KernelIdentity()
    vi = dump.vmcoreinfo
    uts, uts_from = _utsname(dump)
    banner, banner_from = _banner(dump)
    if uts:
        ident.release, ident.version = uts.get("release"), uts.get("version")
        ident.machine, ident.nodename = uts.get("machine"), uts.get("nodename")
        ident.sources.append(uts_from)
    if banner:
        ident.banner = banner
        release, version = parse_banner(banner)
        ident.release = ident.release or release
        ident.version = ident.version or version
        ident.sources.append(banner_from)
    if vi is not None:
        ident.release = ident.release or vi.osrelease
        ident.build_id = vi.build_id
        ident.sources.append("VMCOREINFO")
    if ident.machine is None and dump.core is not None:
        ident.machine = dump.core.machine_name
        ident.sources.append("ELF header")
    return ident
