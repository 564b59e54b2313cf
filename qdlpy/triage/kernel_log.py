"""Which log a dump holds, read with the right reader.

Order (docs/triage.md#formats-read): VMCOREINFO's lockless ring (``SYMBOL(prb)``), else its
record ``log_buf`` (``SYMBOL(log_first_idx)``); the vendor regions when there is no
VMCOREINFO or its structures are not in the dump. Errors name the missing key or region.
"""

from __future__ import annotations

from .errors import MissingKey, MissingRegion, NoLog
from .legacy import read_legacy
from .locate import legacy_buffer, lockless_ring
from .lockless import read_ring
from .records import LogRead
from .target import Dump
from .vendor import has_vendor_log, read_vendor

__all__ = ["read_log"]


def _from_vmcoreinfo(dump: Dump) -> LogRead:
    vi, mem = dump.vmcoreinfo, dump.memory
    assert vi is not None and mem is not None
    release = vi.osrelease or "unknown release"
    warnings: list[str] = []
    if vi.has_symbol("prb"):
        ring = lockless_ring(mem, vi, warnings)
        out = LogRead("lockless", f"lockless printk ring described by VMCOREINFO ({release}): "
                      f"{ring.count} descriptors, {ring.data_size}-byte text ring")
        out.warnings += warnings
        read_ring(ring, out)
        return out
    if vi.has_symbol("log_first_idx") or vi.has_symbol("log_buf"):
        buf = legacy_buffer(mem, vi, warnings)
        out = LogRead("log_buf", f"log_buf records described by VMCOREINFO ({release}): "
                      f"{buf.data.length}-byte buffer, {buf.header_size}-byte record headers")
        out.warnings += warnings
        read_legacy(buf, out)
        return out
    raise MissingKey("VMCOREINFO has neither SYMBOL(prb) (the lockless printk ring) nor "
                     "SYMBOL(log_buf) (the older log buffer)")


def read_log(dump: Dump) -> LogRead:
    """The dump's kernel log; MissingKey / MissingRegion / NoLog when it cannot be read."""
    if dump.vmcoreinfo is not None and dump.memory is not None:
        try:
            return _from_vmcoreinfo(dump)
        except (MissingKey, MissingRegion) as exc:
            if not has_vendor_log(dump):
                raise
            out = read_vendor(dump)
            out.warnings.insert(0, f"{exc.message}; read the vendor log regions instead")
            return out
    if has_vendor_log(dump):
        return read_vendor(dump)
    if dump.core is not None:
        raise MissingRegion("the dump has no VMCOREINFO (the vmcoreinfo region, md_Kvmcorein2, "
                            "is missing or empty) and no vendor log regions (md_KLOGBUF): "
                            "the log cannot be located without vmlinux")
    raise NoLog(f"{dump.path} has no kernel minidump header (md_KELF*) and no vendor log "
                "regions (md_KLOGBUF, md_LOG_DESC, md_LOG_INFO)")
