"""Pull sim:fulldump (256 MiB by default) through umockdev's usbdevfs emulation and over tcp.

Both pulls run the real ``qdlpy pull`` command as a subprocess; the device lives in this
process: behind the umockdev handler (pyusb -> libusb -> ioctl -> tests/umockdev) for
``usb``, or behind qdlpy.simulator.server for ``tcp``. Figures only, nothing is asserted.

    umockdev-wrapper /work/venv/bin/python bench/bench_umockdev.py [--size 256M]

(Re-executes itself under the preload when started without umockdev-wrapper.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRELOAD = "libumockdev-preload.so.0"


def qdlpy_exe() -> str:
    return shutil.which("qdlpy", path=str(Path(sys.executable).parent)) or "qdlpy"


def run_pull(args: list[str], env: dict[str, str], out: Path) -> tuple[float, dict[str, object]]:
    start = time.monotonic()
    proc = subprocess.run([qdlpy_exe(), "pull", *args, "-o", str(out), "--json", "--no-elf",
                           "--after", "none", "--timeout", "20"],
                          capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"pull failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout)


def report(label: str, size: int, wall: float, doc: dict[str, object]) -> None:
    stats = doc.get("stats") or {}
    assert isinstance(stats, dict)
    inner = float(stats.get("seconds") or wall)
    print(f"{label:<28} {size / 2**20:7.0f} MiB  wall {wall:6.2f} s  "
          f"pull {inner:6.2f} s  {size / 2**20 / inner:7.1f} MiB/s")


def bench_usb(spec: str, size: int, libusb: str, workdir: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "umockdev"))
    import fake_bus
    import umockdev_support

    bus = fake_bus.FakeBus()
    plugged = bus.plug(umockdev_support.make_pipe(spec, serial="BENCH001"))
    env = dict(os.environ, QDLPY_LIBUSB=libusb, UMOCKDEV_DIR=bus.testbed.get_root_dir())
    try:
        wall, doc = run_pull(["--transport", "usb"], env, workdir / f"usb-{libusb}")
        report(f"umockdev usb ({libusb} libusb)", size, wall, doc)
        counts = plugged.device.counts
        print(f"{'':28} ioctls: SUBMITURB {counts['SUBMITURB']}, "
              f"REAPURBNDELAY {counts['REAPURBNDELAY']}, DISCARDURB {counts['DISCARDURB']}")
    finally:
        bus.clear()


def bench_tcp(spec: str, size: int, workdir: Path) -> None:
    from qdlpy.simulator.scenarios import build_model
    from qdlpy.simulator.server import SimServer

    server = SimServer(lambda: build_model(spec), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
        wall, doc = run_pull(["--transport", server.uri], env, workdir / "tcp")
        report("tcp (qdlpy.simulator.server)", size, wall, doc)
    finally:
        server.stop()
        thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256M", help="fulldump size (default 256M)")
    parser.add_argument("--libusb", default="system,bundled", help="system,bundled")
    args = parser.parse_args()
    if PRELOAD not in os.environ.get("LD_PRELOAD", ""):
        env = dict(os.environ, LD_PRELOAD=f"{PRELOAD}:{os.environ.get('LD_PRELOAD', '')}")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    from qdlpy.units import parse_size

    size = parse_size(args.size)
    spec = f"fulldump?size={args.size}"
    print(f"qdlpy pull of sim:{spec} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory(prefix="qdlpy-bench-") as tmp:
        workdir = Path(tmp)
        bench_tcp(spec, size, workdir)
        for libusb in args.libusb.split(","):
            bench_usb(spec, size, libusb, workdir)
            shutil.rmtree(workdir / f"usb-{libusb}", ignore_errors=True)


if __name__ == "__main__":
    main()
