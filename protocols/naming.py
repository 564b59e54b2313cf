"""What a region's Sahara name says about it.

Boot firmware builds minidump names as ``"md_" + smem_name (+ decimal seq_num if
0 < seq_num < 10000)``, capped at 15 characters, and the file name as that plus ``.BIN``
(docs/formats.md#how-boot-firmware-names-regions). The Linux kmemdump/meminspect backend uses
``smem_name = "K" + first 8 chars of the id's name`` and ``seq_num = id``
(docs/formats.md#the-qualcomm-backend, docs/formats.md#the-k-prefix-and-the-8-character-cut).
Firmware-added items use an upper-case ``MD_`` prefix (docs/formats.md#firmware-items), ``load.cmm``
is the T32 script XBL appends last (docs/formats.md#the-loadcmm-script), and everything else is a
full-dump region (docs/formats.md#full-dumps).
"""

from __future__ import annotations

import dataclasses
import enum
import re

__all__ = ["RegionKind", "RegionName", "parse_region_name", "firmware_name", "DESC_MAX"]

# firmware's 16-byte description buffer including the NUL
# (docs/formats.md#how-boot-firmware-names-regions)
DESC_MAX = 15
# 20-byte Sahara filename field including the NUL (docs/protocol.md#region-table-formats)
FILENAME_MAX = 19


class RegionKind(str, enum.Enum):
    """Classification of a table entry by its name (docs/formats.md#classifying-regions-by-name)."""

    KERNEL = "kernel"  # md_K...: registered by the Linux kernel (kmemdump/meminspect or downstream)
    FIRMWARE = "firmware"  # MD_...: added by XBL itself (SMEM info, PMIC PON, reset status...)
    SUBSYSTEM = "subsystem"  # other md_...: another subsystem's minidump region (modem, ADSP...)
    FULLDUMP = "fulldump"  # DDRCS0_0.BIN, OCIMEM.BIN, ...: raw physical memory of a full dump
    SCRIPT = "script"  # load.cmm


@dataclasses.dataclass(frozen=True)
class RegionName:
    """A region name split into its parts.

    ``name`` is the part between the prefix and the trailing id (``KELF`` for
    ``md_KELF1.BIN``, ``Kvmcorein`` for ``md_Kvmcorein2.BIN``); ``id`` is the trailing
    decimal number (the kernel region id for kmemdump) or None.
    """

    kind: RegionKind
    name: str
    id: int | None
    stem: str  # the name without ".BIN" (the table description in a clean table)

    @property
    def is_kernel_header(self) -> bool:
        """The kmemdump/meminspect ELF header region (md_KELF<id>,
        docs/formats.md#telling-full-dumps-and-minidumps-apart)."""
        return self.kind is RegionKind.KERNEL and self.name == "KELF" and self.id is not None

    @property
    def is_downstream_header(self) -> bool:
        """The downstream msm_minidump section-based header (md_KELF_HEADER / md_KELF_HDR)."""
        return self.kind is RegionKind.KERNEL and self.name in ("KELF_HEADER", "KELF_HDR")


_EXT = re.compile(r"\.bin$", re.IGNORECASE)
_TRAILING_ID = re.compile(r"^(?P<name>.*?)(?P<id>\d{1,4})$")
# Gunyah guest VMs put the VMID in hex before the name: md_2d_KELF_HDR
# (docs/formats.md#gunyah-guest-vms).
_VMID = re.compile(r"^[0-9a-f]{2}_(?=K)")


def parse_region_name(text: str) -> RegionName:
    """Classify a description or file name; never raises (names come from the device)."""
    stem = _EXT.sub("", text.strip())
    if stem.lower() == "load.cmm" or text.strip().lower() == "load.cmm":
        return RegionName(RegionKind.SCRIPT, "load.cmm", None, text.strip())
    if stem.startswith("MD_"):
        return RegionName(RegionKind.FIRMWARE, stem[3:], None, stem)
    if stem.startswith("md_"):
        body = _VMID.sub("", stem[3:])
        kind = RegionKind.KERNEL if body.startswith("K") else RegionKind.SUBSYSTEM
        m = _TRAILING_ID.match(body)
        # A downstream "KELF_HEADER" has no id; "Kunknown53" has id 53, "Kinit_mm_31" id 31.
        if m and m.group("name"):
            return RegionName(kind, m.group("name"), int(m.group("id")), stem)
        return RegionName(kind, body, None, stem)
    return RegionName(RegionKind.FULLDUMP, stem, None, stem)


def firmware_name(smem_name: str, seq_num: int = 0) -> tuple[str, str]:
    """(description, file name) that XBL gives an SMEM region
    (docs/formats.md#how-boot-firmware-names-regions)."""
    desc = ("md_" + smem_name)[:DESC_MAX]
    if 0 < seq_num < 10000:
        desc = (desc + str(seq_num))[:DESC_MAX]
    return desc, (desc + ".BIN")[:FILENAME_MAX]


def kernel_smem_name(id_name: str) -> str:
    """The kmemdump backend's SMEM name for a kernel region: ``"K%.8s"``
    (docs/formats.md#the-qualcomm-backend)."""
    return "K" + id_name[:8]
