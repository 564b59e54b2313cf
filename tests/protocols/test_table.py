"""Region-table decoding (docs/protocol.md#region-table-formats, docs/protocol.md#reading-the-table,
docs/protocol.md#region-names-from-the-device).

Expected entries are packed by hand with struct so the parser is not checked against its
own builder.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qdlpy.protocols.errors import QdlpyError, TableError
from qdlpy.protocols.naming import RegionKind
from qdlpy.protocols.table import Region, build_table, entry_size, parse_table

SETTINGS = settings(deadline=None, max_examples=150)


def entry64(save_pref: int, base: int, length: int, desc: bytes, fname: bytes) -> bytes:
    # docs/protocol.md#region-table-formats 64-bit entry: save_pref u64 @0, mem_base u64 @8, length
    # u64 @16, desc @24, file @44.
    return struct.pack("<QQQ20s20s", save_pref, base, length, desc, fname)


def entry32(save_pref: int, base: int, length: int, desc: bytes, fname: bytes) -> bytes:
    # docs/protocol.md#region-table-formats 32-bit entry: save_pref u32 @0, mem_base u32 @4, length
    # u32 @8, desc @12, file @32.
    return struct.pack("<III20s20s", save_pref, base, length, desc, fname)


def test_entry_sizes() -> None:
    assert entry_size(True) == 64
    assert entry_size(False) == 52
    assert len(entry64(0, 0, 0, b"", b"")) == 64
    assert len(entry32(0, 0, 0, b"", b"")) == 52


def test_parse_64_bit_minidump_table() -> None:
    data = (
        entry64(1, 0x8_8000_0000, 0x1000, b"md_KELF1", b"md_KELF1.BIN")
        + entry64(1, 0x8_8010_0000, 0x2E4, b"md_Kvmcorein2", b"md_Kvmcorein2.BIN")
        + entry64(2, 0x1466_0000, 0x40, b"MD_RST_STAT", b"MD_RST_STAT.BIN")
    )
    regions = parse_table(data, is64=True)
    assert [r.position for r in regions] == [0, 1, 2]
    assert [(r.base, r.length, r.save_pref) for r in regions] == [
        (0x8_8000_0000, 0x1000, 1),
        (0x8_8010_0000, 0x2E4, 1),
        (0x1466_0000, 0x40, 2),
    ]
    assert [r.description for r in regions] == ["md_KELF1", "md_Kvmcorein2", "MD_RST_STAT"]
    assert [r.filename for r in regions] == ["md_KELF1.BIN", "md_Kvmcorein2.BIN", "MD_RST_STAT.BIN"]
    assert regions[0].end == 0x8_8000_1000
    assert regions[0].name.kind is RegionKind.KERNEL and regions[0].name.id == 1
    assert regions[0].name.is_kernel_header
    assert regions[2].name.kind is RegionKind.FIRMWARE
    assert regions[1].raw_description == b"md_Kvmcorein2".ljust(20, b"\0")


def test_parse_32_bit_table() -> None:
    # Quectel SDX62 example (docs/protocol.md#region-table-formats): 0x7EC bytes = 39 entries of 52
    # bytes.
    one = entry32(1, 0x8000_0000, 0x4000_0000, b"DDR CS0 part0", b"DDRCS0_0.BIN")
    data = one * 39
    assert len(data) == 0x7EC
    regions = parse_table(data, is64=False)
    assert len(regions) == 39
    assert regions[38].position == 38
    assert (regions[0].base, regions[0].length, regions[0].filename) == (
        0x8000_0000,
        0x4000_0000,
        "DDRCS0_0.BIN",
    )


def test_32_bit_save_pref_uses_the_low_byte() -> None:
    # docs/protocol.md#region-table-formats: some firmware declares save_pref as a byte plus 3 pad
    # bytes.
    data = struct.pack("<BBBBII20s20s", 2, 0xAA, 0xBB, 0xCC, 0x1000, 0x20, b"OCIMEM", b"OCIMEM.BIN")
    (r,) = parse_table(data, is64=False)
    assert r.save_pref == 2
    assert (r.base, r.length) == (0x1000, 0x20)


def test_32_and_64_bit_views_of_the_same_bytes_differ() -> None:
    # 64 * 13 == 52 * 16: the same bytes are valid in both layouts, and decode differently.
    data = entry64(1, 0x8000_0000, 0x1000, b"md_KELF1", b"md_KELF1.BIN") * 13
    a = parse_table(data, is64=True)
    b = parse_table(data, is64=False)
    assert len(a) == 13 and len(b) == 16
    assert a[0].base == 0x8000_0000 and b[0].base != 0x8000_0000


def test_unterminated_20_byte_names_are_cut_at_20() -> None:
    desc = b"D" * 20
    fname = b"ABCDEFGHIJKLMNOP.BIN"  # exactly 20 bytes, no NUL
    data = entry64(1, 0x1000, 0x10, desc, fname) + entry64(1, 0x2000, 0x10, b"ok", b"ok.BIN")
    first, second = parse_table(data, is64=True)
    assert first.description == "D" * 20
    assert first.filename == "ABCDEFGHIJKLMNOP.BIN"
    # The neighbour's fields do not bleed into the unterminated name.
    assert second.description == "ok" and second.base == 0x2000
    assert first.raw_filename == fname


def test_names_stop_at_the_first_nul() -> None:
    (r,) = parse_table(entry64(1, 0x1000, 0x10, b"md_KELF1\0junk", b"a.BIN\0\xff\xfe"), is64=True)
    assert r.description == "md_KELF1"
    assert r.filename == "a.BIN"
    assert r.raw_description == b"md_KELF1\0junk".ljust(20, b"\0")


def test_garbage_bytes_decode_tolerantly() -> None:
    data = bytes(range(256)) * 2  # 512 bytes = 8 entries of 64
    regions = parse_table(data, is64=True)
    assert len(regions) == 8
    for r in regions:
        assert isinstance(r.description, str) and isinstance(r.filename, str)
        assert len(r.description) <= 20 and len(r.filename) <= 20
        assert len(r.raw_description) == 20 and len(r.raw_filename) == 20
        r.to_dict()  # must not raise either
    # Non-ASCII bytes are replaced, not rejected.
    (r,) = parse_table(entry64(0, 0, 0, b"\xff\xfe\x80md", b"\x00"), is64=True)
    assert r.description == "\ufffd\ufffd\ufffdmd"
    assert r.filename == ""


@pytest.mark.parametrize("is64", [True, False])
def test_empty_table_is_an_error(is64: bool) -> None:
    with pytest.raises(TableError):
        parse_table(b"", is64=is64)


@pytest.mark.parametrize(
    ("is64", "size"),
    [(True, 63), (True, 65), (True, 52), (False, 64), (False, 51), (False, 105)],
)
def test_partial_entries_are_an_error(is64: bool, size: int) -> None:
    with pytest.raises(TableError):
        parse_table(bytes(size), is64=is64)


def test_table_over_64_kib_is_an_error() -> None:
    # docs/protocol.md#reading-the-table: cap table_length (qdl: 64 KiB). These sizes are whole
    # numbers of entries.
    assert parse_table(bytes(64 * 1024), is64=True)  # exactly at the cap: fine
    with pytest.raises(TableError):
        parse_table(bytes(64 * 1024 + 64), is64=True)
    with pytest.raises(TableError):
        parse_table(bytes(52 * 1261), is64=False)  # 65572 bytes
    with pytest.raises(TableError):
        parse_table(bytes(16 * 1024 * 1024), is64=True)


def test_table_error_is_a_protocol_error_with_a_code() -> None:
    with pytest.raises(TableError) as info:
        parse_table(b"", is64=True)
    assert info.value.code == "bad-region-table"
    assert info.value.exit_code == 6


def test_build_table_matches_hand_packed_bytes() -> None:
    regions = [
        Region(0, 0x8_8000_0000, 0x1000, 1, "md_KELF1", "md_KELF1.BIN"),
        Region(1, 0x1466_0000, 0x40, 2, "MD_RST_STAT", "MD_RST_STAT.BIN"),
    ]
    assert build_table(regions, is64=True) == (
        entry64(1, 0x8_8000_0000, 0x1000, b"md_KELF1", b"md_KELF1.BIN")
        + entry64(2, 0x1466_0000, 0x40, b"MD_RST_STAT", b"MD_RST_STAT.BIN")
    )
    regions32 = [Region(0, 0x8000_0000, 0x1000, 1, "OCIMEM", "OCIMEM.BIN")]
    assert build_table(regions32, is64=False) == entry32(
        1, 0x8000_0000, 0x1000, b"OCIMEM", b"OCIMEM.BIN"
    )


def test_load_cmm_entry_is_the_script() -> None:
    # XBL's last entry: desc "CMM Script", file "load.cmm" (docs/formats.md#the-loadcmm-script).
    (r,) = parse_table(entry64(2, 0, 0x1F4, b"CMM Script", b"load.cmm"), is64=True)
    assert r.name.kind is RegionKind.SCRIPT


# ---- hypothesis --------------------------------------------------------------------------

name_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=20
)


@st.composite
def regions_st(draw: st.DrawFn, is64: bool) -> list[Region]:
    top = 2**64 - 1 if is64 else 2**32 - 1
    n = draw(st.integers(1, 20))
    return [
        Region(
            position=i,
            base=draw(st.integers(0, top)),
            length=draw(st.integers(0, top)),
            save_pref=draw(st.integers(0, top if is64 else 0xFF)),
            description=draw(name_text),
            filename=draw(name_text),
        )
        for i in range(n)
    ]


@SETTINGS
@given(st.data(), st.booleans())
def test_build_parse_round_trip(data: st.DataObject, is64: bool) -> None:
    regions = data.draw(regions_st(is64))
    raw = build_table(regions, is64=is64)
    assert len(raw) == len(regions) * (64 if is64 else 52)
    back = parse_table(raw, is64=is64)
    assert [
        (r.position, r.base, r.length, r.save_pref, r.description, r.filename) for r in back
    ] == [(r.position, r.base, r.length, r.save_pref, r.description, r.filename) for r in regions]
    # Parsed regions keep their raw strings, so building them again is byte-exact.
    assert build_table(back, is64=is64) == raw


@SETTINGS
@given(st.binary(min_size=1, max_size=40), st.integers(1, 30))
def test_64_bit_parse_build_is_byte_exact(seed: bytes, n: int) -> None:
    raw = (seed * (64 * n // len(seed) + 1))[: 64 * n]
    assert build_table(parse_table(raw, is64=True), is64=True) == raw


@st.composite
def table_bytes(draw: st.DrawFn) -> bytes:
    """Garbage of every size class: small, near whole entries, near and over the 64 KiB cap."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    entries = draw(st.sampled_from([1, 2, 8, 39, 1023, 1024, 1025, 1260, 1261, 2000]))
    size = entries * draw(st.sampled_from([52, 64])) + draw(st.integers(-3, 3))
    seed = draw(st.binary(min_size=1, max_size=64))
    return (seed * (size // len(seed) + 1))[: max(size, 0)]


@SETTINGS
@given(table_bytes(), st.booleans())
def test_arbitrary_bytes_give_regions_or_table_error(data: bytes, is64: bool) -> None:
    try:
        regions = parse_table(data, is64=is64)
    except QdlpyError as exc:
        assert isinstance(exc, TableError)
        size = 64 if is64 else 52
        assert not data or len(data) > 64 * 1024 or len(data) % size
        return
    size = 64 if is64 else 52
    assert 0 < len(data) <= 64 * 1024 and len(data) % size == 0
    assert len(regions) == len(data) // size
    for r in regions:
        assert len(r.description) <= 20 and len(r.filename) <= 20
        assert r.name.kind in RegionKind  # classification never raises
