"""Synthetic kmemdump / meminspect region sets and the ELF a correct assembler builds.

A set is what a device in minidump mode lists for the kernel: ``md_KELF1`` (the core-image
header, :mod:`.kelf`), ``md_Kvmcorein2`` (the vmcoreinfo text, zero padded to a multiple of
4) and one region per PT_LOAD, in registration (= table) order, followed by other items.

The expected assembled ELF is the header region, then the vmcoreinfo bytes, then every
PT_LOAD's bytes at its ``p_offset``. For a damaged set the rules are:

* a region that is missing (no table entry, no file, or a file that must not be used): a
  hole. Its PT_LOAD keeps its offset and sizes, its ``[p_offset, p_offset + p_memsz)`` holds
  zeros, and its flags are 0 (no R, no W: the mark of a hole). Every consumer that reads the
  address reads zeros, and none reads another region's bytes there; no other PT_LOAD moves;
* a file shorter than ``p_filesz`` is zero padded, a longer one cut;
* a region whose physical address is not 4-byte aligned was dumped by firmware from the
  address rounded down: its file starts ``pa & 3`` bytes early, so those bytes are dropped
  and the tail is zero filled;
* vmcoreinfo missing or short: zeros in its place, so later offsets stay right;
* a header region a few bytes short or long: the header as the kernel built it;
* corrupt CORE notes: kept as they are, or with ``repair`` rebuilt as the kernel writes
  them, without the command line (which nothing else records).
"""

from __future__ import annotations

import dataclasses
import random
import struct
from collections.abc import Sequence

from . import printk, readers
from .elf64 import PF_RW, align4
from .extras import minidump_extras, pattern
from .folder import TableEntry
from .kelf import PRPSINFO_SIZE, Slot, build_kelf, core_notes, layout, set_load
from .naming import kernel_region_name
from .regionset import RegionSet

__all__ = ["Arch", "ARCHES", "Load", "Placed", "KernelSet", "build", "PSARGS"]

PSARGS = b"console=ttyMSM0,115200n8 qcom_scm.download_mode=mini oracle=1"
_JUNK = 0xA5  # what lies in memory before a misaligned region


@dataclasses.dataclass(frozen=True)
class Arch:
    """Where the kernel image and the linear map sit (KASLR off)."""

    name: str
    machine: int  # e_machine
    prstatus_size: int  # sizeof(struct elf_prstatus)
    linear_pa: int  # PA at the start of the linear (direct) map
    linear_va: int
    image_pa: int  # PA of the kernel image
    image_va: int
    image_pool: int  # PA where the image's static data regions lie
    dynamic_pool: int  # PA where allocated (dynamic) regions lie

    def va_linear(self, pa: int) -> int:
        return pa - self.linear_pa + self.linear_va

    def va_image(self, pa: int) -> int:
        return pa - self.image_pa + self.image_va


ARCHES: dict[str, Arch] = {
    # 48-bit VA, PHYS_OFFSET 0x80000000, image at PA 0x80200000.
    "arm64": Arch("arm64", 183, 392, 0x8000_0000, 0xFFFF_0000_0000_0000, 0x8020_0000,
                  0xFFFF_8000_8000_0000, 0x81C0_0000, 0x9800_0000),
    # 4-level paging, direct map at 0xffff888000000000, image at PA 16 MiB.
    "x86_64": Arch("x86_64", 62, 336, 0, 0xFFFF_8880_0000_0000, 0x0100_0000,
                   0xFFFF_FFFF_8100_0000, 0x02A0_0000, 0x4800_0000),
}

# (id, the backend's name string, registered size, "image" or "dynamic"): kmemdump v2.
# Ids 32..47 are past the Qualcomm name table ("unknown"), 48/49 are never used, 50+ are
# allocated at run time.
_KMEMDUMP: tuple[tuple[int, str, int, str], ...] = (
    (3, "config", 8200, "image"), (4, "memsect", 4096, "dynamic"), (5, "totalram", 8, "image"),
    (6, "cpu_possible", 8, "image"), (7, "cpu_present", 8, "image"),
    (8, "cpu_online", 8, "image"), (9, "cpu_active", 8, "image"), (10, "jiffies", 8, "image"),
    (11, "linux_banner", 166, "image"), (12, "nr_threads", 4, "image"),
    (13, "nr_irqs", 4, "image"), (14, "tainted_mask", 8, "image"),
    (15, "taint_flags", 54, "image"), (16, "mem_section", 8, "image"),
    (17, "node_data", 64, "image"), (18, "node_states", 40, "image"),
    (19, "__per_cpu_offset", 256, "image"), (20, "nr_swapfiles", 4, "image"),
    (21, "init_uts_ns", 440, "image"), (22, "printk_rb_static", 96, "image"),
    (23, "printk_rb_dynamic", 96, "image"), (24, "prb", 8, "image"),
    (25, "prb_descs", 6144, "dynamic"), (26, "prb_infos", 12288, "dynamic"),
    (27, "prb_data", 32768, "dynamic"), (28, "runqueues", 3584, "image"),
    (29, "high_memory", 8, "image"), (30, "init_mm", 1024, "image"),
    (31, "init_mm_pgd", 4096, "image"),
    *((i, "unknown", (4, 8, 12, 2048, 6)[i % 5], "image") for i in range(32, 48)),
    (50, "unknown", 4096, "dynamic"), (51, "unknown", 320, "dynamic"),
    (52, "unknown", 1024, "dynamic"), (53, "unknown", 16384, "dynamic"),
)

# meminspect v3: no gap, a 30-entry name table ending in tk_data, dynamic ids from 45 here.
_MEMINSPECT: tuple[tuple[int, str, int, str], ...] = (
    (3, "config", 8200, "image"), (4, "totalram", 8, "image"),
    (5, "cpu_possible", 8, "image"), (6, "cpu_present", 8, "image"),
    (7, "cpu_online", 8, "image"), (8, "cpu_active", 8, "image"),
    (9, "mem_section", 8, "image"), (10, "jiffies", 8, "image"),
    (11, "linux_banner", 166, "image"), (12, "nr_threads", 4, "image"),
    (13, "nr_irqs", 4, "image"), (14, "tainted_mask", 8, "image"),
    (15, "taint_flags", 54, "image"), (16, "node_states", 40, "image"),
    (17, "__per_cpu_offset", 256, "image"), (18, "nr_swapfiles", 4, "image"),
    (19, "init_uts_ns", 440, "image"), (20, "printk_rb_static", 96, "image"),
    (21, "printk_rb_dynamic", 96, "image"), (22, "prb", 8, "image"),
    (23, "prb_descs", 6144, "dynamic"), (24, "prb_infos", 12288, "dynamic"),
    (25, "prb_data", 32768, "dynamic"), (26, "clear_seq", 8, "image"),
    (27, "high_memory", 8, "image"), (28, "init_mm", 1024, "image"),
    (29, "tk_data", 320, "image"),
    *((i, "unknown", 8 if i < 38 else 512, "image") for i in range(30, 45)),
    (45, "unknown", 4096, "dynamic"), (46, "unknown", 320, "dynamic"),
    (47, "unknown", 2048, "dynamic"),
)


@dataclasses.dataclass(frozen=True)
class Load:
    """One PT_LOAD: a kernel region's memory."""

    region_id: int
    label: str
    pa: int
    va: int
    data: bytes  # the registered size rounded up to 4: what the PT_LOAD holds

    @property
    def filesz(self) -> int:
        return len(self.data)

    @property
    def slot(self) -> Slot:
        return Slot(self.pa, self.va, self.filesz)


@dataclasses.dataclass(frozen=True)
class Placed:
    """A PT_LOAD of the expected ELF: where its bytes are and what they are (zeros when the
    region is missing: a hole)."""

    load: Load
    offset: int
    data: bytes
    hole: bool = False


@dataclasses.dataclass(frozen=True)
class KernelSet(RegionSet):
    """A kmemdump region set; ``kelf`` is the header region as the device holds it."""

    arch: Arch
    osrelease: str
    vmcoreinfo_text: bytes  # without the zero padding
    kelf: bytes
    loads: tuple[Load, ...]  # program-header (slot) order
    corrupt_notes: bool = False
    style: str = "kmemdump"

    @property
    def machine(self) -> int:
        return self.arch.machine

    @property
    def vmcoreinfo_len(self) -> int:
        return align4(len(self.vmcoreinfo_text))

    @property
    def data_start(self) -> int:
        """Where the first PT_LOAD's bytes start: the header region plus vmcoreinfo."""
        return len(self.kelf) + self.vmcoreinfo_len

    def load(self, region_id: int) -> Load:
        for ld in self.loads:
            if ld.region_id == region_id:
                return ld
        raise KeyError(region_id)

    def header(self, *, repair: bool = False) -> bytes:
        """The header as a correct assembler writes it, before missing regions are marked."""
        if not (repair and self.corrupt_notes):
            return self.kelf
        start = layout(self.arch.prstatus_size, self.vmcoreinfo_len).note_start
        notes = core_notes(self.arch.prstatus_size, b"")
        return self.kelf[:start] + notes + self.kelf[start + len(notes) :]

    def expected_loads(self) -> list[Placed]:
        """Every PT_LOAD of the expected ELF, in program-header order."""
        files = self.files()
        offset = self.data_start
        out = []
        for ld in self.loads:
            data = files.get(ld.region_id)
            if data is None:
                out.append(Placed(ld, offset, bytes(ld.filesz), hole=True))
            else:
                out.append(Placed(ld, offset,
                                  data[ld.pa & 3 :][: ld.filesz].ljust(ld.filesz, b"\0")))
            offset += ld.filesz
        return out

    def holes(self) -> list[Load]:
        """The PT_LOADs a correct assembler leaves as holes, in program-header order."""
        return [p.load for p in self.expected_loads() if p.hole]

    def expected_vmcoreinfo(self) -> bytes:
        """The VMCOREINFO descriptor of the expected ELF (zeros when the region is missing)."""
        v, data = self.vmcoreinfo_len, self.files().get(2)
        return bytes(v) if data is None else data[:v].ljust(v, b"\0")

    def expected(self, *, repair: bool = False) -> bytes:
        """The ELF a correct assembler builds from this set (see the module docstring)."""
        header = bytearray(self.header(repair=repair))
        placed = self.expected_loads()
        for index, p in enumerate(placed, start=1):
            set_load(header, index, offset=p.offset, slot=p.load.slot, filesz=len(p.data),
                     flags=0 if p.hole else PF_RW)
        return bytes(header) + self.expected_vmcoreinfo() + b"".join(p.data for p in placed)

    def id_order_concat(self) -> bytes:
        """``cat`` of the kernel files in ascending id order: the manual recipe, which is the
        right ELF only while PT_LOAD order is id order."""
        rows = sorted((r for r in self.rows if r.region_id is not None and r.data is not None),
                      key=lambda r: r.region_id or 0)
        return b"".join(r.data or b"" for r in rows)


def _vmcoreinfo(arch: Arch, release: str, symbols: dict[str, int],
                extra: Sequence[str] = ()) -> bytes:
    """KEY=value lines; the length is kept off a multiple of 4 so the padding is exercised."""
    lines = [f"OSRELEASE={release}", "PAGESIZE=4096"]
    lines += [f"SYMBOL({name})={va:x}" for name, va in sorted(symbols.items())]
    lines += ["OFFSET(uts_namespace.name)=4", "SIZE(mem_section)=16", *extra]
    if arch.name == "arm64":
        lines += ["NUMBER(VA_BITS)=48",
                  f"NUMBER(kimage_voffset)=0x{arch.image_va - arch.image_pa:x}",
                  f"NUMBER(PHYS_OFFSET)=0x{arch.linear_pa:x}", "NUMBER(TCR_EL1_T1SZ)=16"]
    else:
        lines += ["NUMBER(phys_base)=0", "NUMBER(pgtable_l5_enabled)=0"]
    lines.append("KERNELOFFSET=0")
    text = "".join(line + "\n" for line in lines)
    if len(text) % 4 == 0:
        text += "NUMBER(oracle)=1\n"  # 17 bytes
    return text.encode()


def _contents(region_id: int, label: str, size: int, release: str, arch: Arch) -> bytes:
    data = bytearray(pattern(region_id, align4(size)))
    if label == "linux_banner":
        text = f"Linux version {release} (oracle@tests) (gcc 12) #1 SMP PREEMPT\n".encode()
        data[:size] = text.ljust(size, b"\0")[:size]
    elif label == "init_uts_ns":
        fields = (b"Linux", b"oracle", release.encode(), b"#1 SMP PREEMPT",
                  arch.name.encode(), b"(none)")
        uts = b"".join(f.ljust(65, b"\0") for f in fields)
        data[4 : 4 + len(uts)] = uts  # after the kref
    elif label == "config":
        data[:8] = b"IKCFG_ST"
        data[size - 8 : size] = b"IKCFG_ED"
    return bytes(data)


def _special(data: bytes | None, size: int) -> bytes | None:
    """A region's contents given by :func:`_for_readers`, zero padded to its PT_LOAD size."""
    return None if data is None else data.ljust(align4(size), b"\0")[: align4(size)]


def _place(arch: Arch, specs: Sequence[tuple[int, str, int, str]],
           misaligned: bool) -> list[tuple[int, str, int, int, int]]:
    """(id, label, size, pa, va) for each region: static data in the image, the rest in the
    linear map, each region's physical range disjoint from the others."""
    image, dynamic = arch.image_pool, arch.dynamic_pool + 0x40000
    placed = []
    for rid, label, size, pool in specs:
        if pool == "image":
            pa = image + (2 if misaligned and label == "linux_banner" else 0)
            image = (pa + size + 0x7F) // 0x40 * 0x40
            placed.append((rid, label, size, pa, arch.va_image(pa)))
        else:
            pa = dynamic
            dynamic = (pa + size + 0x1FFF) // 0x1000 * 0x1000
            placed.append((rid, label, size, pa, arch.va_linear(pa)))
    return placed


def _corrupted(kelf: bytes, arch: Arch, v: int) -> bytes:
    """Random bytes over both CORE notes (the kernel's header buffer was overrun)."""
    start = layout(arch.prstatus_size, v).note_start
    junk = random.Random(11).randbytes(2 * 20 + arch.prstatus_size + PRPSINFO_SIZE)
    return kelf[:start] + junk + kelf[start + len(junk) :]


def _file_of(ld: Load) -> bytes:
    """What firmware dumps for a PT_LOAD: from the address rounded down to 4."""
    skip = ld.pa & 3
    return bytes([_JUNK] * skip) + ld.data[: ld.filesz - skip]


def _for_readers(model: Arch, placed: list[tuple[int, str, int, int, int]],
                 symbols: dict[str, int]) -> tuple[dict[str, bytes], list[str]]:
    """Contents that make dmesg readers and page-table walkers work (:mod:`.readers`):
    the printk ring in its regions and, on x86_64, page tables as three more regions
    (appended to ``placed``). Returns (label -> contents, extra VMCOREINFO lines)."""
    vas = {label: v for _, label, _, _, v in placed}
    ring = readers.ring_for(vas["prb_descs"], vas["prb_infos"], vas["prb_data"])
    contents = {"printk_rb_dynamic": ring.ringbuffer, "prb_descs": ring.descs,
                "prb_infos": ring.infos, "prb_data": ring.data,
                "prb": struct.pack("<Q", vas["printk_rb_dynamic"])}
    extra = printk.vmcoreinfo_lines()
    if model.name == "x86_64":
        top = max(pa + size for _, _, size, pa, v in placed if v >= readers.START_KERNEL_MAP)
        next_id = max(rid for rid, *_ in placed) + 1
        ranges = [(pa, size) for _, _, size, pa, _ in placed]
        for k, (label, pa, data) in enumerate(readers.x86_64_memory(ranges,
                                                                   (top + 0xFFF) & ~0xFFF)):
            va = model.va_image(pa) if pa < 1 << 30 else model.va_linear(pa)
            placed.append((next_id + k, label, len(data), pa, va))
            contents[label] = data
            if label in ("init_top_pgt", "mem_map"):
                symbols[label] = va
        symbols["swapper_pg_dir"] = symbols["init_top_pgt"]  # the generic name of the PGD
        extra += readers.x86_64_vmcoreinfo()
    else:  # an empty top-level table: nothing mapped, but drgn needs one to open the core
        top = max(pa + size for _, _, size, pa, v in placed if v >= model.image_va)
        pa = (top + 0xFFF) & ~0xFFF
        placed.append((max(rid for rid, *_ in placed) + 1, "swapper_pg_dir", 4096, pa,
                       model.va_image(pa)))
        contents["swapper_pg_dir"] = bytes(4096)
        symbols["swapper_pg_dir"] = model.va_image(pa)
    return contents, extra


def build(arch: str = "arm64", *, numbering: str = "kmemdump", reregister: int | None = None,
          misaligned: bool = False, long_names: bool = False, corrupt_notes: bool = False,
          encrypted: bool = False, extra_dynamic: Sequence[int] = (),
          for_readers: bool = False) -> KernelSet:
    """A kmemdump set.

    ``numbering``: ``kmemdump`` (v2 ids, gap at 48/49) or ``meminspect`` (v3 ids).
    ``reregister=ID``: that region was registered again after the header was built, so its
    PT_LOAD and its table entry move to the end, at a new address: PT_LOAD order != id order.
    ``misaligned``: linux_banner's address is 2 mod 4. ``long_names``: the backend kept 12
    characters of each name, so firmware's 15-character cap cuts names and ids.
    ``corrupt_notes``: random bytes over both CORE notes. ``encrypted``: every kernel file is
    ciphertext. ``extra_dynamic``: sizes of more dynamic regions (benchmarks).
    ``for_readers``: a real printk ring (and on x86_64 page tables), so that vmcore-dmesg and
    makedumpfile can read the set (:mod:`.readers`).
    """
    model = ARCHES[arch]
    specs = list(_KMEMDUMP if numbering == "kmemdump" else _MEMINSPECT)
    specs += [(specs[-1][0] + 1 + i, "unknown", size, "dynamic")
              for i, size in enumerate(extra_dynamic)]
    placed = _place(model, specs, misaligned)
    symbols = {label: va for _, label, _, _, va in placed
               if label in ("init_uts_ns", "linux_banner", "mem_section", "prb")}
    symbols["_stext"] = model.image_va + 0x10000
    release = f"6.1.0-oracle-{arch}"
    special, extra = _for_readers(model, placed, symbols) if for_readers else ({}, [])
    vmcoreinfo = _vmcoreinfo(model, release, symbols, extra)
    loads = [Load(rid, label, pa, va, _special(special.get(label), size)
                  or _contents(rid, label, size, release, model))
             for rid, label, size, pa, va in placed]
    if reregister is not None:
        moved = next(ld for ld in loads if ld.region_id == reregister)
        pa = (max(ld.pa + ld.filesz for ld in loads) + 0xFFFF) // 0x10000 * 0x10000
        loads.remove(moved)
        loads.append(dataclasses.replace(moved, pa=pa, va=model.va_linear(pa)))

    v = align4(len(vmcoreinfo))
    kelf = build_kelf(model.machine, model.prstatus_size, v, [ld.slot for ld in loads], PSARGS)
    if corrupt_notes:
        kelf = _corrupted(kelf, model, v)
    smem_chars = 12 if long_names else 8

    def entry(rid: int, label: str, base: int, data: bytes) -> TableEntry:
        desc, fname = kernel_region_name(label, rid, smem_chars=smem_chars)
        return TableEntry(base, desc, fname, data, region_id=rid)

    rows = [entry(1, "ELF", model.dynamic_pool, kelf),
            entry(2, "vmcoreinfo", model.dynamic_pool + 0x20000, vmcoreinfo.ljust(v, b"\0"))]
    rows += [entry(ld.region_id, ld.label, ld.pa & ~3, _file_of(ld)) for ld in loads]
    if encrypted:
        rng = random.Random(5)
        rows = [dataclasses.replace(r, data=rng.randbytes(len(r.data or b""))) for r in rows]
    names = [r.filename for r in rows]
    assert len(set(names)) == len(names), f"file names must be unique: {names}"
    return KernelSet(tuple(rows), tuple(minidump_extras()), model, release, vmcoreinfo, kelf,
                     tuple(loads), corrupt_notes)
