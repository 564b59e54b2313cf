"""Step 3b: the kmemdump coreimage ELF header region (``md_KELF1.BIN``) for the regions cut
from guest memory, built by the same independent builder as the default tier's oracle
(tests/oracle/kelf.py, which documents the layout). PT_LOAD offsets start at ``H + N`` and
are contiguous in slot (= ascending id) order.
"""

from __future__ import annotations

from collections.abc import Sequence

from oracle.kelf import KelfLayout, Slot, layout
from oracle.kelf import build_kelf as build_header

from .arch import ArchSpec
from .errors import GeneratorError
from .regions import Region, align4

__all__ = ["KelfLayout", "build_kelf"]


def build_kelf(arch: ArchSpec, vmcoreinfo_len: int, regions: Sequence[Region],
               cmdline: str) -> tuple[bytes, KelfLayout]:
    """The KELF region for ``regions`` (PT_LOADs in the given order) and its layout."""
    slots = [Slot(r.pa, r.va, align4(r.size)) for r in regions]
    try:
        kelf = build_header(arch.e_machine, arch.prstatus_size, vmcoreinfo_len, slots,
                            cmdline.encode())
        return kelf, layout(arch.prstatus_size, vmcoreinfo_len)
    except ValueError as e:
        raise GeneratorError("kelf", str(e)) from e
