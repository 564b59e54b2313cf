"""qdlpy.doctor on fake sysfs/dev/etc/run/proc trees (no real USB needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qdlpy import doctor, udev_rules
from qdlpy.doctor import Finding


class Tree:
    """A fake root with the pieces doctor reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "sys/bus/usb/devices").mkdir(parents=True)
        (root / "dev/bus/usb").mkdir(parents=True)
        (root / "run/udev/data").mkdir(parents=True)
        (root / "proc").mkdir()

    def write(self, rel: str, text: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def device(self, name: str = "1-1", vid: int = 0x05C6, pid: int = 0x9008, bus: int = 1,
               devnum: int = 2, protocol: int = 0xFF, driver: str | None = None,
               node: bool = True, props: dict[str, str] | None = None,
               tags: tuple[str, ...] = ()) -> None:
        d = f"sys/bus/usb/devices/{name}"
        minor = (bus - 1) * 128 + devnum - 1
        for attr, value in (("idVendor", f"{vid:04x}"), ("idProduct", f"{pid:04x}"),
                            ("busnum", str(bus)), ("devnum", str(devnum)),
                            ("dev", f"189:{minor}"), ("product", "QUSB__BULK_SN:ABCD1234")):
            self.write(f"{d}/{attr}", value + "\n")
        i = f"sys/bus/usb/devices/{name}:1.0"
        for attr, value in (("bInterfaceClass", "ff"), ("bInterfaceSubClass", "ff"),
                            ("bInterfaceProtocol", f"{protocol:02x}")):
            self.write(f"{i}/{attr}", value + "\n")
        if driver:
            drv = self.root / f"sys/bus/usb-serial/drivers/{driver}"
            drv.mkdir(parents=True, exist_ok=True)
            (self.root / i / "driver").symlink_to(drv)
        if node:
            self.write(f"dev/bus/usb/{bus:03d}/{devnum:03d}", "")
        if props is not None or tags:
            lines = [f"E:{k}={v}" for k, v in (props or {}).items()]
            lines += [f"G:{t}" for t in tags]
            self.write(f"run/udev/data/c189:{minor}", "\n".join(lines) + "\n")

    def rule(self, rel: str = "etc/udev/rules.d/60-qdlpy.rules", text: str | None = None) -> None:
        self.write(rel, udev_rules.packaged_rules() if text is None else text)

    def process(self, pid: int, comm: str) -> None:
        self.write(f"proc/{pid}/comm", comm + "\n")


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def run(tree: Tree, *, uid: int = 1000, writable: bool = True,
        environ: dict[str, str] | None = None) -> list[Finding]:
    return doctor.diagnose(tree.root, uid=uid, access=lambda path, mode: writable,
                           environ=environ or {}, runner=None, check_libusb=False)


def by_id(findings: list[Finding], fid: str) -> list[Finding]:
    return [f for f in findings if f.id == fid]


def one(findings: list[Finding], fid: str) -> Finding:
    found = by_id(findings, fid)
    assert len(found) == 1, (fid, findings)
    return found[0]


# ---------------------------------------------------------------- udev rule


def test_rule_missing_fails_for_a_normal_user(tree: Tree) -> None:
    findings = run(tree)
    f = one(findings, "udev-rule")
    assert f.status == "fail"
    assert "udev install" in f.fix
    assert doctor.exit_code(findings) == 4


def test_rule_missing_is_only_a_warning_for_root(tree: Tree) -> None:
    f = one(run(tree, uid=0), "udev-rule")
    assert f.status == "warn"


def test_rule_present_in_etc(tree: Tree) -> None:
    tree.rule()
    findings = run(tree)
    f = one(findings, "udev-rule")
    assert f.status == "ok" and "60-qdlpy.rules" in f.summary
    assert not by_id(findings, "udev-rule-order") and not by_id(findings, "udev-rule-outdated")
    assert doctor.exit_code(findings) == 0


def test_rule_shipped_by_a_package_in_lib(tree: Tree) -> None:
    tree.rule("usr/lib/udev/rules.d/60-qdlpy.rules")
    f = one(run(tree), "udev-rule")
    assert f.status == "ok" and "usr/lib/udev/rules.d/60-qdlpy.rules" in f.detail


def test_etc_copy_overrides_lib_copy(tree: Tree) -> None:
    tree.rule("lib/udev/rules.d/60-qdlpy.rules")
    tree.rule("etc/udev/rules.d/60-qdlpy.rules")
    f = one(run(tree), "udev-rule")
    assert "etc/udev/rules.d/60-qdlpy.rules" in f.summary
    assert "overridden copies: /lib/udev/rules.d/60-qdlpy.rules" in f.detail


def test_misordered_rule_fails(tree: Tree) -> None:
    tree.rule("etc/udev/rules.d/99-qdlpy.rules")
    findings = run(tree)
    f = one(findings, "udev-rule-order")
    assert f.status == "fail"
    assert "99-qdlpy.rules sorts after 73-seat-late.rules" in f.summary
    assert "60-qdlpy.rules" in f.fix
    assert not by_id(findings, "udev-rule")  # the late rule is the finding, not "missing"
    assert doctor.exit_code(findings) == 4


def test_misordered_other_tool_rule_is_a_warning_next_to_a_good_one(tree: Tree) -> None:
    tree.rule()
    tree.write("etc/udev/rules.d/99-edl.rules",
               'SUBSYSTEM=="usb", ATTRS{idVendor}=="05c6", TAG+="uaccess"\n')
    findings = run(tree)
    assert one(findings, "udev-rule").status == "ok"
    assert one(findings, "udev-rule-order").status == "warn"
    assert doctor.exit_code(findings) == 0


def test_other_tools_early_uaccess_rule_counts(tree: Tree) -> None:
    tree.write("etc/udev/rules.d/51-edl.rules",
               'SUBSYSTEM=="usb", ATTRS{idVendor}=="05c6", ATTRS{idProduct}=="9008", '
               'TAG+="uaccess"\n')
    assert one(run(tree), "udev-rule").status == "ok"


def test_world_writable_rule_is_flagged(tree: Tree) -> None:
    tree.rule()
    tree.write("etc/udev/rules.d/50-android.rules",
               'SUBSYSTEM=="usb", ATTR{idVendor}=="05c6", MODE="0666"\n')
    f = one(run(tree), "udev-rule-mode")
    assert f.status == "warn" and "50-android.rules" in f.summary


def test_outdated_qdlpy_rule(tree: Tree) -> None:
    old = udev_rules.packaged_rules().replace("|9060", "").replace("|9025", "")
    tree.rule(text=old)
    f = one(run(tree), "udev-rule-outdated")
    assert "05c6:9025" in f.detail and "05c6:9060" in f.detail


def test_old_rule_hiding_modems_from_modemmanager_is_outdated(tree: Tree) -> None:
    old = udev_rules.packaged_rules().replace(
        '"9008|900e|9006|90db|9060"', '"9008|900e|9006|90db|9060|9025"')
    tree.rule(text=old)
    f = one(run(tree), "udev-rule-outdated")
    assert "ModemManager" in f.summary and "05c6:9025" in f.detail


# ---------------------------------------------------------------- devices


def test_no_device(tree: Tree) -> None:
    findings = run(tree)
    assert "no Qualcomm" in one(findings, "devices").summary
    assert not by_id(findings, "device-access")


def test_device_found_and_writable(tree: Tree) -> None:
    tree.rule()
    tree.device(props={"ID_MM_DEVICE_IGNORE": "1"}, tags=("uaccess", "seat"))
    findings = run(tree)
    assert "1 Qualcomm" in one(findings, "devices").summary
    f = one(findings, "device-access")
    assert f.status == "ok" and "/dev/bus/usb/001/002" in f.summary
    assert "udev tag uaccess: yes" in f.detail
    assert doctor.exit_code(findings) == 0


def test_device_not_writable_without_rule(tree: Tree) -> None:
    tree.device()
    findings = run(tree, writable=False)
    f = one(findings, "device-access")
    assert f.status == "fail" and "not writable by uid 1000" in f.summary
    assert "udev install" in f.fix
    assert doctor.exit_code(findings) == 4


def test_device_not_writable_with_rule_but_not_replugged(tree: Tree) -> None:
    tree.rule()
    tree.device(props={"DEVTYPE": "usb_device"})
    f = one(run(tree, writable=False), "device-access")
    assert "re-plug" in f.fix and "udevadm trigger" in f.fix


def test_device_not_writable_with_rule_applied_suggests_group(tree: Tree) -> None:
    tree.rule()
    tree.device(props={"ID_MM_DEVICE_IGNORE": "1"}, tags=("uaccess",))
    f = one(run(tree, writable=False), "device-access")
    assert "--group" in f.fix


def test_access_check_uses_the_node_path_and_rw_mode(tree: Tree) -> None:
    tree.rule()
    tree.device(bus=3, devnum=17)
    seen: list[tuple[str, int]] = []

    def access(path: str, mode: int) -> bool:
        seen.append((path, mode))
        return True

    doctor.diagnose(tree.root, uid=1000, access=access, environ={}, check_libusb=False)
    assert seen == [(str(tree.root / "dev/bus/usb/003/017"), os.R_OK | os.W_OK)]


def test_device_node_missing(tree: Tree) -> None:
    tree.device(node=False)
    f = one(run(tree), "device-access")
    assert f.status == "fail" and "does not exist" in f.summary


def test_unknown_pid_with_sahara_interface_protocol_is_found(tree: Tree) -> None:
    tree.device(pid=0x9999, protocol=0x10)
    assert "05c6:9999" in one(run(tree), "devices").detail


def test_other_devices_are_ignored(tree: Tree) -> None:
    tree.device(name="1-2", vid=0x046D, pid=0xC52B, protocol=0x01)
    tree.device(name="1-3", vid=0x05C6, pid=0x9091, protocol=0x30)  # a Qualcomm modem
    assert "no Qualcomm" in one(run(tree), "devices").summary


def test_oem_id_from_the_rule_is_found(tree: Tree) -> None:
    tree.device(vid=0x1199, pid=0x9071, protocol=0x00)
    assert "1199:9071" in one(run(tree), "devices").detail


# ---------------------------------------------------------------- kernel driver


def test_kernel_driver_bound(tree: Tree) -> None:
    tree.device(driver="qcserial")
    f = one(run(tree), "kernel-driver")
    assert f.status == "info"
    assert "qcserial is bound to interface 1-1:1.0" in f.summary
    assert "detaches" in f.detail


def test_interface_claimed_by_another_program(tree: Tree) -> None:
    tree.device(driver="usbfs")
    f = one(run(tree), "kernel-driver")
    assert f.status == "warn" and "another program" in f.summary
    assert "fuser -v /dev/bus/usb/001/002" in f.fix


def test_no_kernel_driver(tree: Tree) -> None:
    tree.device()
    assert not by_id(run(tree), "kernel-driver")


# ---------------------------------------------------------------- ModemManager


def test_modemmanager_not_running(tree: Tree) -> None:
    tree.process(1, "systemd")
    assert one(run(tree), "modemmanager").status == "ok"


def test_modemmanager_running_and_device_not_ignored(tree: Tree) -> None:
    tree.process(1, "systemd")
    tree.process(812, "ModemManager")
    tree.device(props={"DEVTYPE": "usb_device"})
    f = one(run(tree), "modemmanager")
    assert f.status == "warn" and "1-1 05c6:9008" in f.summary
    assert "ID_MM_DEVICE_IGNORE" in f.fix


def test_modemmanager_running_and_device_ignored(tree: Tree) -> None:
    tree.process(812, "ModemManager")
    tree.device(props={"ID_MM_DEVICE_IGNORE": "1"})
    f = one(run(tree), "modemmanager")
    assert f.status == "ok" and "ignores" in f.summary


def test_modemmanager_running_properties_via_udevadm(tree: Tree) -> None:
    tree.process(812, "ModemManager")
    tree.device()  # no udev database file: fall back to `udevadm info`
    calls: list[list[str]] = []

    def runner(argv: object) -> tuple[int, str]:
        calls.append(list(argv))  # type: ignore[call-overload]
        return 0, "DEVTYPE=usb_device\nID_MM_DEVICE_IGNORE=1\n"

    findings = doctor.diagnose(tree.root, uid=0, access=lambda p, m: True, environ={},
                               runner=runner, check_libusb=False)
    assert calls == [["udevadm", "info", "--query=property", "--name=/dev/bus/usb/001/002"]]
    assert one(findings, "modemmanager").status == "ok"


def test_modemmanager_running_properties_unknown(tree: Tree) -> None:
    tree.process(812, "ModemManager")
    tree.device()
    assert one(run(tree), "modemmanager").status == "info"


# ---------------------------------------------------------------- containers


def test_docker_container(tree: Tree) -> None:
    tree.write(".dockerenv", "")
    f = one(run(tree), "container")
    assert ".dockerenv" in f.summary and "--device-cgroup-rule" in f.fix


def test_podman_container_without_dev_bus_usb_or_run_udev(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run/.containerenv").write_text("")
    (tmp_path / "sys/bus/usb/devices").mkdir(parents=True)
    findings = doctor.diagnose(tmp_path, uid=1000, access=lambda p, m: True, environ={},
                               check_libusb=False)
    assert one(findings, "container").status == "warn"
    assert one(findings, "dev-bus-usb").status == "fail"
    assert one(findings, "udev-runtime").status == "info"


def test_container_env_variable(tree: Tree) -> None:
    f = one(run(tree, environ={"container": "systemd-nspawn"}), "container")
    assert "container=systemd-nspawn" in f.summary


def test_no_usb_in_kernel(tmp_path: Path) -> None:
    findings = doctor.diagnose(tmp_path, uid=0, access=lambda p, m: True, environ={},
                               check_libusb=False)
    assert one(findings, "usb-subsystem").status == "warn"
    assert not by_id(findings, "container")


# ---------------------------------------------------------------- libusb + exit codes


def test_libusb_probe_is_injectable(tree: Tree) -> None:
    probe = Finding("libusb", "fail", "no libusb library could be loaded", fix="apt-get ...")
    findings = doctor.diagnose(tree.root, uid=0, access=lambda p, m: True, environ={},
                               libusb_probe=lambda: probe)
    assert findings[0] == probe
    assert doctor.exit_code(findings) == 1


def test_real_libusb_probe_reports_a_version_or_a_fix() -> None:
    f = doctor.diagnose("/nonexistent-root", uid=0, environ={})[0]
    assert f.id == "libusb"
    if f.status == "ok":
        assert f.summary.startswith("libusb 1.0.")
    else:
        assert f.fix


def test_exit_code_rules() -> None:
    ok = Finding("x", "ok", "")
    warn = Finding("x", "warn", "")
    assert doctor.exit_code([ok, warn]) == 0
    assert doctor.exit_code([ok, Finding("dev-bus-usb", "fail", "")]) == 1
    assert doctor.exit_code([Finding("dev-bus-usb", "fail", ""),
                             Finding("device-access", "fail", "")]) == 4


def test_every_problem_carries_a_fix(tree: Tree) -> None:
    tree.write(".dockerenv", "")
    tree.rule("etc/udev/rules.d/99-qdlpy.rules")
    tree.process(5, "ModemManager")
    tree.device(driver="usbfs", props={})
    tree.device(name="1-2", devnum=3, node=False)
    for f in run(tree, writable=False):
        if f.status in ("warn", "fail"):
            assert f.fix, f


# ---------------------------------------------------------------- review 9: rule parsing


def test_late_mode_group_rule_works_at_any_position(tree: Tree) -> None:
    # MODE/GROUP are applied by udevd itself, whatever the file's number; only uaccess
    # depends on sorting before 73-seat-late.rules.
    tree.write("etc/udev/rules.d/99-qcom-dump.rules",
               'SUBSYSTEM=="usb", ATTRS{idVendor}=="05c6", ATTRS{idProduct}=="900e", '
               'MODE="0660", GROUP="plugdev"\n')
    findings = run(tree)
    f = one(findings, "udev-rule")
    assert f.status == "ok" and "99-qcom-dump.rules" in f.summary
    assert not by_id(findings, "udev-rule-order")
    assert doctor.exit_code(findings) == 0


def test_early_mode_group_rule_is_recognised(tree: Tree) -> None:
    tree.write("etc/udev/rules.d/51-qcom-usb.rules",
               'SUBSYSTEMS=="usb", ATTRS{idVendor}=="05c6", ATTRS{idProduct}=="9008", '
               'MODE="0660", GROUP="plugdev"\n')
    f = one(run(tree), "udev-rule")
    assert f.status == "ok" and "51-qcom-usb.rules" in f.summary


def test_words_in_comments_do_not_make_a_rule(tree: Tree) -> None:
    # "modem" / "download mode" in comments, only ModemManager's property: grants nothing.
    tree.write("etc/udev/rules.d/77-mm-qcom.rules",
               "# Qualcomm 05c6 modem in download mode: keep ModemManager away\n"
               'ATTRS{idVendor}=="05c6", ATTRS{idProduct}=="9008", '
               'ENV{ID_MM_DEVICE_IGNORE}="1"\n')
    findings = run(tree)
    assert not by_id(findings, "udev-rule-order")
    assert one(findings, "udev-rule").status == "fail"  # still no rule granting access


def test_rule_for_another_pid_does_not_grant_access(tree: Tree) -> None:
    tree.write("etc/udev/rules.d/51-android.rules",
               'SUBSYSTEM=="usb", ATTR{idVendor}=="05c6", ATTR{idProduct}=="9039", '
               'TAG+="uaccess"\n')
    assert one(run(tree), "udev-rule").status == "fail"


def test_rule_must_cover_the_connected_device(tree: Tree) -> None:
    tree.write("etc/udev/rules.d/51-edl.rules",
               'SUBSYSTEM=="usb", ATTR{idVendor}=="05c6", ATTR{idProduct}=="9008", '
               'TAG+="uaccess"\n')
    tree.device(pid=0x900E, props={"ID_MM_DEVICE_IGNORE": "1"})
    f = one(run(tree, writable=False), "udev-rule")
    assert f.status == "fail" and "05c6:900e" in f.summary


def test_device_pid_missing_from_the_installed_rule_says_add_it(tree: Tree) -> None:
    tree.rule()
    tree.process(812, "ModemManager")
    tree.device(pid=0x90AB, props={"DEVTYPE": "usb_device"})
    findings = run(tree, writable=False)
    access = one(findings, "device-access")
    assert "05c6:90ab is not in 60-qdlpy.rules" in access.fix
    assert "idProduct" in access.fix and "re-plug it" not in access.fix.split(":")[0]
    mm = one(findings, "modemmanager")
    assert mm.status == "warn"
    assert "05c6:90ab is not in 60-qdlpy.rules" in mm.fix


def test_modem_pid_left_to_modemmanager_is_explained(tree: Tree) -> None:
    # 05c6:9025 is also a QMI modem: the rule grants access but does not hide it from MM.
    tree.rule()
    tree.process(812, "ModemManager")
    tree.device(pid=0x9025, props={"DEVTYPE": "usb_device"})
    mm = one(run(tree), "modemmanager")
    assert mm.status == "warn"
    assert "udev install (sets ID_MM_DEVICE_IGNORE" not in mm.fix
    assert "05c6:9025" in mm.fix
