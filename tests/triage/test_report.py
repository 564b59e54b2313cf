"""``qdlpy report``: one screen, JSON, many targets, grouping, pull folders, build IDs."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_qdlpy
from triage_build import lockless_core, table_folder
from triage_elf import elf_with_build_id
from triage_kring import LocklessRing

import qdlpy
from qdlpy.simulator import kmemdump_image as kimg
from qdlpy.simulator import printk_ring

NO_DEBUGINFOD = {"DEBUGINFOD_URLS": ""}


@pytest.fixture(params=[("arm64", "lockless"), ("x86_64", "lockless"), ("arm64", "legacy")],
                ids=lambda p: "-".join(p))
def sim_folder(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, kimg.KmemdumpSet]:
    arch, printk = request.param
    s = kimg.build(arch, printk=printk)
    return table_folder(tmp_path / "dump", s.table()), s


def test_report_of_a_simulated_panic(sim_folder: tuple[Path, kimg.KmemdumpSet]) -> None:
    folder, s = sim_folder
    rep = qdlpy.report(folder, debuginfod=False)
    k = rep.kernel
    assert (k.release, k.nodename, k.version) == (s.osrelease, "qdlpy-sim", "#1 SMP PREEMPT qdlpy")
    assert k.machine == ("x86_64" if s.arch == "x86_64" else "aarch64")
    assert k.build_id == printk_ring.build_id(f"6.1.0-qdlpy-{s.arch}")
    assert rep.panic_line == printk_ring.PANIC_LINE
    inc = rep.incident
    assert inc is not None and inc.kind == "oops"
    assert inc.frames[0].lstrip().startswith("sim_wdog_")  # the trace that follows "Call trace"
    top = "sim_wdog_pet" if s.arch == "arm64" else "sim_wdog_work"  # x86: RIP is not a frame
    assert rep.signature is not None and f"{top} [qcom_sim_wdog]" in rep.signature.text
    assert rep.taint is not None and rep.taint.letters == "WO"
    assert rep.taint.mask == printk_ring.TAINTED_MASK and "tainted_mask" in rep.taint.source
    assert rep.uptime_s == pytest.approx(rep.log.records[-1].ts_nsec / 1e9)  # type: ignore[union-attr]
    assert rep.last_lines()[-1].endswith("Memory Limit: none")
    assert {r.name for r in rep.regions if r.status == "present"} >= {"init_uts_ns",
                                                                      "tainted_mask"}
    assert not [r for r in rep.regions if r.status != "present"]


def test_the_signature_ignores_what_varies_between_occurrences() -> None:
    from qdlpy.triage.incidents import find_incidents
    from qdlpy.triage.records import Record
    from qdlpy.triage.signature import signature

    def sig(pid: int, cpu: int, addr: int, off: int) -> str:
        lines = [f"Unable to handle kernel paging request at virtual address {addr:016x}",
                 f"Internal error: Oops: 96000004 [#{cpu}] PREEMPT SMP",
                 f"CPU: {cpu} PID: {pid} Comm: kworker/{cpu}:1 Tainted: G W 6.1 #1",
                 "Call trace:", " dump_backtrace+0x0/0x1e0", f" foo_read+0x{off:x}/0x80 [foo]",
                 " vfs_read+0xa0/0x1c0", " ksys_read+0x6c/0xf0", "Code: 1 2 3",
                 "---[ end trace 0000000000000000 ]---",
                 "Kernel panic - not syncing: Oops: Fatal exception"]
        recs = [Record(i, 10**9 * pid + i, ln.encode()) for i, ln in enumerate(lines)]
        (inc,) = find_incidents(recs)
        assert inc.panic_line is not None and inc.kind == "oops"
        return signature(inc).text

    a, b = sig(100, 1, 0xDEAD0000, 0x1C), sig(4321, 7, 0xBEEF1234, 0x20)
    assert a == b
    assert "ADDR" in a and "foo_read [foo] < vfs_read < ksys_read" in a
    assert "dump_backtrace" not in a


def test_cli_screen_and_json(tmp_path: Path) -> None:
    s = kimg.build("arm64")
    folder = table_folder(tmp_path / "dump", s.table())
    proc = run_qdlpy("report", folder, env=NO_DEBUGINFOD)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for want in (s.osrelease, "node qdlpy-sim", printk_ring.PANIC_LINE, "Call trace:",
                 "sim_wdog_pet+0x1c/0x60 [qcom_sim_wdog]", "WO: WARN, OOT_MODULE",
                 "last log lines:", "Memory Limit: none", "123.457788 s"):
        assert want in out, want
    doc = json.loads(run_qdlpy("report", "--json", folder, env=NO_DEBUGINFOD).stdout)
    assert doc["schema"] == "qdlpy.report/1" and doc["panic_line"] == printk_ring.PANIC_LINE
    assert doc["incident"]["call_trace"][0].strip().startswith("sim_wdog_pet")
    assert doc["log"]["layout"] == "lockless" and doc["taint"]["letters"] == "WO"


def test_a_missing_log_region_says_what_it_costs(tmp_path: Path) -> None:
    s = kimg.build("arm64")
    folder = table_folder(tmp_path / "dump",
                          [r for r in s.table() if r.filename != "md_Kprb_data27.BIN"])
    proc = run_qdlpy("report", folder, env=NO_DEBUGINFOD)
    assert proc.returncode == 0
    assert "missing: prb_data" in proc.stdout and "no log: prb_data missing" in proc.stdout
    assert "log       none:" in proc.stdout


def _crash_core(tmp_path: Path, name: str, func: str, pid: int, addr: int) -> Path:
    ring = LocklessRing(5, 12)
    lines = ["Booting", (f"Unable to handle kernel NULL pointer dereference at virtual address "
             f"{addr:016x}"), "Internal error: Oops: 96000005 [#1] SMP",
             f"CPU: {pid % 8} PID: {pid} Comm: sh Not tainted 6.1.0 #1", "Call trace:",
             f" {func}+0x{pid % 64:x}/0x40", " vfs_write+0xc8/0x2b0", " ksys_write+0x6c/0x100",
             "---[ end trace 0000000000000000 ]---",
             "Kernel panic - not syncing: Oops: Fatal exception"]
    for i, text in enumerate(lines):
        ring.write(text.encode(), pid * 1000 + i)
    path = tmp_path / f"{name}.elf"
    path.write_bytes(lockless_core(ring))
    return path


def test_many_targets_table_json_lines_and_groups(tmp_path: Path) -> None:
    dumps = [_crash_core(tmp_path, f"a{i}", "sysrq_handle_crash", 100 + 37 * i, 0x10 * i)
             for i in range(3)]
    dumps += [_crash_core(tmp_path, "b0", "ext4_write", 55, 0)]
    table = run_qdlpy("report", *dumps, env=NO_DEBUGINFOD)
    assert table.returncode == 0 and all(d.name in table.stdout for d in dumps)
    lines = run_qdlpy("report", "--json", *dumps, env=NO_DEBUGINFOD).stdout.splitlines()
    docs = [json.loads(x) for x in lines]
    assert [d["schema"] for d in docs] == ["qdlpy.report/1"] * 4
    assert len({d["signature"]["id"] for d in docs}) == 2
    grouped = run_qdlpy("report", "--group", "--json", *dumps, env=NO_DEBUGINFOD)
    groups = [json.loads(x) for x in grouped.stdout.splitlines()]
    assert [g["count"] for g in groups] == [3, 1]
    assert groups[0]["schema"] == "qdlpy.report-group/1"
    assert "sysrq_handle_crash" in groups[0]["signature"]["text"]
    text = run_qdlpy("report", "--group", *dumps, env=NO_DEBUGINFOD).stdout
    assert "   3 dump(s)" in text and "   1 dump(s)" in text


def test_one_unreadable_target_among_many(tmp_path: Path) -> None:
    good = _crash_core(tmp_path, "good", "f", 1, 0)
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"not an ELF at all")
    proc = run_qdlpy("report", "--json", good, bad, env=NO_DEBUGINFOD)
    docs = [json.loads(x) for x in proc.stdout.splitlines()]
    assert proc.returncode == 10 and [d["status"] for d in docs] == ["ok", "error"]


def test_vmlinux_dir_finds_the_build_id(tmp_path: Path) -> None:
    s = kimg.build("x86_64")
    folder = table_folder(tmp_path / "dump", s.table())
    want = printk_ring.build_id(f"6.1.0-qdlpy-{s.arch}")
    (tmp_path / "syms" / "other").mkdir(parents=True)
    (tmp_path / "syms" / "other" / "vmlinux-old").write_bytes(elf_with_build_id(b"\x01" * 20))
    (tmp_path / "syms" / "vmlinux-6.1.0").write_bytes(elf_with_build_id(bytes.fromhex(want)))
    rep = qdlpy.report(folder, vmlinux_dirs=[tmp_path / "syms"], debuginfod=False)
    assert rep.build_id_lookup is not None
    assert rep.build_id_lookup.vmlinux == str(tmp_path / "syms" / "vmlinux-6.1.0")
    proc = run_qdlpy("report", folder, "--vmlinux-dir", tmp_path / "syms", env=NO_DEBUGINFOD)
    assert f"vmlinux: {tmp_path / 'syms' / 'vmlinux-6.1.0'}" in proc.stdout


@pytest.fixture
def debuginfod_server() -> Iterator[tuple[str, list[str]]]:
    """A debuginfod stand-in: serves /buildid/<known>/debuginfo, 404 otherwise."""
    known = printk_ring.build_id("6.1.0-qdlpy-arm64")
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            found = self.path == f"/buildid/{known}/debuginfo"
            self.send_response(200 if found else 404)
            self.end_headers()
            if found:
                self.wfile.write(b"\x7fELF" + bytes(4096))

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_debuginfod_is_asked_where_configured(tmp_path: Path,
                                              debuginfod_server: tuple[str, list[str]]) -> None:
    url, asked = debuginfod_server
    arm = table_folder(tmp_path / "arm", kimg.build("arm64").table())
    x86 = table_folder(tmp_path / "x86", kimg.build("x86_64").table())
    env = {"DEBUGINFOD_URLS": url}
    doc = json.loads(run_qdlpy("report", "--json", arm, env=env).stdout)
    assert doc["build_id_lookup"]["debuginfod"][0]["status"] == "found"
    doc = json.loads(run_qdlpy("report", "--json", x86, env=env).stdout)
    assert doc["build_id_lookup"]["debuginfod"][0]["status"] == "not found"
    run_qdlpy("report", "--no-debuginfod", arm, env=env)
    assert len(asked) == 2


def test_pull_writes_dmesg_and_report_and_shows_the_panic(tmp_path: Path) -> None:
    out = tmp_path / "pulled"
    proc = run_qdlpy("pull", "--transport", "sim:kmemdump?arch=x86_64", "-o", out,
                     "--progress", "none", env=NO_DEBUGINFOD)
    assert proc.returncode == 0, proc.stderr
    assert f"panic: {printk_ring.PANIC_LINE}" in proc.stderr
    dmesg = (out / "dmesg.txt").read_bytes()
    assert dmesg == qdlpy.dmesg(out / "minidump.elf").text()
    rep = json.loads((out / "report.json").read_text())
    assert rep["schema"] == "qdlpy.report/1" and rep["panic_line"] == printk_ring.PANIC_LINE
    assert rep["pull"]["status"] == "ok" and rep["device"]["transport"].startswith("sim:")
    again = json.loads(run_qdlpy("report", "--json", out, env=NO_DEBUGINFOD).stdout)
    assert again["pull"]["status"] == "ok"
    assert again["device"]["transport"] == rep["device"]["transport"]
    screen = run_qdlpy("report", out, env=NO_DEBUGINFOD).stdout
    assert "device    " in screen and "pull      ok (55 complete)" in screen
    quiet = tmp_path / "quiet"
    proc = run_qdlpy("pull", "--transport", "sim:kmemdump", "-o", quiet, "--progress", "none",
                     "--no-report")
    assert proc.returncode == 0 and not (quiet / "dmesg.txt").exists()
    assert not (quiet / "report.json").exists() and (quiet / "minidump.elf").is_file()
