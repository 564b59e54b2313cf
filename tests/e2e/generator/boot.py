"""Step 2: boot the kernel under QEMU (TCG), wait for /init's READY line, dump guest memory.

The QEMU process is stopped on every path out of ``boot_and_dump`` (QMP quit, then
terminate, then kill).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
from pathlib import Path

from .arch import ArchSpec
from .errors import GeneratorError
from .initramfs import READY_LINE, VMCOREINFO_PREFIX
from .proc import describe
from .qmp import Qmp

__all__ = ["BootResult", "boot_and_dump", "kernel_cmdline"]

STEP = "boot"


@dataclasses.dataclass(frozen=True)
class BootResult:
    dump: Path  # QEMU's ELF of guest physical memory (paging=false)
    serial_log: Path
    cmdline: str
    vmcoreinfo_note_pa: int  # from /sys/kernel/vmcoreinfo, printed by /init
    vmcoreinfo_note_size: int  # printed in hex by the kernel ("%pa %x")
    boot_seconds: float
    dump_seconds: float


def kernel_cmdline(arch: ArchSpec) -> str:
    # nokaslr: symbol addresses = link addresses (docs/testing.md#booting-under-qemu).
    # log_buf_len: printk ring from memblock, in the direct map as on devices
    # (docs/testing.md#booting-under-qemu).
    return f"console={arch.console} nokaslr panic=-1 log_buf_len=256K"


def _tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes], qmp: Qmp | None) -> None:
    if qmp is not None:
        try:
            qmp.execute("quit", timeout=5.0)
        except GeneratorError:
            pass  # QEMU may close the socket before answering
        qmp.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def boot_and_dump(arch: ArchSpec, vmlinuz: Path, initrd: Path, workdir: Path, *,
                  boot_timeout: float = 240.0, dump_timeout: float = 300.0) -> BootResult:
    workdir.mkdir(parents=True, exist_ok=True)
    serial = workdir / "serial.log"
    qemu_log = workdir / "qemu.log"
    sock = workdir / "qmp.sock"
    dump = workdir / "guest-memory.elf"
    for p in (serial, sock, dump):
        p.unlink(missing_ok=True)
    cmdline = kernel_cmdline(arch)
    argv = [
        arch.qemu_binary, *arch.qemu_machine, "-smp", "1", "-m", f"{arch.ram_mib}M",
        "-nographic", "-nic", "none", "-no-reboot",
        "-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", cmdline,
        "-serial", f"file:{serial}", "-monitor", "none",
        "-qmp", f"unix:{sock},server=on,wait=off",
    ]
    t0 = time.monotonic()
    with qemu_log.open("wb") as logf:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        except OSError as e:
            raise GeneratorError(STEP, f"cannot start {arch.qemu_binary}: {e}") from e
    qmp: Qmp | None = None
    try:
        qmp = Qmp(sock, connect_timeout=30.0, step=STEP)
        text = _wait_ready(proc, serial, qemu_log, argv, boot_timeout)
        boot_s = time.monotonic() - t0
        m = re.search(rf"^{VMCOREINFO_PREFIX} (?:0x)?([0-9a-fA-F]+) (?:0x)?([0-9a-fA-F]+)\s*$",
                      text, re.MULTILINE)
        if not m:
            raise GeneratorError(STEP, "/init printed no vmcoreinfo address; serial:\n"
                                       + text[-1500:])
        t1 = time.monotonic()
        qmp.execute("stop")
        qmp.execute("dump-guest-memory", {"paging": False, "protocol": f"file:{dump}"},
                    timeout=dump_timeout)
        dump_s = time.monotonic() - t1
    finally:
        _stop(proc, qmp)
        sock.unlink(missing_ok=True)
    if not dump.is_file() or dump.stat().st_size == 0:
        raise GeneratorError(STEP, f"QEMU wrote no memory dump; qemu.log:\n{_tail(qemu_log)}")
    return BootResult(dump=dump, serial_log=serial, cmdline=cmdline,
                      vmcoreinfo_note_pa=int(m.group(1), 16),
                      vmcoreinfo_note_size=int(m.group(2), 16),
                      boot_seconds=boot_s, dump_seconds=dump_s)


def _wait_ready(proc: subprocess.Popen[bytes], serial: Path, qemu_log: Path,
                argv: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = serial.read_text(errors="replace") if serial.exists() else ""
        if re.search(rf"^{READY_LINE}\r?$", text, re.MULTILINE):
            return text
        if proc.poll() is not None:
            raise GeneratorError(
                STEP, f"QEMU exited {proc.returncode} before {READY_LINE}\n$ {describe(argv)}\n"
                f"qemu.log: {_tail(qemu_log)}\nserial: {text[-1500:]}")
        if time.monotonic() > deadline:
            raise GeneratorError(
                STEP, f"no {READY_LINE} on the serial console after {timeout:.0f} s; "
                f"serial tail:\n{text[-1500:]}")
        time.sleep(0.1)
