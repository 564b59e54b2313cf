"""qdlpy's udev rule: read the packaged copy, render it, install it (``qdlpy udev``).

Wheels cannot write to /etc, so the rule ships as package data (``qdlpy.udev``) and the
``qdlpy udev install`` command copies it into ``/etc/udev/rules.d`` and asks udevd to
reload and re-apply it (docs/protocol.md#linux-access-udev-drivers-and-modemmanager). Every
filesystem path is taken relative to a ``root`` directory so tests install into a temporary tree;
the udevadm runner is injectable for the same reason.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import grp
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from qdlpy.atomic_write import write_atomic
from qdlpy.errors import InvalidArgument, OutputError, PermissionDenied, QdlpyError

__all__ = [
    "RULES_DIR",
    "RULES_NAME",
    "SEAT_LATE_RULES",
    "UDEVADM_COMMANDS",
    "InstallResult",
    "RuleLine",
    "Runner",
    "install",
    "mm_ignored_ids",
    "packaged_rules",
    "parse_rule_lines",
    "render",
    "rule_ids",
    "rule_vendors",
    "sorts_before_seat_late",
    "udevadm_commands",
]

RULES_NAME = "60-qdlpy.rules"
#: Where local administrator rules live (relative to the root); /etc overrides /lib.
RULES_DIR = "etc/udev/rules.d"
#: systemd's rule that turns TAG+="uaccess" into ACLs; ours must sort before it.
SEAT_LATE_RULES = "73-seat-late.rules"
#: What `qdlpy udev install` runs first after writing the file: re-read the rules. Then
#: ``udevadm_commands`` replays "add" for every vendor the rule names (one trigger each:
#: repeated --attr-match options are ANDed by older udevadm), so devices already plugged
#: in get the ACL without a re-plug.
UDEVADM_COMMANDS: tuple[tuple[str, ...], ...] = (("control", "--reload"),)

#: Runs one command line; returns (exit status, combined output). Tests inject a fake.
Runner = Callable[[Sequence[str]], tuple[int, str]]

# A group name safe to splice into a udev rule: POSIX portable user/group name characters.
_GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_DEVICE_LINE_RE = re.compile(r'^ATTR\{idVendor\}=="([0-9a-fA-F]{4})", ATTR\{idProduct\}=="([^"]+)"')


def packaged_rules() -> str:
    """The rule file shipped inside the qdlpy package."""
    return resources.files("qdlpy.udev").joinpath(RULES_NAME).read_text(encoding="utf-8")


def render(group: str | None = None, template: str | None = None) -> str:
    """The rule text to install; with ``group``, device lines also get GROUP and MODE 0660.

    uaccess ACLs only reach the user of a local logind seat, so headless CI runners need
    group access instead (docs/protocol.md#linux-access-udev-drivers-and-modemmanager). The mode is
    0660, never world-writable.
    """
    text = packaged_rules() if template is None else template
    if group is None:
        return text
    if not _GROUP_RE.match(group):
        raise InvalidArgument(
            f"{group!r} is not a valid group name",
            hint="use an existing group such as plugdev or dialout (letters, digits, _ . -)",
        )
    out = []
    for line in text.splitlines(keepends=True):
        if _DEVICE_LINE_RE.match(line):
            body = line.rstrip("\n")
            line = f'{body}, GROUP="{group}", MODE="0660"\n'
        out.append(line)
    return "".join(out)


def rule_ids(text: str) -> set[tuple[int, int]]:
    """The (VID, PID) pairs a qdlpy-style rule text matches (``ATTR{idProduct}=="a|b"``)."""
    ids: set[tuple[int, int]] = set()
    for line in text.splitlines():
        m = _DEVICE_LINE_RE.match(line.strip())
        if not m:
            continue
        vid = int(m.group(1), 16)
        for pid in m.group(2).split("|"):
            if re.fullmatch(r"[0-9a-fA-F]{4}", pid):
                ids.add((vid, int(pid, 16)))
    return ids


def mm_ignored_ids(text: str) -> set[tuple[int, int]]:
    """The (VID, PID) pairs whose qdlpy-style line also sets ID_MM_DEVICE_IGNORE=1."""
    ids: set[tuple[int, int]] = set()
    for line in text.splitlines():
        if 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line:
            ids |= rule_ids(line)
    return ids


def rule_vendors(text: str) -> list[str]:
    """The vendor ids (4 lowercase hex digits) of a qdlpy-style rule, in file order."""
    vendors: list[str] = []
    for line in text.splitlines():
        m = _DEVICE_LINE_RE.match(line.strip())
        if m and m.group(1).lower() not in vendors:
            vendors.append(m.group(1).lower())
    return vendors


def udevadm_commands(text: str) -> list[tuple[str, ...]]:
    """udevadm arguments that make udevd apply ``text`` to devices already plugged in."""
    return [*UDEVADM_COMMANDS, *(("trigger", "--subsystem-match=usb", f"--attr-match=idVendor={v}")
                                 for v in rule_vendors(text))]


# ------------------------------------------------------------------ any tool's rule files
# `qdlpy doctor` must judge rules written by other tools too, so it parses assignments
# instead of searching the text (words like "modem" or "download mode" in comments are
# not rules). Only single-line device matches are understood; GOTO-structured files
# are not followed.

_ASSIGN_RE = re.compile(r'([A-Za-z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"')
_VENDOR_KEYS = frozenset({"ATTR{idVendor}", "ATTRS{idVendor}", "SYSFS{idVendor}",
                          "ENV{ID_VENDOR_ID}"})
_PRODUCT_KEYS = frozenset({"ATTR{idProduct}", "ATTRS{idProduct}", "SYSFS{idProduct}",
                           "ENV{ID_MODEL_ID}"})


@dataclasses.dataclass(frozen=True)
class RuleLine:
    """One udev rule line that matches USB devices by vendor (and maybe product) id."""

    vendors: tuple[str, ...]  # udev glob patterns, lowercased
    products: tuple[str, ...] | None  # None: the line matches every product of the vendor
    uaccess: bool = False  # TAG+="uaccess"
    mode: int | None = None  # MODE="0660"
    group: str | None = None  # GROUP="plugdev"
    mm_ignore: bool = False  # ENV{ID_MM_DEVICE_IGNORE}="1"

    def covers(self, vid: int, pid: int) -> bool:
        def hit(patterns: tuple[str, ...], value: int) -> bool:
            return any(fnmatch.fnmatchcase(f"{value:04x}", p) for p in patterns)

        return hit(self.vendors, vid) and (self.products is None or hit(self.products, pid))

    @property
    def grants_by_mode(self) -> bool:
        """MODE/GROUP give someone read/write, which udevd applies whatever the file order.

        GROUP alone counts: systemd's default mode for USB device nodes is 0664.
        """
        if self.mode is not None and self.mode & 0o006 == 0o006:
            return True
        return self.group is not None and (self.mode is None or self.mode & 0o060 == 0o060)

    @property
    def world_writable(self) -> bool:
        return self.mode is not None and bool(self.mode & 0o002)


def parse_rule_lines(text: str) -> list[RuleLine]:
    """The device-matching lines of a rule file (comments and continuations handled)."""
    joined = re.sub(r"\\\n", " ", text)
    out: list[RuleLine] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        vendors: list[str] = []
        products: list[str] | None = None
        fields: dict[str, Any] = {}
        for key, op, value in _ASSIGN_RE.findall(line):
            if key in _VENDOR_KEYS and op == "==":
                vendors += value.lower().split("|")
            elif key in _PRODUCT_KEYS and op == "==":
                products = (products or []) + value.lower().split("|")
            elif key == "TAG" and op in ("+=", "=") and "uaccess" in value.split():
                fields["uaccess"] = True
            elif key == "MODE" and op in ("=", ":="):
                try:
                    fields["mode"] = int(value, 8)
                except ValueError:
                    pass
            elif key == "GROUP" and op in ("=", ":="):
                fields["group"] = value
            elif key == "ENV{ID_MM_DEVICE_IGNORE}" and op == "=" and value == "1":
                fields["mm_ignore"] = True
        if vendors:
            out.append(RuleLine(tuple(vendors), None if products is None else tuple(products),
                                **fields))
    return out


def sorts_before_seat_late(file_name: str) -> bool:
    """True if udev runs ``file_name`` before 73-seat-late.rules.

    udev orders all rule files by file name alone (plain string order, whatever the
    directory), so "100-x.rules" does sort before "73-..." and "9-x.rules" after it.
    """
    return file_name < SEAT_LATE_RULES


@dataclasses.dataclass
class InstallResult:
    """What ``install`` did (or, with dry_run, would do)."""

    path: Path
    content: str
    dry_run: bool
    written: bool = False
    unchanged: bool = False  # the file already had exactly this content
    commands: list[list[str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def _default_runner(argv: Sequence[str]) -> tuple[int, str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def install(
    *,
    group: str | None = None,
    root: str | os.PathLike[str] = "/",
    dry_run: bool = False,
    reload: bool = True,
    runner: Runner | None = None,
    udevadm: str | None = None,
    euid: int | None = None,
) -> InstallResult:
    """Write ``<root>/etc/udev/rules.d/60-qdlpy.rules`` and make udevd apply it.

    ``reload=False`` skips udevadm (e.g. for an image being built). ``runner`` and
    ``udevadm`` (the program path) replace the real subprocess call in tests; when udevadm
    is not installed the result carries a note instead of failing, since the file is
    still right for the next boot. Raises PermissionDenied when the system directory
    cannot be written as a non-root user, OutputError for any other write failure.
    """
    content = render(group)
    root_path = Path(root)
    if group is not None:
        _check_group_exists(group, root_path)
    path = root_path / RULES_DIR / RULES_NAME
    result = InstallResult(path=path, content=content, dry_run=dry_run)
    uid = os.geteuid() if euid is None else euid

    if reload:
        prog = udevadm if udevadm is not None else shutil.which("udevadm")
        if prog is None:
            result.notes.append(
                "udevadm not found: the rule takes effect when udevd next starts; "
                "re-plug the device after that"
            )
        else:
            result.commands = [[prog, *args] for args in udevadm_commands(content)]

    if dry_run:
        result.notes.append("dry run: nothing was written and udevadm was not run")
        return result

    if root_path.resolve() == Path("/") and uid != 0:
        raise PermissionDenied(
            f"writing {path} needs root",
            hint='run `sudo "$(command -v qdlpy)" udev install`, or `qdlpy udev show` and '
            "copy it by hand",
        )
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else None
    except OSError:
        existing = None
    if existing == content:
        result.unchanged = True
    else:
        _write_atomically(path, content)
        result.written = True

    run = runner if runner is not None else _default_runner
    for argv in result.commands:
        try:
            status, text = run(argv)
        except OSError as e:
            result.notes.append(f"could not run {' '.join(argv)}: {e.strerror or e}")
            break
        if status != 0:
            result.notes.append(f"{' '.join(argv)} exited {status}: {text}".rstrip(": "))
            break
    result.notes.append("re-plug the device (or power-cycle it into EDL/crash-dump mode again)")
    return result


def _check_group_exists(group: str, root: Path) -> None:
    """A GROUP= naming no group is ignored by udevd with only a log line: refuse it here.

    On the running system the group database is asked (NSS, so LDAP groups count); for
    another root (an image being built) its etc/group file, when it has one.
    """
    if root.resolve() == Path("/"):
        try:
            grp.getgrnam(group)
            return
        except KeyError:
            pass
    else:
        try:
            lines = (root / "etc/group").read_text(encoding="utf-8").splitlines()
        except OSError:
            return  # nothing to check against
        if any(line.split(":", 1)[0] == group for line in lines):
            return
    raise InvalidArgument(
        f"group {group!r} does not exist",
        hint=f"create it first (sudo groupadd {group}) or use an existing group such as "
             "plugdev or dialout")


def _write_error(exc: OSError, path: Path) -> QdlpyError:
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"cannot write {path}: {exc.strerror}",
                                hint='run `sudo "$(command -v qdlpy)" udev install`')
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def _write_atomically(path: Path, content: str) -> None:
    """Replace the rule file atomically (qdlpy.atomic_write) so udevd never reads half a rule;
    udev rules are world-readable and root-writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, path) from exc
    write_atomic(path, content.encode("utf-8"), mode=0o644, error=_write_error)
