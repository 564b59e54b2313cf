"""The names boot firmware gives kernel minidump regions.

The kernel's Qualcomm backend registers each region under the SMEM name ``"K"`` plus the
first 8 characters of its name string, with ``seq_num`` = its id. Firmware builds the
table description as ``"md_" + name``, capped at 15 characters, then appends the decimal
``seq_num`` (when 0 < seq_num < 10000) under the same cap; the file name is the description
plus ``.BIN``. A backend with longer SMEM names therefore loses ids ("md_Kcpu_possibl").
"""

from __future__ import annotations

__all__ = ["DESC_MAX", "firmware_name", "kernel_region_name"]

DESC_MAX = 15


def firmware_name(smem_name: str, seq_num: int = 0) -> tuple[str, str]:
    """(description, file name) of an SMEM region."""
    desc = ("md_" + smem_name)[:DESC_MAX]
    if 0 < seq_num < 10000:
        desc = (desc + str(seq_num))[:DESC_MAX]
    return desc, desc + ".BIN"


def kernel_region_name(label: str, region_id: int, *, smem_chars: int = 8) -> tuple[str, str]:
    """(description, file name) of kernel region ``region_id`` named ``label`` by the
    backend; ``smem_chars`` is how much of the label the backend keeps (8 upstream)."""
    return firmware_name("K" + label[:smem_chars], region_id)
