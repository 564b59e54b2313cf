"""``kmemdump``: a Linux kmemdump/meminspect minidump, byte-accurate
(docs/testing.md#synthetic-kmemdump-region-sets).

The table lists the kernel's md_K regions in SMEM order, then another subsystem's region
and XBL's MD_ items, then load.cmm, as a real minidump-mode XBL does (docs/formats.md#table-order).

Parameters: ``arch=arm64|x86_64`` (Debian's crash reads x86_64 cores),
``numbering=kmemdump|meminspect``, ``order=shuffled`` (table order != id order),
``reregister=ID`` (PT_LOAD order != id order), ``misaligned=1``, ``long_names=1``,
``corrupt_notes=1``, ``encrypted=1``, ``downstream=1`` (md_KELF_HEADER style),
``printk=lockless|legacy`` (the log: the 5.10+ ring, or an older kernel's log_buf),
``extra=SIZE[,SIZE...]`` (more dynamic regions, e.g. for benchmarks).
"""

from __future__ import annotations

from qdlpy.errors import InvalidArgument
from qdlpy.simulator import kmemdump_image as ki
from qdlpy.simulator.faults import Faults
from qdlpy.units import parse_size

from .common import SimRegion, memory_debug_personality
from .registry import ScenarioBuild

FLAGS = ("misaligned", "long_names", "corrupt_notes", "encrypted")


def kernel_set(params: dict[str, str]) -> ki.KmemdumpSet:
    """The region set the parameters describe (also used by the pull tests to know what the
    device serves)."""
    arch = params.pop("arch", "arm64")
    if arch not in ("arm64", "x86_64"):
        raise InvalidArgument(f"kmemdump: arch must be arm64 or x86_64, not {arch!r}")
    printk = params.pop("printk", "lockless")
    if printk not in ("lockless", "legacy"):
        raise InvalidArgument("kmemdump: printk must be lockless or legacy")
    if params.pop("downstream", "0") not in ("0", ""):
        kset = ki.build_downstream(arch, printk=printk)
    else:
        numbering = params.pop("numbering", "kmemdump")
        if numbering not in ("kmemdump", "meminspect"):
            raise InvalidArgument("kmemdump: numbering must be kmemdump or meminspect")
        rereg = params.pop("reregister", None)
        extra = [parse_size(s) for s in params.pop("extra", "").split(",") if s]
        flags = {f: params.pop(f, "0") not in ("0", "") for f in FLAGS}
        kset = ki.build(arch, numbering=numbering,  # type: ignore[arg-type]
                        reregister=int(rereg) if rereg else None, extra_dynamic=extra,
                        printk=printk, **flags)
    order = params.pop("order", "smem")
    if order == "shuffled":
        kset = kset.shuffled()
    elif order != "smem":
        raise InvalidArgument("kmemdump: order must be smem or shuffled")
    return kset


def build(params: dict[str, str], faults: Faults) -> ScenarioBuild:
    kset = kernel_set(params)
    rows = kset.table(with_load_cmm=False)
    regions = [SimRegion(r.description, r.filename, r.base, r.length, data=r.data,
                         save_pref=r.save_pref) for r in rows]
    personality, script = memory_debug_personality(regions, faults)
    return ScenarioBuild(personality, script)
