"""Region-name rules (docs/formats.md, docs/protocol.md#region-table-formats)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.naming import (
    RegionKind,
    firmware_name,
    kernel_smem_name,
    parse_region_name,
)

SETTINGS = settings(deadline=None, max_examples=300)


@pytest.mark.parametrize(
    ("text", "kind", "name", "id_"),
    [
        # kmemdump v2 names, docs/formats.md#region-ids.
        ("md_KELF1.BIN", RegionKind.KERNEL, "KELF", 1),
        ("md_KELF1", RegionKind.KERNEL, "KELF", 1),
        ("md_Kvmcorein2.BIN", RegionKind.KERNEL, "Kvmcorein", 2),
        ("md_Kcpu_poss6.BIN", RegionKind.KERNEL, "Kcpu_poss", 6),
        ("md_Kjiffies10.BIN", RegionKind.KERNEL, "Kjiffies", 10),
        ("md_Kinit_mm_31.BIN", RegionKind.KERNEL, "Kinit_mm_", 31),
        ("md_Kunknown53.BIN", RegionKind.KERNEL, "Kunknown", 53),
        ("md_Kprb24", RegionKind.KERNEL, "Kprb", 24),
        # Downstream msm_minidump header, no id; Gunyah VMID prefix
        # (docs/formats.md#gunyah-guest-vms).
        ("md_KELF_HEADER.BIN", RegionKind.KERNEL, "KELF_HEADER", None),
        ("md_2d_KELF_HDR.BIN", RegionKind.KERNEL, "KELF_HDR", None),
        # Firmware-added items, other subsystems, full dump, the T32 script.
        ("MD_SMEMINFO.BIN", RegionKind.FIRMWARE, "SMEMINFO", None),
        ("MD_RST_STAT", RegionKind.FIRMWARE, "RST_STAT", None),
        ("md_REGION_A.BIN", RegionKind.SUBSYSTEM, "REGION_A", None),
        ("DDRCS0_0.BIN", RegionKind.FULLDUMP, "DDRCS0_0", None),
        ("OCIMEM.BIN", RegionKind.FULLDUMP, "OCIMEM", None),
        ("load.cmm", RegionKind.SCRIPT, "load.cmm", None),
    ],
)
def test_parse_known_names(text: str, kind: RegionKind, name: str, id_: int | None) -> None:
    n = parse_region_name(text)
    assert (n.kind, n.name, n.id) == (kind, name, id_)


def test_header_flags() -> None:
    assert parse_region_name("md_KELF1.BIN").is_kernel_header
    assert not parse_region_name("md_KELF1.BIN").is_downstream_header
    assert parse_region_name("md_KELF_HEADER").is_downstream_header
    assert not parse_region_name("md_KELF_HEADER").is_kernel_header
    assert parse_region_name("md_2d_KELF_HDR.BIN").is_downstream_header
    assert not parse_region_name("MD_KELF1.BIN").is_kernel_header  # firmware prefix


def test_stem_drops_the_extension() -> None:
    assert parse_region_name("md_KELF1.BIN").stem == "md_KELF1"
    assert parse_region_name("md_KELF1.bin").stem == "md_KELF1"


@pytest.mark.parametrize(
    ("smem", "seq", "desc", "fname"),
    [
        # docs/formats.md#region-ids: name string -> resulting file.
        ("KELF", 1, "md_KELF1", "md_KELF1.BIN"),
        ("Kvmcorein", 2, "md_Kvmcorein2", "md_Kvmcorein2.BIN"),
        ("Kcpu_poss", 6, "md_Kcpu_poss6", "md_Kcpu_poss6.BIN"),
        ("Kunknown", 47, "md_Kunknown47", "md_Kunknown47.BIN"),
        ("Kprintk_r", 22, "md_Kprintk_r22", "md_Kprintk_r22.BIN"),
        # No seq_num (0 or >= 10000): nothing appended.
        ("REGION_A", 0, "md_REGION_A", "md_REGION_A.BIN"),
        ("REGION_A", 10000, "md_REGION_A", "md_REGION_A.BIN"),
        # 15-character cap on the description, including the appended number (strlcat 16).
        ("KTASK_STACK_LONG", 0, "md_KTASK_STACK_", "md_KTASK_STACK_.BIN"),
        ("Kabcdefgh", 9999, "md_Kabcdefgh999", "md_Kabcdefgh999.BIN"),
    ],
)
def test_firmware_name(smem: str, seq: int, desc: str, fname: str) -> None:
    assert firmware_name(smem, seq) == (desc, fname)


def test_kernel_smem_name_is_K_plus_8() -> None:
    assert kernel_smem_name("vmcoreinfo") == "Kvmcorein"
    assert kernel_smem_name("ELF") == "KELF"
    assert kernel_smem_name("printk_rb_dynamic") == "Kprintk_r"


@SETTINGS
@given(st.text(max_size=40), st.integers(-5, 20000))
def test_firmware_name_limits(smem: str, seq: int) -> None:
    desc, fname = firmware_name(smem, seq)
    # 16-byte buffer with its NUL (docs/formats.md#how-boot-firmware-names-regions)
    assert len(desc) <= 15
    assert len(fname) <= 19  # 20-byte Sahara filename field with its NUL
    assert desc.startswith("md_")
    assert fname.startswith(desc) or fname == (desc + ".BIN")[:19]


# Kernel id names whose 8-character cut does not end in a digit: a trailing digit would be
# glued to the id by firmware, which no parser can undo.
id_names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    min_size=0,
    max_size=20,
).filter(lambda s: not s[:8] or not s[:8][-1].isdigit())


@SETTINGS
@given(id_names, st.integers(1, 999))
def test_kernel_names_round_trip(name: str, region_id: int) -> None:
    # K + 8 chars + up to 3 digits + "md_" fits the 15-character cap
    # (docs/formats.md#the-k-prefix-and-the-8-character-cut).
    desc, fname = firmware_name("K" + name[:8], region_id)
    for text in (desc, fname):
        n = parse_region_name(text)
        assert n.kind is RegionKind.KERNEL
        assert n.id == region_id
        assert n.name == "K" + name[:8]


@SETTINGS
@given(st.text(max_size=60))
def test_parse_region_name_never_raises(text: str) -> None:
    n = parse_region_name(text)
    assert isinstance(n.kind, RegionKind)
    assert n.id is None or 0 <= n.id <= 9999
