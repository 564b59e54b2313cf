"""The packaged 60-qdlpy.rules: ids, uaccess, ModemManager, ordering, no world-writable mode."""

from __future__ import annotations

import re

import pytest

from qdlpy import udev_rules
from qdlpy.errors import InvalidArgument

# docs/protocol.md#usb-devices-and-interfaces: every known EDL / memory-debug VID:PID.
EXPECTED_IDS = {
    (0x05C6, p) for p in (0x9008, 0x900E, 0x9006, 0x901D, 0x90DB, 0x9060, 0x9025)
} | {(0x0FCE, p) for p in (0x9DDE, 0xADE3, 0xADE5, 0xADED)} | {
    (0x1199, p) for p in (0x9062, 0x9070, 0x9090, 0x9071)
} | {(0x0846, 0x68E0), (0x19D2, 0x0076), (0x1004, 0x61A1), (0x1BC7, 0x900E)}


@pytest.fixture(scope="module")
def text() -> str:
    return udev_rules.packaged_rules()


def device_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("ATTR{idVendor}")]


def test_every_known_id_is_matched(text: str) -> None:
    assert udev_rules.rule_ids(text) == EXPECTED_IDS


# PIDs that are also modem/diag compositions (docs/protocol.md#usb-devices-and-interfaces): 9025 is
# a QMI LTE modem in qmi_wwan, 901d an Android diag composition per edl. ModemManager must keep
# them.
MODEM_IDS = {(0x05C6, 0x9025), (0x05C6, 0x901D)}


def test_every_device_line_has_uaccess_and_modemmanager_ignore_except_modem_pids(
        text: str) -> None:
    lines = device_lines(text)
    assert len(lines) == 8
    for ln in lines:
        assert 'TAG+="uaccess"' in ln, ln
        if udev_rules.rule_ids(ln) & MODEM_IDS:
            assert "ID_MM_DEVICE_IGNORE" not in ln, ln
        else:
            assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in ln, ln


def test_modem_pids_are_not_hidden_from_modemmanager(text: str) -> None:
    assert udev_rules.mm_ignored_ids(text) == EXPECTED_IDS - MODEM_IDS


def test_guards_limit_the_rule_to_usb_devices_on_add(text: str) -> None:
    code = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert code[0] == 'ACTION!="add|change|bind", GOTO="qdlpy_end"'
    assert 'SUBSYSTEM!="usb", GOTO="qdlpy_end"' in code
    assert 'ENV{DEVTYPE}!="usb_device", GOTO="qdlpy_end"' in code
    assert code[-1] == 'LABEL="qdlpy_end"'


def test_no_world_writable_mode_and_no_blacklist(text: str) -> None:
    assert "0666" not in text and '"666"' not in text
    code = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    assert "MODE" not in code  # the default rule relies on uaccess only
    assert "blacklist" not in code.lower()
    assert "qcserial" not in code


def test_file_name_sorts_before_seat_late() -> None:
    assert udev_rules.RULES_NAME == "60-qdlpy.rules"
    assert udev_rules.sorts_before_seat_late(udev_rules.RULES_NAME)
    assert not udev_rules.sorts_before_seat_late("99-qdlpy.rules")
    assert not udev_rules.sorts_before_seat_late("73-seat-late.rules")
    # udev compares names as strings: "100-" runs before "73-", "8-" after it.
    assert udev_rules.sorts_before_seat_late("100-x.rules")
    assert not udev_rules.sorts_before_seat_late("8-x.rules")


def test_group_variant_adds_group_and_0660_to_every_device_line(text: str) -> None:
    rendered = udev_rules.render("plugdev")
    for ln in device_lines(rendered):
        assert ln.endswith(', GROUP="plugdev", MODE="0660"'), ln
    # Only device lines change; the ids stay the same.
    assert udev_rules.rule_ids(rendered) == EXPECTED_IDS
    assert len(rendered.splitlines()) == len(text.splitlines())
    assert udev_rules.render(None) == text


@pytest.mark.parametrize("bad", ['plugdev", MODE="0666', "a b", "", "x" * 40, "1abc;"])
def test_group_names_that_could_inject_rule_syntax_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        udev_rules.render(bad)


def test_vid_pid_values_are_lowercase_hex(text: str) -> None:
    for ln in device_lines(text):
        for value in re.findall(r'=="([^"]+)"', ln):
            assert value == value.lower(), ln


def test_oem_ids_of_the_transport_are_exactly_the_rules_non_qualcomm_ids() -> None:
    # The usb transport's OEM list and the udev rule must not drift apart.
    from qdlpy.usb_ids import OEM_IDS, QUALCOMM_VID

    rule = {ids for ids in udev_rules.rule_ids(udev_rules.packaged_rules())
            if ids[0] != QUALCOMM_VID}
    assert rule == set(OEM_IDS)
