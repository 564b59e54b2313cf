"""qdlpy's udev rule: read the packaged copy, render it, install it (``qdlpy udev``).

Wheels cannot write to /etc, so the rule ships as package data (``qdlpy.udev``) and the
``qdlpy udev install`` command copies it into ``/etc/udev/rules.d`` and asks udevd to
reload and re-apply it (ux-and-style.md §b6). Every filesystem path is taken relative to
a ``root`` directory so tests install into a temporary tree; the udevadm runner is
injectable for the same reason.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from qdlpy.errors import InvalidArgument, OutputError, PermissionDenied

__all__ = [
    "RULES_DIR",
    "RULES_NAME",
    "SEAT_LATE_RULES",
    "UDEVADM_COMMANDS",
    "InstallResult",
    "Runner",
    "install",
    "packaged_rules",
    "render",
    "rule_ids",
    "sorts_before_seat_late",
]

RULES_NAME = "60-qdlpy.rules"
#: Where local administrator rules live (relative to the root); /etc overrides /lib.
RULES_DIR = "etc/udev/rules.d"
#: systemd's rule that turns TAG+="uaccess" into ACLs; ours must sort before it.
SEAT_LATE_RULES = "73-seat-late.rules"
#: What `qdlpy udev install` runs after writing the file: re-read rules, then replay "add"
#: for Qualcomm USB devices already plugged in so they get the ACL without a re-plug.
UDEVADM_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("control", "--reload"),
    ("trigger", "--subsystem-match=usb", "--attr-match=idVendor=05c6"),
)

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
    group access instead (ux-and-style.md §b6). The mode is 0660, never world-writable.
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
            result.commands = [[prog, *args] for args in UDEVADM_COMMANDS]

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


def _write_atomically(path: Path, content: str) -> None:
    """Write via a temporary file + rename so udevd never reads a half-written rule."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".60-qdlpy.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(content)
            os.chmod(tmp, 0o644)  # udev rules are world-readable, root-writable
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except PermissionError as e:
        raise PermissionDenied(
            f"cannot write {path}: {e.strerror}",
            hint='run `sudo "$(command -v qdlpy)" udev install`',
        ) from e
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
