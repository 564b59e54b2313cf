"""Byte-accurate kmemdump-v2 region sets: the regions a Qualcomm device serves in minidump mode.

Recipe: docs/testing.md#synthetic-kmemdump-region-sets. The first region (``md_KELF1.BIN``) is the
kernel's partial ELF core header (docs/formats.md#the-core-image-header), the second
(``md_Kvmcorein2.BIN``) the VMCOREINFO descriptor (docs/formats.md#the-vmcoreinfo-region), every
other kernel region the raw memory of one PT_LOAD; names follow the firmware rule
(docs/formats.md#how-boot-firmware-names-regions) on the backend's ``"K%.8s"`` SMEM names with
``seq_num = id`` (docs/formats.md#the-qualcomm-backend).

A :class:`KmemdumpSet` holds the regions in SMEM (= Sahara table) order, as the simulated
device serves them. Variants cover what a device may hand out (docs/testing.md#variants): shuffled
table, PT_LOAD order != id order (re-registration), corrupt CORE notes, meminspect numbering,
misaligned symbol, 16+ char names, encrypted data and the downstream section-based
``md_KELF_HEADER`` (docs/formats.md#downstream-msm_minidump). Data bytes follow the pattern ``byte i
= (id*7 + i) & 0xFF``.

What a correct assembler builds from such a set is not decided here: the assembler tests
grade against an independent oracle (tests/oracle), and the simulator builds with the leaf
modules (qdlpy.formats) only, never with qdlpy.assemble (qdlpy/simulator/ruff.toml).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from typing import Literal

from qdlpy.formats.coreimage import (
    PRPSINFO_SIZE,
    PRSTATUS_SIZE,
    core_notes,
    header_start,
    note_len,
    vmcoreinfo_note_header,
)
from qdlpy.formats.elf import (
    EHDR_SIZE,
    PF_R,
    PF_W,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHDR_SIZE,
    SHF_WRITE,
    SHT_PROGBITS,
    SHT_STRTAB,
    align4,
    build_ehdr,
    build_phdr,
    build_shdr,
)
from qdlpy.formats.loadcmm import write_load_cmm
from qdlpy.protocols.naming import firmware_name, kernel_smem_name

__all__ = [
    "ArchModel", "ARCHES", "RegionRecord", "LoadSpec", "KmemdumpSet", "build", "build_downstream",
    "extras", "load_cmm_record", "pattern",
]

Arch = Literal["arm64", "x86_64"]
Numbering = Literal["kmemdump", "meminspect"]
SAVE = 1  # OPTIONAL_DEF_SAVE (docs/protocol.md#region-table-formats)
MANDATORY = 2
PSARGS = b"console=ttyMSM0,115200n8 qcom_scm.download_mode=mini"


@dataclasses.dataclass(frozen=True)
class ArchModel:
    """Address model of docs/testing.md#the-address-model: linear map and kernel-image map."""

    machine: int
    prstatus: int
    uname_machine: str
    phys_offset: int  # PA of the start of the linear map
    page_offset: int  # VA of the start of the linear map
    kimage_pa: int
    kimage_va: int
    image_pool: int  # PA where static kernel data is allocated
    linear_pool: int  # PA where dynamic (memblock/kmalloc) regions are allocated

    def linear_va(self, pa: int) -> int:
        return pa - self.phys_offset + self.page_offset

    def image_va(self, pa: int) -> int:
        return pa - self.kimage_pa + self.kimage_va


ARCHES: dict[str, ArchModel] = {
    # arm64, 48-bit VA, KASLR off: PHYS_OFFSET 0x80000000, kernel at PA 0x80200000
    # (docs/testing.md#the-address-model).
    "arm64": ArchModel(183, PRSTATUS_SIZE[183], "aarch64", 0x80000000, 0xFFFF000000000000,
                       0x80200000, 0xFFFF800080000000, 0x81A00000, 0x90000000),
    # x86_64, 4-level paging: direct map at 0xffff888000000000, kernel at PA 16 MiB.
    "x86_64": ArchModel(62, PRSTATUS_SIZE[62], "x86_64", 0, 0xFFFF888000000000,
                        0x1000000, 0xFFFFFFFF81000000, 0x2800000, 0x40000000),
}

# (id, name as in the backend's table or None for "unknown", raw size, pool)
# kmemdump v2 numbering and names: docs/formats.md#region-ids (48/49 never registered).
_KMEMDUMP_V2: list[tuple[int, str, int, str]] = [
    (3, "config", 4112, "image"), (4, "memsect", 4096, "linear"), (5, "totalram", 8, "image"),
    (6, "cpu_possible", 8, "image"), (7, "cpu_present", 8, "image"),
    (8, "cpu_online", 8, "image"), (9, "cpu_active", 8, "image"), (10, "jiffies", 8, "image"),
    (11, "linux_banner", 190, "image"), (12, "nr_threads", 4, "image"),
    (13, "nr_irqs", 4, "image"), (14, "tainted_mask", 8, "image"),
    (15, "taint_flags", 57, "image"), (16, "mem_section", 8, "image"),
    (17, "node_data", 64, "image"), (18, "node_states", 48, "image"),
    (19, "__per_cpu_offset", 512, "image"), (20, "nr_swapfiles", 4, "image"),
    (21, "init_uts_ns", 432, "image"), (22, "printk_rb_static", 88, "image"),
    (23, "printk_rb_dynamic", 88, "image"), (24, "prb", 8, "image"),
    (25, "prb_descs", 3072, "image"), (26, "prb_infos", 2048, "image"),
    (27, "prb_data", 16384, "image"), (28, "runqueues", 3328, "image"),
    (29, "high_memory", 8, "image"), (30, "init_mm", 1088, "image"),
    (31, "init_mm_pgd", 4096, "image"),
    # 32..47: _sinittext ... init_uts_ns_name, not in the Qualcomm name table -> "unknown"
    (32, "unknown", 4, "image"), (33, "unknown", 4, "image"), (34, "unknown", 4, "image"),
    (35, "unknown", 4, "image"), (36, "unknown", 4, "image"), (37, "unknown", 4, "image"),
    (38, "unknown", 4, "image"), (39, "unknown", 8, "image"), (40, "unknown", 2048, "image"),
    (41, "unknown", 3000, "image"), (42, "unknown", 1024, "image"),
    (43, "unknown", 512, "image"), (44, "unknown", 64, "image"),
    (45, "unknown", 1536, "image"), (46, "unknown", 4096, "image"),
    (47, "unknown", 65, "image"),
    # 50+: dynamic ids (mm/sparse.c section arrays, mem_section_usage...)
    (50, "unknown", 4096, "linear"), (51, "unknown", 256, "linear"),
    (52, "unknown", 1024, "linear"), (53, "unknown", 8192, "linear"),
]

# meminspect v3 numbering (docs/formats.md#region-ids): no 48/49 gap, names table of 30, dynamic ids
# from 45 here.
_MEMINSPECT_V3: list[tuple[int, str, int, str]] = [
    (3, "config", 4112, "image"), (4, "totalram", 8, "image"), (5, "cpu_possible", 8, "image"),
    (6, "cpu_present", 8, "image"), (7, "cpu_online", 8, "image"),
    (8, "cpu_active", 8, "image"), (9, "mem_section", 8, "image"), (10, "jiffies", 8, "image"),
    (11, "linux_banner", 190, "image"), (12, "nr_threads", 4, "image"),
    (13, "nr_irqs", 4, "image"), (14, "tainted_mask", 8, "image"),
    (15, "taint_flags", 57, "image"), (16, "node_states", 48, "image"),
    (17, "__per_cpu_offset", 512, "image"), (18, "nr_swapfiles", 4, "image"),
    (19, "init_uts_ns", 432, "image"), (20, "printk_rb_static", 88, "image"),
    (21, "printk_rb_dynamic", 88, "image"), (22, "prb", 8, "image"),
    (23, "prb_descs", 3072, "image"), (24, "prb_infos", 2048, "image"),
    (25, "prb_data", 16384, "image"), (26, "clear_seq", 8, "image"),
    (27, "high_memory", 8, "image"), (28, "init_mm", 1088, "image"),
    (29, "tk_data", 320, "image"),
    *[(i, "unknown", 4 if i < 36 else 1024, "image") for i in range(30, 45)],
    (45, "unknown", 4096, "linear"), (46, "unknown", 256, "linear"),
    (47, "unknown", 2048, "linear"),
]


def pattern(region_id: int, n: int) -> bytes:
    """Deterministic region bytes: byte i = (id*7 + i) & 0xFF
    (docs/testing.md#building-a-region-set)."""
    block = bytes((region_id * 7 + i) & 0xFF for i in range(256))
    return (block * (n // 256 + 1))[:n]


@dataclasses.dataclass(frozen=True)
class RegionRecord:
    """One Sahara table entry plus the bytes of its file."""

    description: str
    filename: str
    base: int  # physical address in the table
    length: int  # table length (a variant's file may differ)
    data: bytes  # the file content
    save_pref: int = SAVE
    region_id: int | None = None



@dataclasses.dataclass(frozen=True)
class LoadSpec:
    """One PT_LOAD of the kernel header, in program-header order."""

    region_id: int
    name: str
    pa: int
    va: int
    size: int  # the registered size (may not be a multiple of 4)
    data: bytes  # ALIGN4(size) bytes of memory at pa: what the PT_LOAD holds

    @property
    def filesz(self) -> int:
        return len(self.data)


@dataclasses.dataclass(frozen=True)
class KmemdumpSet:
    """The kernel regions a minidump-mode device serves."""

    arch: str
    machine: int
    osrelease: str
    vmcoreinfo_text: bytes
    kelf: bytes
    loads: tuple[LoadSpec, ...]  # PT_LOAD order
    regions: tuple[RegionRecord, ...]  # kernel regions, SMEM (table) order
    style: str = "kmemdump"  # or "downstream"

    def shuffled(self, seed: int = 1) -> KmemdumpSet:
        regions = list(self.regions)
        random.Random(seed).shuffle(regions)
        return dataclasses.replace(self, regions=tuple(regions))

    def table(self, *, with_extras: bool = True, with_load_cmm: bool = True) -> list[RegionRecord]:
        """The whole Sahara table as the device lists it: kernel regions, then other
        subsystems, then MD_ firmware items, then load.cmm (docs/formats.md#table-order)."""
        rows = list(self.regions)
        if with_extras:
            rows += extras(self.arch)
        if with_load_cmm:
            rows.append(load_cmm_record(rows))
        return rows


# --- kmemdump (PT_NOTE style) ----------------------------------------------------------------


def _vmcoreinfo(model: ArchModel, arch: str, syms: dict[str, int],
                extra: Sequence[str] = ()) -> tuple[str, bytes]:
    """vmcoreinfo text (docs/formats.md#the-vmcoreinfo-region, docs/testing.md#the-address-model);
    its length is kept off a multiple of 4 on purpose. ``extra``: more lines (the log's keys)."""
    release = f"6.1.0-qdlpy-{arch}"
    for _ in range(4):
        lines = [f"OSRELEASE={release}", "PAGESIZE=4096", *extra]
        lines += [f"SYMBOL({k})={v:x}" for k, v in sorted(syms.items())]
        lines += ["OFFSET(uts_namespace.name)=0", "SIZE(mem_section)=16", "LENGTH(mem_section)=64"]
        if arch == "arm64":
            lines += ["NUMBER(VA_BITS)=48",
                      f"NUMBER(kimage_voffset)=0x{(model.kimage_va - model.kimage_pa):x}",
                      f"NUMBER(PHYS_OFFSET)=0x{model.phys_offset:x}", "NUMBER(TCR_EL1_T1SZ)=16"]
        else:
            lines += ["NUMBER(phys_base)=0", "NUMBER(pgtable_l5_enabled)=0"]
        lines.append("KERNELOFFSET=0")
        text = ("\n".join(lines) + "\n").encode()
        if len(text) % 4:
            return release, text
        release += "+"
    raise AssertionError("unreachable")


def _utsname(model: ArchModel, release: str, size: int) -> bytes:
    fields = [b"Linux", b"qdlpy-sim", release.encode(), b"#1 SMP PREEMPT qdlpy",
              model.uname_machine.encode(), b"(none)"]
    raw = b"".join(f[:64].ljust(65, b"\0") for f in fields)
    return raw.ljust(size, b"\0")[:size]


def _contents(region_id: int, name: str, size: int, model: ArchModel, release: str) -> bytes:
    n = align4(size)
    data = bytearray(pattern(region_id, n))
    if name == "linux_banner":
        text = (f"Linux version {release} (qdlpy@sim) (gcc 12.2.0) #1 SMP PREEMPT\n").encode()
        data[:size] = text.ljust(size, b"\0")[:size]
    elif name == "init_uts_ns":
        data[:size] = _utsname(model, release, size)
    elif name == "config":
        data[:8] = b"IKCFG_ST"
        data[size - 8 : size] = b"IKCFG_ED"
    return bytes(data)


def _kelf(model: ArchModel, loads: Sequence[LoadSpec], vmcoreinfo: bytes) -> bytes:
    """The md_KELF region: docs/testing.md#building-a-region-set."""
    p, s, v = model.prstatus, PRPSINFO_SIZE, align4(len(vmcoreinfo))
    h, n = header_start(p, s, v), note_len(p, s, v)
    buf = bytearray(h + n - v)
    if len(loads) > 200:
        raise ValueError("at most 200 PT_LOADs fit the 201 slots")
    buf[:EHDR_SIZE] = build_ehdr(machine=model.machine, phnum=1 + len(loads))
    buf[EHDR_SIZE : EHDR_SIZE + PHDR_SIZE] = build_phdr(type=PT_NOTE, offset=h, filesz=n)
    off = h + n
    for k, ld in enumerate(loads, start=1):
        at = EHDR_SIZE + PHDR_SIZE * k
        buf[at : at + PHDR_SIZE] = build_phdr(type=PT_LOAD, flags=PF_R | PF_W, offset=off,
                                              vaddr=ld.va, paddr=ld.pa, filesz=ld.filesz,
                                              memsz=ld.filesz)
        off += ld.filesz
    notes = core_notes(p, s, psargs=PSARGS) + vmcoreinfo_note_header(v)
    buf[h : h + len(notes)] = notes
    assert h + len(notes) == len(buf), "the notes must end exactly at the KELF length"
    return bytes(buf)


def build(arch: str = "arm64", *, numbering: Numbering = "kmemdump", reregister: int | None = None,
          misaligned: bool = False, long_names: bool = False, corrupt_notes: bool = False,
          encrypted: bool = False, extra_dynamic: Sequence[int] = (),
          printk: str = "lockless") -> KmemdumpSet:
    """A kmemdump region set.

    ``reregister=ID``: that id was unregistered and registered again after the ELF was built,
    so its PT_LOAD and table entry move to the end (docs/formats.md#re-registration) and index-order
    ``cat`` is wrong. ``misaligned``: linux_banner sits at a PA that is 2 mod 4
    (docs/formats.md#misaligned-regions). ``long_names``: the backend used 12-character SMEM names,
    so firmware's 15-char cap cuts names and ids (docs/formats.md#how-boot-firmware-names-regions).
    ``corrupt_notes``: random bytes over both CORE notes
    (docs/formats.md#when-the-notes-are-damaged). ``encrypted``: every kernel region is ciphertext
    (docs/formats.md#encrypted-minidumps). ``extra_dynamic``: sizes of additional dynamic regions
    (benchmarks). ``printk``: the log's layout, ``lockless`` (5.10+ ring) or ``legacy``
    (log_buf), holding a boot, an oops and its panic (qdlpy.simulator.printk_ring).
    """
    from qdlpy.simulator import printk_ring

    model = ARCHES[arch]
    specs = printk_ring.kmemdump_specs(
        list(_KMEMDUMP_V2 if numbering == "kmemdump" else _MEMINSPECT_V3), printk)
    next_id = specs[-1][0] + 1
    for size in extra_dynamic:
        specs.append((next_id, "unknown", size, "linear"))
        next_id += 1

    image_pa, linear_pa = model.image_pool, model.linear_pool
    kelf_pa = linear_pa
    vmcoreinfo_pa = linear_pa + 0x10000
    linear_pa += 0x20000
    placed: list[tuple[int, str, int, int, int]] = []  # id, name, size, pa, va
    for rid, name, size, pool in specs:
        if pool == "image":
            pa = image_pa + (2 if misaligned and name == "linux_banner" else 0)
            image_pa = (pa + size + 0x7F) & ~0x3F
            placed.append((rid, name, size, pa, model.image_va(pa)))
        else:
            pa = linear_pa
            linear_pa = (pa + size + 0x1FFF) & ~0xFFF
            placed.append((rid, name, size, pa, model.linear_va(pa)))
    by_name = {n: va for _, n, _, _, va in placed if n != "unknown"}
    syms: dict[str, int] = {k: by_name[k] for k in (
        "init_uts_ns", "mem_section", "prb", "linux_banner") if k in by_name}
    syms["_stext"] = model.kimage_va + 0x10000
    release, vmcoreinfo = _vmcoreinfo(model, arch, syms, printk_ring.kmemdump_keys(
        by_name, f"6.1.0-qdlpy-{arch}", printk))
    log = printk_ring.kmemdump_contents(arch, release, by_name, printk)

    loads = [LoadSpec(rid, name, pa, va, size, log[name].ljust(align4(size), b"\0")
                      if name in log else _contents(rid, name, size, model, release))
             for rid, name, size, pa, va in placed]
    if reregister is not None:
        moved = next(ld for ld in loads if ld.region_id == reregister)
        new_pa = linear_pa  # the replacement allocation comes from the linear map
        moved = dataclasses.replace(moved, pa=new_pa, va=model.linear_va(new_pa))
        loads = [ld for ld in loads if ld.region_id != reregister] + [moved]

    kelf = _kelf(model, loads, vmcoreinfo)
    v = align4(len(vmcoreinfo))
    if corrupt_notes:
        h = header_start(model.prstatus, PRPSINFO_SIZE, v)
        junk = random.Random(7).randbytes(40 + model.prstatus + PRPSINFO_SIZE)
        kelf = kelf[:h] + junk + kelf[h + len(junk) :]

    def names(smem: str, rid: int) -> tuple[str, str]:
        smem_name = "K" + smem[:12] if long_names else kernel_smem_name(smem)
        desc, fname = firmware_name(smem_name, rid)
        return str(desc), str(fname)

    regions: list[RegionRecord] = []
    d, f = names("ELF", 1)
    regions.append(RegionRecord(d, f, kelf_pa, len(kelf), kelf, region_id=1))
    d, f = names("vmcoreinfo", 2)
    regions.append(RegionRecord(d, f, vmcoreinfo_pa, v, vmcoreinfo.ljust(v, b"\0"), region_id=2))
    for ld in loads:
        d, f = names(ld.name, ld.region_id)
        base = ld.pa & ~3
        data = ld.data
        if ld.pa & 3:
            data = bytes([0xEE] * (ld.pa & 3)) + ld.data[: len(ld.data) - (ld.pa & 3)]
        regions.append(RegionRecord(d, f, base, len(data), data, region_id=ld.region_id))
    if encrypted:
        rng = random.Random(99)
        regions = [dataclasses.replace(r, data=rng.randbytes(len(r.data))) for r in regions]
    filenames = [r.filename for r in regions]
    assert len(set(filenames)) == len(filenames), "fixture file names must be unique"
    return KmemdumpSet(arch, model.machine, release, vmcoreinfo, kelf, tuple(loads),
                       tuple(regions))


# --- downstream msm_minidump (section based, docs/formats.md#downstream-msm_minidump) -------------

_DOWNSTREAM: list[tuple[str, int]] = [
    ("KLOGBUF", 16384), ("LOG_DESC", 3072), ("LOG_INFO", 11264), ("KDMESG", 4096),
    ("KRUNQUEUE", 3328), ("KTASK_STACK", 16384), ("KTASK_STACK", 16384), ("KWDOGDATA", 1024),
    ("KMODULES", 2048),
]
_DS_SLOTS = 32
_DS_STRTAB = 512


def build_downstream(arch: str = "arm64", *, printk: str = "lockless") -> KmemdumpSet:
    """A downstream ``md_KELF_HEADER`` set: ELF header with section headers (NULL, STR_TBL,
    minidump_table, linux_banner, one per region) and PT_LOADs; PT_LOAD 0 is the banner copy
    inside the header; regions follow contiguously after the header buffer
    (docs/formats.md#downstream-msm_minidump). A name registered twice gets seq_num 1 for the second
    (docs/formats.md#sequence-numbers). The log is a vendor kernel's:
    ``printk="lockless"`` (5.10+) registers the ring as KLOGBUF (text), LOG_DESC and
    LOG_INFO (names without the K prefix); ``"legacy"`` registers log_buf as KLOGBUF."""
    from qdlpy.simulator import printk_ring

    model = ARCHES[arch]
    release = f"5.15.0-qdlpy-{arch}" if printk == "lockless" else f"5.4.0-qdlpy-{arch}"
    log = printk_ring.downstream_contents(arch, release, printk)
    regions_spec = [(n, size) for n, size in _DOWNSTREAM if n in log or not n.startswith("LOG_")]
    banner = f"Linux version {release} (qdlpy@sim) #1 SMP PREEMPT\n".encode() + b"\0"
    shoff = EHDR_SIZE
    phoff = shoff + SHDR_SIZE * _DS_SLOTS
    stroff = phoff + PHDR_SIZE * _DS_SLOTS
    banner_off = stroff + _DS_STRTAB
    header_len = banner_off + len(banner)

    strtab = bytearray(b"\0STR_TBL\0")
    def add_name(name: str) -> int:
        pos = len(strtab)
        strtab.extend(name.encode() + b"\0")
        return pos

    sections = [build_shdr(), b"", build_shdr(name=add_name("minidump_table"), type=SHT_PROGBITS,
                                              flags=SHF_WRITE, addr=model.linear_va(0x9F000000),
                                              size=0)]
    sections.append(build_shdr(name=add_name("linux_banner"), type=SHT_PROGBITS, flags=SHF_WRITE,
                               addr=model.image_va(model.image_pool), offset=banner_off,
                               size=len(banner)))
    phdrs = [build_phdr(type=PT_LOAD, flags=PF_R | PF_W, offset=banner_off,
                        vaddr=model.image_va(model.image_pool), paddr=model.image_pool,
                        filesz=len(banner), memsz=len(banner))]
    loads: list[LoadSpec] = []
    regions: list[RegionRecord] = []
    header_pa = model.linear_pool
    hd, hf = firmware_name("KELF_HEADER")
    regions.append(RegionRecord(hd, hf, header_pa, 0, b""))
    off, pa = header_len, model.linear_pool + 0x100000
    seen: dict[str, int] = {}
    for k, (name, size) in enumerate(regions_spec):
        seq = seen.get(name, -1) + 1
        seen[name] = seq
        data = log[name].ljust(size, b"\0")[:size] if name in log else pattern(k + 100, size)
        va = model.linear_va(pa)
        sections.append(build_shdr(name=add_name(name), type=SHT_PROGBITS, flags=SHF_WRITE,
                                   addr=va, offset=off, size=size))
        phdrs.append(build_phdr(type=PT_LOAD, flags=PF_R | PF_W, offset=off, vaddr=va, paddr=pa,
                                filesz=size, memsz=size))
        loads.append(LoadSpec(k + 100, name, pa, va, size, data))
        d, f = firmware_name(name, seq)
        regions.append(RegionRecord(d, f, pa, size, data))
        off += size
        pa += (size + 0xFFF) & ~0xFFF
    sections[1] = build_shdr(name=1, type=SHT_STRTAB, offset=stroff, size=len(strtab))
    buf = bytearray(header_len)
    buf[:EHDR_SIZE] = build_ehdr(machine=model.machine, phnum=len(phdrs), shnum=len(sections),
                                 shoff=shoff, shstrndx=1, phoff=phoff)
    buf[shoff : shoff + SHDR_SIZE * len(sections)] = b"".join(sections)
    buf[phoff : phoff + PHDR_SIZE * len(phdrs)] = b"".join(phdrs)
    buf[stroff : stroff + len(strtab)] = strtab
    buf[banner_off:header_len] = banner
    header = bytes(buf)
    regions[0] = dataclasses.replace(regions[0], length=len(header), data=header)
    return KmemdumpSet(arch, model.machine, release, b"", header, tuple(loads), tuple(regions),
                       style="downstream")


# --- non-kernel table items ------------------------------------------------------------------


def extras(arch: str = "arm64") -> list[RegionRecord]:
    """Items a real minidump table carries besides the kernel's: another subsystem's region
    (firmware adds only ``md_``, docs/formats.md#the-k-prefix-and-the-8-character-cut) and XBL's own
    ``MD_`` items (docs/formats.md#firmware-items)."""
    adsp_desc, adsp_file = firmware_name("ADSP_XYZ")
    smeminfo = bytes(range(64))
    return [
        RegionRecord(adsp_desc, adsp_file, 0x8B800000, 8192, pattern(200, 8192)),
        RegionRecord("MD_SMEMINFO", "MD_SMEMINFO.BIN", 0x86000000, len(smeminfo), smeminfo),
        RegionRecord("MD_RST_STAT", "MD_RST_STAT.BIN", 0x0C264000, 4, b"\x01\x00\x00\x20"),
    ]


def load_cmm_record(rows: Iterable[RegionRecord], base: int = 0x146BF000) -> RegionRecord:
    """The firmware's last table entry: the T32 script for every other entry
    (docs/formats.md#the-loadcmm-script)."""
    script = write_load_cmm(rows).encode()
    return RegionRecord("CMM Script", "load.cmm", base, len(script), script, save_pref=MANDATORY)
