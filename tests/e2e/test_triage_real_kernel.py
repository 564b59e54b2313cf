"""Triage on a real kernel's memory (the e2e tier's Debian kernels under QEMU, cut into
kmemdump regions): ``qdlpy dmesg`` equals vmcore-dmesg on the same ELF, drgn's printk
helpers (with vmlinux) agree record for record, and ``qdlpy report`` names the kernel and
finds its vmlinux by build ID -- all from the dump alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kernel_case import KernelCase
from qdlpy_cli import qdlpy_executable

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triage"))
from triage_oracle import vmcore_dmesg  # noqa: E402 - the oracle lives with the triage tests

# drgn, given vmlinux, reads the same ring through the kernel's own types.
DRGN_PRINTK = """
import json, sys
import drgn
from drgn.helpers.linux.printk import get_printk_records
prog = drgn.Program()
prog.set_core_dump(sys.argv[2])
prog.load_debug_info([sys.argv[1]])
print(json.dumps([[r.timestamp, r.text.hex()] for r in get_printk_records(prog)]))
"""


def qdlpy(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([qdlpy_executable(), *args], capture_output=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize("target", ["reference", "ordered", "shuffled", "missing"])
def test_dmesg_equals_vmcore_dmesg(case: KernelCase, target: str) -> None:
    """The ELF vmcore-dmesg reads, and the folders assembled in memory (the "missing"
    variant lacks linux_banner, which the log does not need)."""
    want = vmcore_dmesg(case.reference)
    assert case.expected["marker"].encode() in want
    path = case.reference if target == "reference" else case.folder(target)
    proc = qdlpy("dmesg", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == want
    assert proc.stderr == b""


def test_drgn_reads_the_same_records(case: KernelCase) -> None:
    proc = subprocess.run([sys.executable, "-c", DRGN_PRINTK, str(case.vmlinux),
                           str(case.reference)], capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drgn_records = [(ts, bytes.fromhex(text)) for ts, text in json.loads(proc.stdout)]
    doc = json.loads(qdlpy("dmesg", "--json", str(case.reference)).stdout)
    ours = [(r["ts_nsec"], r["text"]) for r in doc["records"]]
    assert len(ours) == len(drgn_records)
    for (ts, text), (dts, dtext) in zip(ours, drgn_records):
        assert ts == dts
        assert text == re.sub(rb"[^\x09-\x0d\x20-\x7e]", lambda m: b"\\x%02x" % m[0][0],
                              dtext).decode("ascii")


def test_report_names_the_kernel_and_finds_vmlinux(case: KernelCase) -> None:
    proc = qdlpy("report", "--json", "--no-debuginfod", "--vmlinux-dir",
                 str(case.vmlinux.parent), str(case.folder("ordered")))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    k = doc["kernel"]
    assert k["release"] == case.expected["osrelease"]
    assert k["nodename"] == case.expected["hostname"]  # set by /init at run time
    assert k["machine"] == ("x86_64" if case.arch.name == "x86_64" else "aarch64")
    assert doc["build_id_lookup"]["vmlinux"] == str(case.vmlinux)
    assert doc["log"]["layout"] == "lockless" and doc["panic_line"] is None
    assert case.expected["marker"] in doc["last_lines"][-1]
    assert doc["uptime_s"] > 0
    present = {r["name"] for r in doc["regions"] if r["status"] == "present"}
    assert {"prb", "prb_descs", "prb_infos", "prb_data", "init_uts_ns"} <= present


def test_report_says_what_the_missing_region_costs(case: KernelCase) -> None:
    doc = json.loads(qdlpy("report", "--json", "--no-debuginfod",
                           str(case.folder("missing"))).stdout)
    missing = {r["name"]: r["cost"] for r in doc["regions"] if r["status"] == "missing"}
    assert list(missing) == ["linux_banner"] and "banner" in missing["linux_banner"]
    assert doc["kernel"]["release"] == case.expected["osrelease"]  # init_uts_ns still has it
