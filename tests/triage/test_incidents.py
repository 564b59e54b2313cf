"""Panic/oops/warning/lockup/stall extraction and taint decoding on kernel-shaped logs."""

from __future__ import annotations

import pytest

from qdlpy.triage.incidents import find_incidents, primary
from qdlpy.triage.records import Record
from qdlpy.triage.signature import group, signature
from qdlpy.triage.taint import _from_log


def records(*lines: str) -> list[Record]:
    return [Record(i, 1_000_000 * i, ln.encode()) for i, ln in enumerate(lines)]


def test_soft_lockup_with_its_trace() -> None:
    recs = records("ok", "watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [yes:412]",
                   "CPU: 2 PID: 412 Comm: yes Not tainted 6.1.0 #1", "Call Trace:", " <IRQ>",
                   " ? watchdog_timer_fn+0x1b0/0x220", " </IRQ>", " <TASK>",
                   " spin_forever+0x10/0x20 [bad]", " </TASK>", "after")
    (inc,) = find_incidents(recs)
    assert inc.kind == "soft-lockup" and inc.lines[-1] == " </TASK>"
    assert signature(inc).text == ("watchdog: BUG: soft lockup - CPU N stuck for Ns! [yes:N] | "
                                   "spin_forever [bad]")


def test_rcu_stall_hung_task_and_warning_are_found_in_order() -> None:
    recs = records("WARNING: CPU: 0 PID: 1 at mm/slub.c:1 kfree+0x1/0x2",
                   "Call trace:", " kfree+0x1/0x2", " foo+0x3/0x4", "---[ end trace 1 ]---",
                   "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
                   "INFO: task kworker/0:1:33 blocked for more than 120 seconds.",
                   "Watchdog detected hard LOCKUP on cpu 3")
    kinds = [i.kind for i in find_incidents(recs)]
    assert kinds == ["warning", "rcu-stall", "hung-task", "hard-lockup"]
    assert primary(find_incidents(recs)).kind == "hard-lockup"  # type: ignore[union-attr]


def test_panic_without_oops_is_its_own_incident() -> None:
    recs = records("boot", "Kernel panic - not syncing: VFS: Unable to mount root fs",
                   "CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0 #1", "Call trace:",
                   " dump_backtrace+0x0/0x1e0", " panic+0x18c/0x37c", " mount_root+0x1/0x2",
                   " prepare_namespace+0x1/0x2", "---[ end Kernel panic - not syncing ]---")
    (inc,) = find_incidents(recs)
    assert inc.kind == "panic" and inc.panic_line == recs[1].text.decode()
    assert signature(inc).text.endswith("| mount_root < prepare_namespace")


def test_grouping_sorts_by_size() -> None:
    a = signature(find_incidents(records("BUG: x at 0x1", "Call trace:", " f+0x1/0x2"))[0])
    b = signature(find_incidents(records("BUG: y", "Call trace:", " g+0x1/0x2"))[0])
    groups = group([("d1", b), ("d2", a), ("d3", a), ("d4", None)])
    assert groups == [(a, ["d2", "d3"]), (b, ["d1"]), (None, ["d4"])]


@pytest.mark.parametrize("line,letters", [
    ("CPU: 3 PID: 1 Comm: sh Tainted: G        W  O      6.1.0 #1", "WO"),
    ("CPU: 3 PID: 1 Comm: sh Tainted: P     U  D       5.4.0 #1", "PUD"),
    ("CPU: 0 UID: 0 PID: 1 Comm: sh Tainted: [W]=WARN, [O]=OOT_MODULE", "WO"),
    ("CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1", ""),
])
def test_taint_from_the_log(line: str, letters: str) -> None:
    t = _from_log(records("x", line))
    assert t is not None and t.letters == letters
