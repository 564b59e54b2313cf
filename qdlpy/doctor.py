"""``qdlpy doctor``: find out why a Qualcomm device cannot be used, and say how to fix it.

``diagnose()`` returns a list of :class:`Finding` s, each with its fix. It looks at: the
libusb library pyusb loads, qdlpy's (or another tool's) udev rule and whether it sorts
before 73-seat-late.rules (docs/protocol.md#linux-access-udev-drivers-and-modemmanager), every
Qualcomm device in sysfs with its /dev/bus/usb node permissions and ACL, the kernel driver bound to
its interfaces (docs/protocol.md#linux-access-udev-drivers-and-modemmanager), ModemManager and the
device's ID_MM_DEVICE_IGNORE property, and container hints. Everything is read through paths under
an injectable ``root`` (and an injectable ``access`` check, uid and process runner) so tests can
build a fake sysfs/dev/etc/run tree; nothing here opens the device or sends it a byte.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from qdlpy import udev_rules
from qdlpy.errors import QdlpyError
from qdlpy.usb_ids import QUALCOMM_VID, is_sahara_interface

__all__ = [
    "PERMISSION_IDS",
    "Finding",
    "Status",
    "UsbDevice",
    "diagnose",
    "exit_code",
    "scan_devices",
]

Status = Literal["ok", "warn", "fail", "info"]

#: Findings whose failure means "the OS will refuse access": doctor exits 4 for them,
#: the same code a pull that hits EACCES exits with (qdlpy.errors.PermissionDenied).
PERMISSION_IDS = frozenset({"udev-rule", "udev-rule-order", "device-access"})

#: Rule directories in udev's precedence order: a file in an earlier directory hides a
#: file of the same name in a later one (udev(7)).
RULE_DIRS = ("etc/udev/rules.d", "run/udev/rules.d", "lib/udev/rules.d", "usr/lib/udev/rules.d")

USBFS_MAJOR = 189  # char major of /dev/bus/usb/BBB/DDD nodes

Runner = Callable[[Sequence[str]], tuple[int, str]]
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the doctor report."""

    id: str  # stable kebab-case identifier (JSON "id"); several findings may share one
    status: Status
    summary: str
    detail: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class UsbDevice:
    """A Qualcomm device as sysfs describes it (no libusb involved)."""

    usb_path: str  # sysfs name, e.g. "1-1.4"
    vid: int
    pid: int
    busnum: int
    devnum: int
    product: str = ""
    dev: str = ""  # "189:1", from sysfs 'dev'
    drivers: dict[str, str] = dataclasses.field(default_factory=dict)  # "1-1:1.0" -> "qcserial"

    @property
    def node(self) -> str:
        """Path of the usbfs node, relative to the root."""
        return f"dev/bus/usb/{self.busnum:03d}/{self.devnum:03d}"

    @property
    def label(self) -> str:
        return f"{self.usb_path} {self.vid:04x}:{self.pid:04x}"

    @property
    def minor(self) -> int:
        if ":" in self.dev:
            return int(self.dev.split(":")[1])
        return (self.busnum - 1) * 128 + (self.devnum - 1)


# --------------------------------------------------------------------------- helpers


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _hex(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


def _default_runner(argv: Sequence[str]) -> tuple[int, str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return proc.returncode, proc.stdout


def _is_sahara_device(vid: int, pid: int, interfaces: Iterable[tuple[int, int, int]],
                      known: set[tuple[int, int]]) -> bool:
    if (vid, pid) in known:
        return True
    return any(is_sahara_interface(vid, pid, c, s, p) for c, s, p in interfaces)


def scan_devices(root: Path) -> list[UsbDevice]:
    """Qualcomm EDL/crash-dump devices listed in ``<root>/sys/bus/usb/devices``."""
    base = root / "sys/bus/usb/devices"
    known = udev_rules.rule_ids(udev_rules.packaged_rules())
    found: list[UsbDevice] = []
    try:
        entries = sorted(base.iterdir(), key=lambda p: p.name)
    except OSError:
        return found
    for entry in entries:
        if ":" in entry.name:
            continue  # an interface, not a device
        vid, pid = _hex(entry / "idVendor"), _hex(entry / "idProduct")
        if vid is None or pid is None:
            continue
        interfaces: list[tuple[int, int, int]] = []
        drivers: dict[str, str] = {}
        for intf in sorted(base.glob(f"{entry.name}:*")):
            cls, sub, proto = (_hex(intf / a) for a in
                               ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol"))
            interfaces.append((cls or 0, sub or 0, proto or 0))
            link = intf / "driver"
            if link.is_symlink() or link.exists():
                drivers[intf.name] = Path(os.readlink(link)).name if link.is_symlink() else "?"
        if not _is_sahara_device(vid, pid, interfaces, known):
            continue
        try:
            busnum = int(_read(entry / "busnum") or "0")
            devnum = int(_read(entry / "devnum") or "0")
        except ValueError:
            continue
        found.append(UsbDevice(usb_path=entry.name, vid=vid, pid=pid, busnum=busnum,
                               devnum=devnum, product=_read(entry / "product") or "",
                               dev=_read(entry / "dev") or "", drivers=drivers))
    return found


def _acl_users(path: Path) -> list[int]:
    """uids named in the node's POSIX ACL (what uaccess adds), best effort."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access")
    except (OSError, AttributeError):
        return []
    users = []
    # Linux xattr ACL format: u32 version (2), then 8-byte entries (u16 tag, u16 perm, u32 id);
    # tag 2 = ACL_USER.
    for off in range(4, len(raw) - 7, 8):
        tag, _perm, ident = struct.unpack_from("<HHI", raw, off)
        if tag == 2:
            users.append(ident)
    return users


def _udev_properties(root: Path, dev: UsbDevice, runner: Runner | None) -> dict[str, str] | None:
    """The device's udev properties and tags, from udevd's database (as `udevadm info`)."""
    db = root / f"run/udev/data/c{USBFS_MAJOR}:{dev.minor}"
    text = _read(db)
    props: dict[str, str] = {}
    if text is not None:
        for line in text.splitlines():
            if line.startswith("E:") and "=" in line:
                k, v = line[2:].split("=", 1)
                props[k] = v
            elif line.startswith(("G:", "Q:")):
                props.setdefault("TAGS", "")
                props["TAGS"] += ":" + line[2:]
        return props
    if runner is None:
        return None
    status, out = runner(["udevadm", "info", "--query=property", f"--name=/{dev.node}"])
    if status != 0:
        return None
    for line in out.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            props[k] = v
    return props


def _modemmanager_running(root: Path) -> bool:
    try:
        procs = list((root / "proc").iterdir())
    except OSError:
        return False
    for p in procs:
        if p.name.isdigit() and _read(p / "comm") == "ModemManager":
            return True
    return False


# --------------------------------------------------------------------------- checks


def _check_libusb(probe: Callable[[], Finding] | None) -> Finding:
    if probe is not None:
        return probe()
    try:  # lazily: doctor must still report when the USB stack cannot even be imported
        usb_backend: Any = importlib.import_module("qdlpy.transport.usb_backend")
    except ImportError:
        return _probe_pyusb()
    try:
        info = usb_backend.backend_info()
    except QdlpyError as e:  # BackendUnavailable: "not found" vs "loaded but init failed"
        return Finding("libusb", "fail", f"no usable libusb: {e.message}", "", e.hint)
    except Exception as e:  # noqa: BLE001 - doctor must report, not crash
        return Finding("libusb", "fail", f"loading libusb failed: {type(e).__name__}: {e}",
                       "", "apt-get install libusb-1.0-0, or pip install libusb-package")
    if info.kind == "sim":
        return Finding("libusb", "info", "simulated USB devices (no libusb)", info.reason)
    return Finding("libusb", "ok", f"libusb {info.version or '?'} loaded from {info.library}",
                   f"{info.kind}: {info.reason}")


def _loaded_libusb_paths() -> list[str]:
    text = _read(Path("/proc/self/maps")) or ""
    paths = {line.split()[-1] for line in text.splitlines() if "libusb-1.0" in line}
    return sorted(p for p in paths if p.startswith("/"))


def _probe_pyusb() -> Finding:
    """Load libusb the way pyusb does (system first, then libusb-package) and report it."""
    fix = "apt-get install libusb-1.0-0, or pip install libusb-package"
    try:
        from usb.backend import libusb1
    except ImportError as e:
        return Finding("libusb", "fail", "pyusb is not installed", str(e), "pip install pyusb")
    source = "system"
    backend = libusb1.get_backend()
    if backend is None:
        try:
            import libusb_package

            backend = libusb_package.get_libusb1_backend()
            source = "libusb-package"
        except ImportError:
            backend = None
    if backend is None:
        return Finding("libusb", "fail", "no libusb library could be loaded",
                       "pyusb found neither the system libusb-1.0 nor libusb-package", fix)
    version = "?"
    try:
        import ctypes

        class _Version(ctypes.Structure):
            _fields_ = [("major", ctypes.c_uint16), ("minor", ctypes.c_uint16),
                        ("micro", ctypes.c_uint16), ("nano", ctypes.c_uint16)]

        fn = backend.lib.libusb_get_version
        fn.restype = ctypes.POINTER(_Version)
        v = fn().contents
        version = f"{v.major}.{v.minor}.{v.micro}"
    except Exception as e:  # noqa: BLE001 - the version is a nicety
        log.debug("libusb_get_version failed: %s", e)
    paths = _loaded_libusb_paths()
    where = ", ".join(paths) if paths else str(getattr(backend.lib, "_name", "?"))
    return Finding("libusb", "ok", f"libusb {version} loaded from {where}", f"source: {source}")


#: What a rule must cover when no device is connected: the EDL and crash-dump PIDs
#: (docs/protocol.md#usb-devices-and-interfaces).
DEFAULT_TARGETS = ((QUALCOMM_VID, 0x9008), (QUALCOMM_VID, 0x900E))
INSTALL_FIX = 'sudo "$(command -v qdlpy)" udev install, then re-plug the device'


def _id(vid: int, pid: int) -> str:
    return f"{vid:04x}:{pid:04x}"


@dataclasses.dataclass
class _Rules:
    """The rule files udev uses (after /etc-over-/lib masking), parsed."""

    root: Path
    files: dict[str, Path]  # file name -> the effective copy
    lines: dict[str, list[udev_rules.RuleLine]]
    qdlpy_text: str | None  # the effective 60-qdlpy.rules, if installed

    @classmethod
    def read(cls, root: Path) -> _Rules:
        files: dict[str, Path] = {}
        for d in RULE_DIRS:
            try:
                found = sorted((root / d).glob("*.rules"))
            except OSError:
                continue
            for f in found:
                files.setdefault(f.name, f)  # earlier directories win
        texts = {name: _read(path) or "" for name, path in files.items()}
        qdlpy_text = texts.get(udev_rules.RULES_NAME)
        return cls(root, files, {n: udev_rules.parse_rule_lines(t) for n, t in texts.items()},
                   qdlpy_text)

    def grant(self, vid: int, pid: int) -> tuple[str, str] | None:
        """(file name, "uaccess" | "mode/group") of the first rule that gives access."""
        for name in sorted(self.lines):
            for line in self.lines[name]:
                if not line.covers(vid, pid):
                    continue
                if line.grants_by_mode:
                    return name, "mode/group"
                if line.uaccess and udev_rules.sorts_before_seat_late(name):
                    return name, "uaccess"
        return None

    def late_uaccess(self, targets: Sequence[tuple[int, int]]) -> list[str]:
        """Files whose uaccess lines for a target sort after 73-seat-late.rules."""
        return [name for name in sorted(self.lines)
                if not udev_rules.sorts_before_seat_late(name)
                and any(line.uaccess and not line.grants_by_mode and line.covers(v, p)
                        for line in self.lines[name] for v, p in targets)]

    def rel(self, name: str) -> str:
        return "/" + str(self.files[name].relative_to(self.root))


def _missing_id_fix(vid: int, pid: int, rules: _Rules) -> str:
    """How to get a rule that covers vid:pid."""
    ident = _id(vid, pid)
    installed = rules.qdlpy_text
    if installed is not None and (vid, pid) not in udev_rules.rule_ids(installed):
        if (vid, pid) in udev_rules.rule_ids(udev_rules.packaged_rules()):
            return (f"{ident} is not in the installed {udev_rules.RULES_NAME} (an older "
                    f"version): {INSTALL_FIX}")
        return (f"{ident} is not in {udev_rules.RULES_NAME}: add it to idProduct on the "
                f'ATTR{{idVendor}}=="{vid:04x}" line (or add a line for that vendor) in '
                f"{rules.rel(udev_rules.RULES_NAME)}, then sudo udevadm control --reload "
                "and re-plug the device")
    if (vid, pid) in udev_rules.rule_ids(udev_rules.packaged_rules()) or installed is not None:
        return INSTALL_FIX
    return (f"{ident} is not in {udev_rules.RULES_NAME}: {INSTALL_FIX.split(',')[0]}, add "
            f"{pid:04x} to idProduct in /{udev_rules.RULES_DIR}/{udev_rules.RULES_NAME}, "
            "then sudo udevadm control --reload and re-plug the device")


def _check_rules(rules: _Rules, uid: int, devices: Sequence[UsbDevice]) -> list[Finding]:
    """Do the rule files give access to the connected devices (or to 9008/900e)?

    Only TAG+="uaccess" depends on the file sorting before 73-seat-late.rules; MODE and
    GROUP are applied by udevd whatever the file's number.
    """
    root = rules.root
    targets = sorted({(d.vid, d.pid) for d in devices}) or list(DEFAULT_TARGETS)
    grants = {t: rules.grant(*t) for t in targets}
    covered = [t for t, g in grants.items() if g is not None]
    uncovered = [t for t, g in grants.items() if g is None]
    # With devices connected each one needs a rule; without, one of 9008/900e is enough.
    ok = not uncovered if devices else bool(covered)
    good = sorted({g[0] for g in grants.values() if g is not None})
    late = [n for n in rules.late_uaccess(targets) if n not in good]

    findings: list[Finding] = []
    hidden = [f"{d}/{n}" for n, p in rules.files.items() for d in RULE_DIRS
              if "qdlpy" in n and (root / d / n).exists() and (root / d / n) != p]
    miss_status: Status = "warn" if uid == 0 else "fail"

    if ok:
        names = ", ".join(rules.rel(n)[1:] for n in good)
        detail = ", ".join(rules.rel(n) for n in good)
        if hidden:
            detail += f"; overridden copies: {', '.join('/' + h for h in hidden)}"
        findings.append(Finding("udev-rule", "ok", f"udev rule grants access: {names}",
                                detail))
    elif good or not late:
        if devices or good:
            ids = ", ".join(_id(*t) for t in uncovered)
            summary = f"no udev rule gives users access to {ids}"
        else:
            summary = "no udev rule gives users access to Qualcomm EDL/crash-dump devices"
        where = "searched /" + ", /".join(RULE_DIRS)
        if good:
            where += "; rules found for other ids: " + ", ".join(rules.rel(n) for n in good)
        if uid == 0:
            where += "; running as root, which needs no rule"
        fix = "; ".join(_missing_id_fix(v, p, rules) for v, p in uncovered) if devices \
            else INSTALL_FIX
        findings.append(Finding("udev-rule", miss_status, summary, where, fix))
    for name in late:
        findings.append(Finding(
            "udev-rule-order", "warn" if ok or uid == 0 else "fail",
            f"{name} sorts after {udev_rules.SEAT_LATE_RULES}: its uaccess tag grants nothing",
            f"{rules.rel(name)}: systemd >= 258 applies uaccess only for rules named "
            "before 73-seat-late.rules",
            f"rename it to 60-{name.split('-', 1)[-1]} (or replace it: {INSTALL_FIX})"))
    for name in sorted(rules.lines):
        if any(line.world_writable and line.covers(v, p)
               for line in rules.lines[name] for v, p in targets):
            findings.append(Finding(
                "udev-rule-mode", "warn", f"{name} makes the device world-writable (0666)",
                rules.rel(name), "use TAG+=\"uaccess\" or GROUP=..., MODE=\"0660\""))
    if rules.qdlpy_text is not None:
        findings.extend(_check_qdlpy_rule_version(rules))
    return findings


def _check_qdlpy_rule_version(rules: _Rules) -> list[Finding]:
    installed = rules.qdlpy_text or ""
    packaged = udev_rules.packaged_rules()
    name = udev_rules.RULES_NAME
    missing = udev_rules.rule_ids(packaged) - udev_rules.rule_ids(installed)
    # Older rules also hid modem PIDs (05c6:9025, 901d) from ModemManager.
    over_ignored = udev_rules.mm_ignored_ids(installed) - udev_rules.mm_ignored_ids(packaged)
    if not missing and not over_ignored:
        return []
    parts = []
    if missing:
        parts.append("lacks " + ", ".join(_id(*t) for t in sorted(missing)))
    if over_ignored:
        parts.append("hides modem ids from ModemManager: "
                     + ", ".join(_id(*t) for t in sorted(over_ignored)))
    what = f"misses {len(missing)} ids" if missing else "hides modems from ModemManager"
    return [Finding("udev-rule-outdated", "warn",
                    f"installed {name} is older than this qdlpy's ({what})",
                    f"{rules.rel(name)} " + "; ".join(parts), INSTALL_FIX)]


def _check_container(root: Path, environ: Mapping[str, str]) -> list[Finding]:
    markers = [m for m in (".dockerenv", "run/.containerenv") if (root / m).exists()]
    if environ.get("container"):
        markers.append(f"container={environ['container']}")
    findings: list[Finding] = []
    has_sysfs_usb = (root / "sys/bus/usb").exists()
    has_devfs = (root / "dev/bus/usb").is_dir()
    has_udev = (root / "run/udev").is_dir()
    if markers:
        findings.append(Finding(
            "container", "warn" if not (has_devfs and has_udev) else "info",
            f"running in a container ({', '.join(markers)})",
            "the container sees only the USB nodes and udev state passed into it",
            "docker run --device-cgroup-rule='c 189:* rmw' -v /dev/bus/usb:/dev/bus/usb "
            "-v /run/udev:/run/udev:ro ... (podman: the same flags)"))
    if not has_sysfs_usb:
        findings.append(Finding(
            "usb-subsystem", "warn", "no USB in this kernel (or /sys is not mounted)",
            "/sys/bus/usb is missing, so no USB device can be seen; tcp:, serial: and "
            "sim: transports still work",
            "run qdlpy on the machine the device is plugged into"))
    elif not has_devfs:
        findings.append(Finding(
            "dev-bus-usb", "fail", "/dev/bus/usb is missing: libusb cannot open any device",
            "sysfs lists USB devices but their usbfs nodes are not visible here",
            "in a container, pass the nodes in: -v /dev/bus/usb:/dev/bus/usb "
            "--device-cgroup-rule='c 189:* rmw'"))
    if has_sysfs_usb and not has_udev:
        findings.append(Finding(
            "udev-runtime", "info", "/run/udev is missing (no udevd, or not shared)",
            "libusb gets no hot-plug events, so a device that re-enumerates is found by "
            "re-scanning; udev rules and ModemManager properties cannot apply here",
            "bind-mount /run/udev:ro into the container if the host runs udevd"))
    return findings


def _check_device(root: Path, dev: UsbDevice, uid: int, access: Callable[[str, int], bool],
                  props: dict[str, str] | None, rules: _Rules) -> list[Finding]:
    findings: list[Finding] = []
    node = root / dev.node
    if not node.exists():
        findings.append(Finding(
            "device-access", "fail", f"{dev.label}: /{dev.node} does not exist",
            "sysfs lists the device but its usbfs node is missing",
            "in a container pass -v /dev/bus/usb:/dev/bus/usb; otherwise check that "
            "devtmpfs is mounted on /dev"))
    else:
        st = node.stat()
        acl = _acl_users(node)
        detail = f"/{dev.node} mode {st.st_mode & 0o777:04o} owner {st.st_uid}:{st.st_gid}"
        if acl:
            detail += f", ACL for uid {', '.join(map(str, acl))}"
        tags = (props or {}).get("TAGS", "")
        if props is not None:
            detail += "; udev tag uaccess: " + ("yes" if "uaccess" in tags else "no")
        if access(str(node), os.R_OK | os.W_OK):
            how = "root" if uid == 0 else "ACL" if uid in acl else "mode/group"
            findings.append(Finding("device-access", "ok",
                                    f"{dev.label}: /{dev.node} is read/writable ({how})",
                                    detail))
        else:
            grant = rules.grant(dev.vid, dev.pid)
            if grant is None:
                fix = _missing_id_fix(dev.vid, dev.pid, rules)
            elif grant[1] == "mode/group":
                fix = (f"{grant[0]} grants access through MODE/GROUP: add yourself to the "
                       "group and log in again, or re-plug the device if the rule is new")
            elif props is not None and "uaccess" not in tags:
                fix = ("the rule did not apply to this device yet: re-plug it, or "
                       "sudo udevadm trigger --subsystem-match=usb --attr-match=idVendor="
                       f"{dev.vid:04x}")
            else:
                fix = ("uaccess only serves the local seat's user: on a headless machine "
                       'use sudo "$(command -v qdlpy)" udev install --group GROUP and add '
                       "yourself to GROUP")
            findings.append(Finding("device-access", "fail",
                                    f"{dev.label}: /{dev.node} is not writable by uid {uid}",
                                    detail, fix))
    for intf, driver in sorted(dev.drivers.items()):
        if driver == "usbfs":
            findings.append(Finding(
                "kernel-driver", "warn",
                f"{dev.label}: interface {intf} is claimed by another program (usbfs)",
                "a libusb program (qdl, edl, QPST, another qdlpy) holds the interface",
                f"close it; `fuser -v /{dev.node}` shows who"))
        else:
            findings.append(Finding(
                "kernel-driver", "info",
                f"{dev.label}: kernel driver {driver} is bound to interface {intf}",
                "qdlpy detaches it when it opens the device (the driver is not re-attached)",
                "nothing to do; do not blacklist the driver, real modems need it"))
    return findings


def _mm_fix(dev: UsbDevice, rules: _Rules) -> str:
    """How to make ModemManager leave ``dev`` alone."""
    ident = (dev.vid, dev.pid)
    packaged = udev_rules.packaged_rules()
    installed = rules.qdlpy_text
    if ident in udev_rules.mm_ignored_ids(packaged):
        if installed is not None and ident in udev_rules.mm_ignored_ids(installed):
            return f"{_id(*ident)}: re-plug the device so the installed rule applies"
        return (f'{_id(*ident)}: sudo "$(command -v qdlpy)" udev install (sets '
                "ID_MM_DEVICE_IGNORE=1), then re-plug the device")
    if ident in udev_rules.rule_ids(packaged):
        return (f"{_id(*ident)} is also a modem id, so {udev_rules.RULES_NAME} leaves it to "
                "ModemManager: if ModemManager grabs it, add a local rule setting "
                'ENV{ID_MM_DEVICE_IGNORE}="1" for it, or stop ModemManager while pulling')
    where = rules.rel(udev_rules.RULES_NAME) if installed is not None else \
        f"/{udev_rules.RULES_DIR}/{udev_rules.RULES_NAME} (install it first)"
    return (f"{_id(*ident)} is not in {udev_rules.RULES_NAME}: add it to idProduct on a line "
            f'with ENV{{ID_MM_DEVICE_IGNORE}}="1" in {where}, then re-plug the device')


def _check_modemmanager(root: Path, devices: list[UsbDevice],
                        props: dict[str, dict[str, str] | None], rules: _Rules) -> Finding:
    if not _modemmanager_running(root):
        return Finding("modemmanager", "ok", "ModemManager is not running")
    not_ignored = [d for d in devices
                   if props.get(d.usb_path) is not None
                   and (props[d.usb_path] or {}).get("ID_MM_DEVICE_IGNORE") != "1"]
    unknown = [d for d in devices if props.get(d.usb_path) is None]
    if not_ignored:
        return Finding("modemmanager", "warn",
                       "ModemManager is running and may probe: "
                       + ", ".join(d.label for d in not_ignored),
                       "it writes AT commands to the device's ttyUSB, which can eat the "
                       "Sahara HELLO; there is no need to stop ModemManager",
                       "; ".join(_mm_fix(d, rules) for d in not_ignored))
    if unknown:
        return Finding("modemmanager", "info", "ModemManager is running",
                       "could not read udev properties of " + ", ".join(d.label for d in unknown)
                       + " to check ID_MM_DEVICE_IGNORE",
                       "; ".join(_mm_fix(d, rules) for d in unknown))
    detail = "every connected device has ID_MM_DEVICE_IGNORE=1" if devices else \
        "connected Qualcomm devices are ignored when a rule sets ID_MM_DEVICE_IGNORE=1"
    return Finding("modemmanager", "ok", "ModemManager is running and ignores the device(s)"
                   if devices else "ModemManager is running", detail)


# --------------------------------------------------------------------------- entry point


def diagnose(
    root: str | os.PathLike[str] = "/",
    *,
    uid: int | None = None,
    access: Callable[[str, int], bool] | None = None,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    libusb_probe: Callable[[], Finding] | None = None,
    check_libusb: bool = True,
) -> list[Finding]:
    """Inspect the host and return findings in reading order (never raises for the host).

    ``root``: where /sys, /dev, /etc, /lib, /run and /proc are looked up (tests pass a fake
    tree). ``uid``/``access``: whose permissions to check (default: this process).
    ``runner``: runs ``udevadm info`` when udevd's database file cannot be read (default: the
    real udevadm, only when ``root`` is "/" and udevadm exists). ``libusb_probe``
    replaces the libusb check; ``check_libusb=False`` leaves it out.
    """
    root_path = Path(root)
    real_root = root_path.resolve() == Path("/")
    uid = os.geteuid() if uid is None else uid
    access = os.access if access is None else access
    environ = os.environ if environ is None else environ
    if runner is None and real_root and shutil.which("udevadm"):
        runner = _default_runner

    findings: list[Finding] = []
    if check_libusb:
        findings.append(_check_libusb(libusb_probe))
    findings.append(Finding("user", "info", "running as root" if uid == 0
                            else f"running as uid {uid}"))
    findings.extend(_check_container(root_path, environ))
    devices = scan_devices(root_path)
    rules = _Rules.read(root_path)
    findings.extend(_check_rules(rules, uid, devices))

    if devices:
        findings.append(Finding("devices", "info",
                                f"{len(devices)} Qualcomm EDL/crash-dump device(s) connected",
                                "; ".join(f"{d.label} {d.product}".strip() for d in devices)))
    else:
        findings.append(Finding("devices", "info",
                                "no Qualcomm EDL/crash-dump device is connected",
                                "per-device checks (permissions, kernel driver) are skipped"))
    props = {d.usb_path: _udev_properties(root_path, d, runner) for d in devices}
    for d in devices:
        findings.extend(_check_device(root_path, d, uid, access, props[d.usb_path], rules))
    findings.append(_check_modemmanager(root_path, devices, props, rules))
    return findings


def exit_code(findings: Sequence[Finding]) -> int:
    """doctor's exit status: 0 no failure, 4 a permission check failed, else 1."""
    failed = [f for f in findings if f.status == "fail"]
    if not failed:
        return 0
    if any(f.id in PERMISSION_IDS for f in failed):
        return 4
    return 1
