"""The vmcoreinfo descriptor: ``KEY=value`` lines, NUL padded
(docs/formats.md#the-vmcoreinfo-region)."""

from __future__ import annotations

__all__ = ["parse_vmcoreinfo", "looks_like_vmcoreinfo", "kernel_facts"]

MAGIC = b"OSRELEASE="  # every vmcoreinfo starts with it (crash_save_vmcoreinfo_init)


def looks_like_vmcoreinfo(data: bytes) -> bool:
    return data.startswith(MAGIC)


def parse_vmcoreinfo(data: bytes, *, limit: int = 1024) -> dict[str, str]:
    """Keys in order of appearance; stops at the first NUL (padding or crash-time junk)."""
    text = data.split(b"\0", 1)[0].decode("ascii", errors="replace")
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and len(out) < limit:
            out.setdefault(key.strip(), value.strip())
    return out


def _num(text: str | None, base: int) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def kernel_facts(keys: dict[str, str]) -> tuple[str | None, int | None, int | None]:
    """(OSRELEASE, KERNELOFFSET, PAGESIZE); KERNELOFFSET is hex without 0x in the kernel."""
    return keys.get("OSRELEASE"), _num(keys.get("KERNELOFFSET"), 16), _num(keys.get("PAGESIZE"), 10)
