"""The simulated device's kernel log: a boot, a warning, an oops and the panic it caused,
laid out as the kernel's printk leaves it in memory.

Two layouts: the lockless ring of 5.10+ (``struct printk_ringbuffer`` with its descriptor,
info and text arrays, 64-bit little-endian, as in 6.1) and the record ``log_buf`` of 3.5 to
5.9. The ring is computed from the final state the kernel's writer would reach after
writing every line in order (ids, logical positions with laps, descriptors recycled and
text blocks overwritten when the arrays are full); it shares nothing with qdlpy's readers,
which the tests check against vmcore-dmesg on these bytes.

``story(arch, release)`` is the log; ``lockless(...)``/``log_buf(...)`` lay it out;
``vmcoreinfo_lines`` are the keys a 6.1 kernel exports for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct

__all__ = ["Line", "story", "LocklessImage", "lockless", "LegacyImage", "log_buf",
           "lockless_vmcoreinfo", "legacy_vmcoreinfo", "taint_regions", "build_id",
           "PANIC_LINE", "TAINTED_MASK"]

PANIC_LINE = "Kernel panic - not syncing: Oops: Fatal exception"
TAINTED_MASK = (1 << 9) | (1 << 12)  # W (a warning was printed) and O (out-of-tree module)
_TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"
_CPU_CALLER = 0x80000000
_DESC_BITS = 62  # 64-bit state word: 2 state bits on top of the id
_FINALIZED, _COMMITTED, _REUSABLE = 2, 1, 3
_FAILED = 1


@dataclasses.dataclass(frozen=True)
class Line:
    ts_ns: int
    caller: int  # printk caller id: thread id, or CPU number | 0x80000000
    text: str


def build_id(release: str) -> str:
    """A stable fake GNU build ID for a simulated release."""
    return hashlib.sha1(release.encode()).hexdigest()


def _boot(arch: str, release: str) -> list[str]:
    if arch == "x86_64":
        first = ["Linux version {r} (qdlpy@sim) (gcc 12.2.0) #1 SMP PREEMPT",
                 "Command line: console=ttyS0 qcom_scm.download_mode=mini",
                 "BIOS-provided physical RAM map:"]
    else:
        first = ["Booting Linux on physical CPU 0x0000000000 [0x51df805e]",
                 "Linux version {r} (qdlpy@sim) (gcc 12.2.0) #1 SMP PREEMPT",
                 "Machine model: Qualcomm Technologies, Inc. QDLPY simulated board"]
    lines = [t.format(r=release) for t in first]
    lines += [f"Zone ranges: DMA [mem 0x{base:016x}-0x{base + 0x3FFFFF:016x}]"
              for base in range(0x80000000, 0x81800000, 0x400000)]
    lines += ["Kernel command line: console=ttyMSM0,115200n8 qcom_scm.download_mode=mini",
              "printk: log_buf_len individual max cpu contribution: 4096 bytes",
              "Dentry cache hash table entries: 262144 (order: 9, 2097152 bytes, linear)",
              "Memory: 3891220K/4194304K available (14336K kernel code, 2150K rwdata)",
              "rcu: Preemptible hierarchical RCU implementation.",
              "NR_IRQS: 64, nr_irqs: 64, preallocated irqs: 0"]
    lines += [f"CPU{c}: Booted secondary processor 0x000000{c}00 [0x51df805e]"
              for c in range(1, 8)]
    lines += [f"probe of {dev} returned 0 after {12 + 7 * i} usecs"
              for i, dev in enumerate(("qcom-smem", "qcom-scm", "qcom,minidump", "ufshc",
                                       "qcom-pcie", "qcom-geni-se", "spmi-pmic-arb",
                                       "qcom-rpmh-regulator", "arm-smmu", "qcom-ipcc"))]
    # initcall_debug output: enough lines that the oldest ones have left the ring.
    lines += [f"initcall {name}_{i}_init+0x0/0x{0x40 + 4 * i:x} returned 0 after {3 * i + 1} usecs"
              for i, name in zip(range(160), ("qcom_smd", "rpmsg", "glink", "spmi", "ipa",
                                              "msm_drm", "cnss", "q6asm") * 20)]
    lines += [f"random: crng init done, {n} bits of entropy" for n in (128, 256)]
    lines += [f"usb 1-1: new high-speed USB device number {n} using xhci-hcd" for n in range(2, 9)]
    lines += ["qcom_sim_wdog: loading out-of-tree module taints kernel.",
              "qcom_sim_wdog: caf\u00e9 \u2013 watchdog ready\t(timeout 10 s)"]
    return lines


def _warning(arch: str, release: str) -> list[str]:
    taint = f"Tainted: G           O       {release} #1"
    return [
        "------------[ cut here ]------------",
        ("WARNING: CPU: 1 PID: 87 at drivers/soc/qcom/sim_wdog.c:42 "
        "sim_wdog_probe+0x44/0x80 [qcom_sim_wdog]"),
        "Modules linked in: qcom_sim_wdog(O)",
        f"CPU: 1 PID: 87 Comm: kworker/1:2 {taint}",
        "Call trace:" if arch != "x86_64" else "Call Trace:",
        " sim_wdog_probe+0x44/0x80 [qcom_sim_wdog]",
        " platform_probe+0x68/0xe0",
        " really_probe+0xbc/0x2e0",
        " driver_probe_device+0x3c/0x160",
        "---[ end trace 0000000000000000 ]---",
    ]


def _oops_arm64(release: str) -> list[str]:
    return [
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010",
        "Mem abort info:", "  ESR = 0x0000000096000006",
        "  EC = 0x25: DABT (current EL), IL = 32 bits",
        "  FSC = 0x06: level 2 translation fault",
        "Internal error: Oops: 0000000096000006 [#1] PREEMPT SMP",
        "Modules linked in: qcom_sim_wdog(O)",
        f"CPU: 3 PID: 1234 Comm: kworker/3:1 Tainted: G        W  O       {release} #1",
        "Hardware name: Qualcomm Technologies, Inc. QDLPY simulated board (DT)",
        "Workqueue: events sim_wdog_work [qcom_sim_wdog]",
        "pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
        "pc : sim_wdog_pet+0x1c/0x60 [qcom_sim_wdog]",
        "lr : sim_wdog_work+0x30/0x80 [qcom_sim_wdog]",
        "sp : ffff80000c3dbd50",
        "x29: ffff80000c3dbd50 x28: 0000000000000000 x27: ffff000080e1c0c0",
        "Call trace:",
        " sim_wdog_pet+0x1c/0x60 [qcom_sim_wdog]",
        " sim_wdog_work+0x30/0x80 [qcom_sim_wdog]",
        " process_one_work+0x1e0/0x450",
        " worker_thread+0x74/0x420",
        " kthread+0x10c/0x120",
        " ret_from_fork+0x10/0x20",
        "Code: a9bf7bfd 910003fd f9400800 b9401000 (b9401001) ",
        "---[ end trace 0000000000000000 ]---",
    ]


def _oops_x86(release: str) -> list[str]:
    return [
        "BUG: kernel NULL pointer dereference, address: 0000000000000010",
        "#PF: supervisor read access in kernel mode",
        "#PF: error_code(0x0000) - not-present page",
        "PGD 0 P4D 0 ",
        "Oops: 0000 [#1] PREEMPT SMP NOPTI",
        f"CPU: 3 PID: 1234 Comm: kworker/3:1 Tainted: G        W  O       {release} #1",
        "Workqueue: events sim_wdog_work [qcom_sim_wdog]",
        "RIP: 0010:sim_wdog_pet+0x1c/0x60 [qcom_sim_wdog]",
        "RSP: 0018:ffffc900001bfe58 EFLAGS: 00010246",
        "Call Trace:",
        " <TASK>",
        " sim_wdog_work+0x30/0x80 [qcom_sim_wdog]",
        " process_one_work+0x1e0/0x450",
        " worker_thread+0x74/0x420",
        " kthread+0x10c/0x120",
        " ret_from_fork+0x22/0x30",
        " </TASK>",
        "CR2: 0000000000000010",
        "---[ end trace 0000000000000000 ]---",
    ]


def story(arch: str, release: str) -> list[Line]:
    """The whole log: boot, a warning, an oops, the panic (timestamps rise, callers vary)."""
    boot = _boot(arch, release)
    out: list[Line] = []
    ts = 0
    for i, text in enumerate(boot):
        out.append(Line(ts, (_CPU_CALLER | 0) if i < 3 else 1 + i % 40, text))
        ts += 18_000_000 + 1_000_003 * (i % 11)
    ts = 9_876_543_210
    for text in _warning(arch, release):
        out.append(Line(ts, 87, text))
        ts += 51_000
    ts = 123_456_789_012
    oops = _oops_x86(release) if arch == "x86_64" else _oops_arm64(release)
    tail = [PANIC_LINE, "SMP: stopping secondary CPUs", "Kernel Offset: disabled",
            "Memory Limit: none"]
    for text in oops + tail:
        out.append(Line(ts, 1234 if text != tail[1] else _CPU_CALLER | 3, text))
        ts += 37_000
    return out


# --- the lockless ring ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LocklessImage:
    header: bytes  # struct printk_ringbuffer (88 bytes)
    descs: bytes
    infos: bytes
    data: bytes
    dropped: int  # how many of the oldest lines the ring no longer holds


_INFO_SIZE, _DESC_SIZE = 88, 24


def _place(lines: list[bytes], size: int) -> list[tuple[int, int]]:
    """(begin, next) logical positions of each text block, from the first lap at -size."""
    pos = (1 << 64) - size
    out = []
    for text in lines:
        blk = (8 + len(text) + 7) & ~7
        begin, end = pos, pos + blk
        # 6.1's rule: a block whose end position lies in the next lap (even exactly at its
        # start) is stored at the start of the ring. Kernels from 2025 let a block end
        # exactly at the end of the ring; vmcore-dmesg misreads those.
        if begin // size != end // size:
            end = (end // size) * size + blk
        out.append((begin & ((1 << 64) - 1), end & ((1 << 64) - 1)))
        pos = end
    return out


def lockless(lines: list[Line], count: int, size: int, *, descs_va: int, infos_va: int,
             data_va: int) -> LocklessImage:
    texts = [ln.text.encode() for ln in lines]
    blocks = _place(texts, size)
    last_next = blocks[-1][1]
    first_id = (1 << _DESC_BITS) - count  # the id after the initial DESC0_ID
    data = bytearray(size)
    descs = bytearray(count * _DESC_SIZE)
    infos = bytearray(count * _INFO_SIZE)
    # The initial descriptor (slot count - 1): reusable, data-less, until a record takes it.
    struct.pack_into("<QQQ", descs, (count - 1) * _DESC_SIZE,
                     (_REUSABLE << _DESC_BITS) | (first_id - 1), _FAILED, _FAILED)
    struct.pack_into("<Q", infos, 0, (-count) & ((1 << 64) - 1))
    n = len(lines)
    # A text block survives if no later block pushed the data tail past it.
    data_tail = ((last_next - size) & ((1 << 64) - 1))
    id_mask = (1 << _DESC_BITS) - 1  # ids wrap within the 62 bits under the state
    for k, (ln, text, (begin, nxt)) in enumerate(zip(lines, texts, blocks)):
        rid = (first_id + k) & id_mask
        wrapped = ((nxt - begin) & ((1 << 64) - 1)) > ((8 + len(text) + 7) & ~7)
        at = 0 if wrapped else begin % size
        data[begin % size : begin % size + 8] = rid.to_bytes(8, "little")
        data[at : at + 8] = rid.to_bytes(8, "little")
        data[at + 8 : at + 8 + len(text)] = text
        if k < n - count:
            continue  # the slot went to a newer record
        intact = ((begin - data_tail) & ((1 << 64) - 1)) < (1 << 63)
        state = (_COMMITTED if k == n - 1 else _FINALIZED) if intact else _REUSABLE
        slot = rid % count
        struct.pack_into("<QQQ", descs, slot * _DESC_SIZE, (state << _DESC_BITS) | rid,
                         begin, nxt)
        struct.pack_into("<QQHBBI", infos, slot * _INFO_SIZE, k, ln.ts_ns, len(text), 0,
                         (6 << 5) | 2, ln.caller)
    head_id = (first_id + n - 1) & id_mask
    # The descriptor tail moves only when a slot is needed again: it stays on the initial
    # descriptor until the ring's first lap is full.
    tail_id = (head_id - count + 1) & id_mask if n >= count else first_id - 1
    tail_lpos = next((b for k, (b, _) in enumerate(blocks) if k >= n - count and
                      ((b - data_tail) & ((1 << 64) - 1)) < (1 << 63)), last_next)
    header = struct.pack("<I4xQQQQQI4xQQQQ", count.bit_length() - 1, descs_va, infos_va,
                         head_id, tail_id, head_id, size.bit_length() - 1, data_va, last_next,
                         tail_lpos, 0)
    dropped = sum(1 for k in range(n) if k < n - count or ((blocks[k][0] - data_tail)
                                                           & ((1 << 64) - 1)) >= (1 << 63))
    return LocklessImage(header, bytes(descs), bytes(infos), bytes(data), dropped)


def lockless_vmcoreinfo(prb_va: int, static_va: int) -> list[str]:
    """The printk keys of a 6.1 arm64/x86_64 VMCOREINFO (log_buf_vmcoreinfo_setup)."""
    keys = [
        f"SYMBOL(prb)={prb_va:x}", f"SYMBOL(printk_rb_static)={static_va:x}",
        "SIZE(printk_ringbuffer)=88", "OFFSET(printk_ringbuffer.desc_ring)=0",
        "OFFSET(printk_ringbuffer.text_data_ring)=48", "OFFSET(printk_ringbuffer.fail)=80",
        "SIZE(prb_desc_ring)=48", "OFFSET(prb_desc_ring.count_bits)=0",
        "OFFSET(prb_desc_ring.descs)=8", "OFFSET(prb_desc_ring.infos)=16",
        "OFFSET(prb_desc_ring.head_id)=24", "OFFSET(prb_desc_ring.tail_id)=32",
        "SIZE(prb_desc)=24", "OFFSET(prb_desc.state_var)=0",
        "OFFSET(prb_desc.text_blk_lpos)=8", "SIZE(prb_data_blk_lpos)=16",
        "OFFSET(prb_data_blk_lpos.begin)=0", "OFFSET(prb_data_blk_lpos.next)=8",
        "SIZE(printk_info)=88", "OFFSET(printk_info.seq)=0", "OFFSET(printk_info.ts_nsec)=8",
        "OFFSET(printk_info.text_len)=16", "OFFSET(printk_info.caller_id)=20",
        "OFFSET(printk_info.dev_info)=24", "SIZE(dev_printk_info)=64",
        "SIZE(prb_data_ring)=32", "OFFSET(prb_data_ring.size_bits)=0",
        "OFFSET(prb_data_ring.data)=8", "OFFSET(prb_data_ring.head_lpos)=16",
        "OFFSET(prb_data_ring.tail_lpos)=24", "SIZE(atomic_long_t)=8",
        "OFFSET(atomic_long_t.counter)=0",
    ]
    return keys


# --- the older log_buf ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LegacyImage:
    buf: bytes
    first_idx: int
    next_idx: int
    dropped: int


_LOG_HEADER = 16  # struct printk_log without caller_id; records aligned to 4


def log_buf(lines: list[Line], size: int) -> LegacyImage:
    """Records stored in order; a record that does not fit before the end (with room for
    one more header) starts a new lap after a zeroed header; the oldest records are dropped
    while the new one (and the header after it) would overlap them."""
    buf = bytearray(size)
    live: list[tuple[int, int]] = []  # (offset, length) of the records kept, oldest first
    nxt = dropped = 0
    for ln in lines:
        text = ln.text.encode()
        rec = (_LOG_HEADER + len(text) + 3) & ~3
        if nxt + rec + _LOG_HEADER > size:
            buf[nxt : nxt + _LOG_HEADER] = bytes(_LOG_HEADER)
            nxt = 0
        window = (nxt, nxt + rec + _LOG_HEADER)
        while live and live[0][0] < window[1] and live[0][0] + live[0][1] > window[0]:
            live.pop(0)
            dropped += 1
        buf[nxt : nxt + rec] = (struct.pack("<QHHHBB", ln.ts_ns, rec, len(text), 0, 0, 0xC2)
                                + text).ljust(rec, b"\0")
        live.append((nxt, rec))
        nxt += rec
    return LegacyImage(bytes(buf), live[0][0], nxt, dropped)


def legacy_vmcoreinfo(symbols: dict[str, int]) -> list[str]:
    return [*(f"SYMBOL({k})={v:x}" for k, v in symbols.items()),
            "SIZE(printk_log)=16", "OFFSET(printk_log.ts_nsec)=0", "OFFSET(printk_log.len)=8",
            "OFFSET(printk_log.text_len)=10"]


def taint_regions() -> dict[str, bytes]:
    """tainted_mask (8 bytes) and the 6.1 taint_flags table ({c_true, c_false, module})."""
    flags = b"".join(bytes([ord(c), ord("G" if c == "P" else " "), c in "PFOE"])
                     for c in _TAINT_LETTERS)
    return {"tainted_mask": TAINTED_MASK.to_bytes(8, "little"), "taint_flags": flags}


# --- kmemdump region sets ------------------------------------------------------------------

RING_COUNT, RING_SIZE = 128, 16384  # prb_descs = 128 * 24, prb_infos = 128 * 88, prb_data
LEGACY_NAMES = {"printk_rb_static": "log_buf", "printk_rb_dynamic": "log_buf_len",
                "prb": "log_first_idx", "prb_descs": "log_next_idx", "prb_infos": "__log_buf"}
_LEGACY_SIZES = {"log_buf": 8, "log_buf_len": 4, "log_first_idx": 4, "log_next_idx": 4,
                 "__log_buf": RING_SIZE}
_SIZES = {"prb_descs": RING_COUNT * _DESC_SIZE, "prb_infos": RING_COUNT * _INFO_SIZE,
          "prb_data": RING_SIZE}


def kmemdump_specs(specs: list[tuple[int, str, int, str]],
                   style: str) -> list[tuple[int, str, int, str]]:
    """The kmemdump region list with the log's regions sized for the ring (``lockless``),
    or registering an older kernel's log_buf and its indices instead (``legacy``)."""
    out = []
    for rid, name, size, pool in specs:
        if style == "legacy" and name in LEGACY_NAMES:
            new = LEGACY_NAMES[name]
            out.append((rid, new, _LEGACY_SIZES[new], pool))
        elif style == "legacy" and name == "prb_data":
            continue
        else:
            out.append((rid, name, _SIZES.get(name, size), pool))
    return out


def kmemdump_keys(va: dict[str, int], release: str, style: str) -> list[str]:
    """VMCOREINFO lines for the log (plus BUILD-ID)."""
    keys = [f"BUILD-ID={build_id(release)}"]
    if style == "legacy":
        return keys + legacy_vmcoreinfo({k: va[k] for k in ("log_buf", "log_buf_len",
                                                            "log_first_idx", "log_next_idx")})
    return keys + lockless_vmcoreinfo(va["prb"], va["printk_rb_static"])


def kmemdump_contents(arch: str, release: str, va: dict[str, int],
                      style: str) -> dict[str, bytes]:
    """Region name -> bytes for the log's regions, tainted_mask and taint_flags."""
    lines = story(arch, release)
    out = dict(taint_regions())
    if style == "legacy":
        img = log_buf(lines, RING_SIZE)
        out.update(log_buf=va["__log_buf"].to_bytes(8, "little"),
                   log_buf_len=RING_SIZE.to_bytes(4, "little"),
                   log_first_idx=img.first_idx.to_bytes(4, "little"),
                   log_next_idx=img.next_idx.to_bytes(4, "little"), __log_buf=img.buf)
        return out
    ring = lockless(lines, RING_COUNT, RING_SIZE, descs_va=va["prb_descs"],
                    infos_va=va["prb_infos"], data_va=va["prb_data"])
    # printk_rb_static still describes the boot-time ring (its arrays are not dumped).
    static = struct.pack("<I4xQQQQQI4xQQQQ", 5, va["printk_rb_static"] + 0x1000,
                         va["printk_rb_static"] + 0x2000, 0, 0, 0, 12,
                         va["printk_rb_static"] + 0x3000, 0, 0, 0)
    out.update(prb=va["printk_rb_dynamic"].to_bytes(8, "little"), printk_rb_dynamic=ring.header,
               printk_rb_static=static, prb_descs=ring.descs, prb_infos=ring.infos,
               prb_data=ring.data)
    return out


def downstream_contents(arch: str, release: str, style: str) -> dict[str, bytes]:
    """Vendor msm_minidump regions: KLOGBUF/LOG_DESC/LOG_INFO (lockless, no ring header), or
    KLOGBUF as the older log_buf."""
    lines = story(arch, release)
    if style == "legacy":
        return {"KLOGBUF": log_buf(lines, RING_SIZE).buf}
    ring = lockless(lines, RING_COUNT, RING_SIZE, descs_va=0, infos_va=0, data_va=0)
    return {"KLOGBUF": ring.data, "LOG_DESC": ring.descs, "LOG_INFO": ring.infos}
