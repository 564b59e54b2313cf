"""`udev_rules.install` into a temporary root, with an injected udevadm runner."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from qdlpy import udev_rules
from qdlpy.errors import InvalidArgument, OutputError, PermissionDenied


class FakeRunner:
    def __init__(self, status: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.status = status

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        return self.status, "boom" if self.status else ""


def target(root: Path) -> Path:
    return root / "etc/udev/rules.d/60-qdlpy.rules"


def test_install_writes_the_rule_and_runs_udevadm(tmp_path: Path) -> None:
    run = FakeRunner()
    res = udev_rules.install(root=tmp_path, runner=run, udevadm="/sbin/udevadm")
    assert res.written and not res.dry_run
    assert target(tmp_path).read_text() == udev_rules.packaged_rules()
    assert target(tmp_path).stat().st_mode & 0o777 == 0o644
    # Every vendor in the rule is re-triggered, not only Qualcomm's (review 9 #12).
    vendors = ["05c6", "0fce", "1199", "0846", "19d2", "1004", "1bc7"]
    assert run.calls == [["/sbin/udevadm", "control", "--reload"]] + [
        ["/sbin/udevadm", "trigger", "--subsystem-match=usb", f"--attr-match=idVendor={v}"]
        for v in vendors
    ]
    assert not list(target(tmp_path).parent.glob(".*.tmp"))  # no temporary file left behind


def test_group_variant_is_installed(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("root:x:0:\nci-runners:x:990:runner\n")
    udev_rules.install(root=tmp_path, group="ci-runners", reload=False)
    text = target(tmp_path).read_text()
    assert text == udev_rules.render("ci-runners")
    assert 'GROUP="ci-runners", MODE="0660"' in text


def test_dry_run_writes_nothing_and_runs_nothing(tmp_path: Path) -> None:
    run = FakeRunner()
    res = udev_rules.install(root=tmp_path, dry_run=True, runner=run, udevadm="udevadm")
    assert res.dry_run and not res.written
    assert not (tmp_path / "etc").exists()
    assert run.calls == []
    assert res.commands[0] == ["udevadm", "control", "--reload"]  # but says what it would run
    assert res.content == udev_rules.packaged_rules()


def test_reinstall_of_same_content_is_unchanged_but_still_reloads(tmp_path: Path) -> None:
    udev_rules.install(root=tmp_path, reload=False)
    run = FakeRunner()
    res = udev_rules.install(root=tmp_path, runner=run, udevadm="udevadm")
    assert res.unchanged and not res.written
    assert len(run.calls) == 1 + len(udev_rules.rule_vendors(udev_rules.packaged_rules()))


def test_missing_udevadm_is_a_note_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qdlpy.udev_rules.shutil.which", lambda name: None)
    res = udev_rules.install(root=tmp_path)
    assert res.written and res.commands == []
    assert any("udevadm not found" in n for n in res.notes)


def test_failing_udevadm_is_reported_in_notes(tmp_path: Path) -> None:
    res = udev_rules.install(root=tmp_path, runner=FakeRunner(status=3), udevadm="udevadm")
    assert res.written
    assert any("exited 3: boom" in n for n in res.notes)


def test_system_root_needs_root(tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied) as e:
        udev_rules.install(root="/", euid=1000, reload=False)
    assert e.value.exit_code == 4
    assert "sudo" in e.value.hint


def test_write_failure_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "etc").write_text("a file where a directory should be")
    with pytest.raises(OutputError) as e:
        udev_rules.install(root=tmp_path, reload=False)
    assert e.value.exit_code == 9


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_directory_is_permission_denied(tmp_path: Path) -> None:
    d = tmp_path / "etc/udev/rules.d"
    d.mkdir(parents=True)
    d.chmod(0o555)
    try:
        with pytest.raises(PermissionDenied):
            udev_rules.install(root=tmp_path, reload=False)
    finally:
        d.chmod(0o755)


def test_group_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("root:x:0:\nplugdev:x:46:\n")
    with pytest.raises(InvalidArgument, match="no-such-group"):
        udev_rules.install(root=tmp_path, group="no-such-group", reload=False)
    assert not target(tmp_path).exists()
    udev_rules.install(root=tmp_path, group="plugdev", reload=False)  # an existing one


def test_group_on_the_real_system_is_checked_with_getgrnam(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dry run on "/": the check happens before anything would be written.
    with pytest.raises(InvalidArgument, match="does not exist"):
        udev_rules.install(root="/", group="qdlpy-no-such-group-xyz", dry_run=True, reload=False)
    res = udev_rules.install(root="/", group="root", dry_run=True, reload=False)
    assert 'GROUP="root"' in res.content


def test_eacces_writing_the_rule_is_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same mapping as test_unwritable_directory_is_permission_denied, also as root.
    import errno

    from qdlpy import atomic_write

    def refuse(*args: object, **kwargs: object) -> tuple[str, int]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic_write, "_open_temp", refuse)
    with pytest.raises(PermissionDenied) as e:
        udev_rules.install(root=tmp_path, reload=False)
    assert e.value.exit_code == 4
    assert not target(tmp_path).exists()
