"""The one rule for file names in a dump folder (qdlpy.formats.names).

Names qdlpy makes from a device's table always pass the rule that names read from a
folder's files must pass; names that would leave the folder never do.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qdlpy.errors import InputError
from qdlpy.formats.names import NAME_MAX, is_member_name, member_name, sanitize, unique_names


@given(st.text(max_size=80), st.integers(min_value=0, max_value=999))
def test_every_name_made_from_a_device_name_is_a_member(raw: str, position: int) -> None:
    assert is_member_name(sanitize(raw, position))


@given(st.lists(st.text(max_size=30), max_size=12))
def test_unique_names_are_members_and_unique(raws: list[str]) -> None:
    names = unique_names([(r, i) for i, r in enumerate(raws)])
    assert all(is_member_name(n) for n in names)
    assert len({n.lower() for n in names}) == len(names)


@pytest.mark.parametrize("bad", [
    "../../etc/x", "/tmp/x", "a/b", "a\\b", "..", ".", "", "x\0y", "tab\there",
    "x" * (NAME_MAX + 1), "é" * 200,  # 400 bytes in UTF-8
])
def test_names_that_are_not_members_are_refused(bad: str) -> None:
    assert not is_member_name(bad)
    with pytest.raises(InputError) as info:
        member_name(bad, source="manifest.json region 0")
    assert info.value.exit_code == 10 and info.value.code == "unsafe-name"
    assert "manifest.json region 0" in info.value.message


@pytest.mark.parametrize("good", ["md_KELF1.BIN", "DDRCS0_0.BIN", "load.cmm", "CMM Script.bin",
                                  "x" * NAME_MAX])
def test_plain_names_pass(good: str) -> None:
    assert member_name(good, source="dump_info.txt line 1") == good


def test_a_name_that_is_not_text_is_refused() -> None:
    with pytest.raises(InputError):
        member_name(12, source="manifest.json region 1")
