"""Pull throughput and peak RSS, each beside a baseline measured in the same run.

Paths measured, at each size (default 256M and 4G):

* ``sim``: ``qdlpy pull -t sim:fulldump?size=S`` (in process) vs. a baseline that drives
  the same simulated device with bare MEMORY_READ packets and discards the bytes;
* ``tcp``: ``qdlpy pull -t tcp:...`` against ``qdlpy simulate`` vs. a bare socket client
  that does the minimal handshake and reads the same bytes with the same request size.

Each pull runs in its own process so its peak RSS (ru_maxrss) is its own. The pull side
includes hashing, file writes, fsync and the manifest; the baselines do none of that.
Prints a table; nothing is asserted (benchmarks report, tests assert).

    python bench/bench_pull.py [--sizes 256M,4G] [--chunk 512K] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qdlpy.protocols.packets import HelloResp, MemoryRead64, Reset, build_packet, parse_packet
from qdlpy.units import parse_size

QDLPY = [sys.executable, "-P", "-m", "qdlpy.cli"]  # -P: never the checkout's qdlpy/ folder


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run cmd; return (seconds, peak RSS in KiB of that process, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return secs, usage.ru_maxrss, out


BASELINE_SIM = r"""
import sys, time
from qdlpy.transport.sim import SimTransport
from qdlpy.session import SaharaClient
from qdlpy.protocols.host import plan_reads
t = SimTransport(sys.argv[1]); t.open()
c = SaharaClient(t)
table = c.open_memory_debug()
chunk = int(sys.argv[2])
model = t.model
t0 = time.perf_counter(); n = 0
from qdlpy.protocols.packets import MemoryRead64, build_packet
for r in table.regions:
    for a, l in plan_reads(r.base, r.length, chunk):
        model.host_write(build_packet(MemoryRead64(a, l)))
        while l > 0:
            d = model.next_transfer(); l -= len(d); n += len(d)
print(n, time.perf_counter() - t0)
"""


def tcp_baseline(port: int, chunk: int) -> tuple[int, float]:
    """Bare socket: handshake, table, then MEMORY_READ64 requests; bytes discarded."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv_exact(n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            b = s.recv(n - len(out))
            if not b:
                raise SystemExit("simulator closed the connection")
            out += b
        return bytes(out)

    hello = parse_packet(recv_exact(0x30))
    s.sendall(build_packet(HelloResp(mode=2)))
    offer = parse_packet(recv_exact(0x18))
    s.sendall(build_packet(MemoryRead64(offer.table_address, offer.table_length)))  # type: ignore[union-attr]
    table = recv_exact(offer.table_length)  # type: ignore[union-attr]
    entries = [struct.unpack_from("<QQQ", table, i) for i in range(0, len(table), 64)]
    buf = bytearray(chunk + 65536)
    view = memoryview(buf)
    t0 = time.perf_counter()
    total = 0
    for _pref, base, length in entries:
        off = 0
        while off < length:
            n = min(chunk, length - off)
            s.sendall(build_packet(MemoryRead64(base + off, n)))
            left = n
            while left:
                got = s.recv_into(view, min(left, len(buf)))
                if not got:
                    raise SystemExit("simulator closed the connection")
                left -= got
            off += n
            total += n
    secs = time.perf_counter() - t0
    # RESET so `simulate --respawn` brings up a fresh device: the pull that follows then
    # gets its HELLO at once instead of re-provoking one (a 1 s wait that is not transfer).
    s.sendall(build_packet(Reset()))
    recv_exact(8)
    s.close()
    del hello
    return total, secs


def start_simulator(spec: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([*QDLPY, "simulate", "--scenario", spec, "--respawn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("listening on tcp:"):
        raise SystemExit(f"simulate did not start: {line!r}")
    return proc, int(line.strip().rsplit(":", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256M,4G")
    ap.add_argument("--chunk", default="512K")
    ap.add_argument("--dir", default=None, help="where pulled data goes (needs 2x the size)")
    args = ap.parse_args()
    chunk = parse_size(args.chunk)
    rows = []
    for size_text in args.sizes.split(","):
        spec = f"fulldump?size={size_text}"
        work = Path(tempfile.mkdtemp(prefix="qdlpy-bench-", dir=args.dir))
        try:
            # sim: baseline then pull (each in its own process)
            _, _, out = run_measured([sys.executable, "-P", "-c", BASELINE_SIM, spec, str(chunk)])
            n_b, t_b = out.split()
            secs_p, rss_p, out = run_measured([*QDLPY, "-q", "pull", "-t", f"sim:{spec}", "-o",
                                               str(work / "sim"), "--no-elf", "--after", "none",
                                               "--chunk-size", str(chunk), "--json"])
            total = int(n_b)
            rows.append(("sim", size_text, total / float(t_b) / 1e6, pull_rate(out),
                         total / secs_p / 1e6, rss_p, total))
            shutil.rmtree(work / "sim")
            # tcp: bare socket then pull, against the same simulate process (respawned device)
            sim, port = start_simulator(spec)
            try:
                n_t, t_t = tcp_baseline(port, chunk)
                secs_p2, rss_p2, out2 = run_measured([*QDLPY, "-q", "pull", "-t",
                                                      f"tcp:127.0.0.1:{port}", "-o",
                                                      str(work / "tcp"), "--no-elf", "--after",
                                                      "none", "--chunk-size", str(chunk),
                                                      "--json"])
            finally:
                sim.terminate()
                sim.wait()
            rows.append(("tcp", size_text, n_t / t_t / 1e6, pull_rate(out2), n_t / secs_p2 / 1e6,
                         rss_p2, n_t))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"chunk {chunk} bytes; requests per GiB: {(1 << 30) // chunk}")
    print("pull MB/s: inside pull() (handshake to last fsync); wall: the whole process")
    print(f"{'path':5} {'size':>6} {'baseline MB/s':>14} {'pull MB/s':>10} {'ratio':>6} "
          f"{'wall MB/s':>10} {'pull peak RSS':>14}")
    for path, size_text, base, rate, wall, rss_p, _total in rows:
        print(f"{path:5} {size_text:>6} {base:14.1f} {rate:10.1f} {rate / base:6.2f} "
              f"{wall:10.1f} {rss_p / 1024:11.1f} MiB")


def pull_rate(json_text: str) -> float:
    import json

    stats = json.loads(json_text)["stats"]
    return float(stats["bytes_read"]) / float(stats["seconds"]) / 1e6


if __name__ == "__main__":
    main()
