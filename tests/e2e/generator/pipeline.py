"""The generator, step by step: tools -> packages -> initramfs -> boot+dump -> cut -> write.

Output folder (``<cache>/<arch>/out`` unless given), replaced as a whole on success:

    regions/            md_*.BIN, load.cmm, dump_info.txt (SMEM order = ascending id)
    regions-shuffled/   the same files, dump_info.txt/load.cmm in a shuffled order
    regions-missing/    one data region (MISSING_REGION) absent from table and folder
    reference.elf       index-order concatenation of regions/ (what qdlpy must produce)
    reference-missing.elf  the same with the missing region's bytes zero-filled
    expected.json       marker, hostname, osrelease, vmlinux path, crash command, regions
    generator-report.json  step timings, sizes, tool versions
    serial.log          the guest's console
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .addrspace import SYMBOLS_NEEDED, make_address_space
from .arch import ArchSpec
from .boot import boot_and_dump
from .crashtool import crash_command
from .errors import GeneratorError
from .folder import TableEntry, shuffled, without, write_folder
from .initramfs import HOSTNAME, build_initramfs
from .kelf import build_kelf
from .packages import ensure_host_tools, fetch_kernel, tool_versions
from .physmem import PhysMemory
from .regions import ID_ELF, Region, collect_regions, firmware_names, symbol_names
from .symbols import read_symbols
from .vmcoreinfo import VmcoreInfo, parse_note

__all__ = ["Options", "generate", "default_cache", "MISSING_REGION", "EXPECTED_SCHEMA"]

log = logging.getLogger("qdlpy.e2e")

EXPECTED_SCHEMA = "qdlpy.e2e-expected/1"
# Not needed by crash --minimal's `log` nor by drgn's hostname/printk
# (docs/testing.md#what-the-tools-need-from-a-minidump)
MISSING_REGION = "linux_banner"
SHUFFLE_SEED = 20260708


def default_cache() -> Path:
    env = os.environ.get("QDLPY_E2E_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".cache" / "e2e"  # <repo>/.cache/e2e


@dataclasses.dataclass(frozen=True)
class Options:
    arch: ArchSpec
    cache: Path
    out: Path | None = None
    keep_memory_dump: bool = False
    allow_install: bool = True

    @property
    def out_dir(self) -> Path:
        return self.out if self.out is not None else self.cache / self.arch.name / "out"


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        log.info("e2e: %s ...", name)
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - t0, 2)
            log.info("e2e: %s done in %.1f s", name, self.seconds[name])


def generate(opts: Options) -> Path:
    """Run every step; return the output folder (holding expected.json). Runs for the same
    cache and arch are serialised by a lock file (two pytest sessions at once)."""
    lock_path = opts.cache / opts.arch.name / ".lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _generate(opts)


def _generate(opts: Options) -> Path:
    arch, timer = opts.arch, _Timer()
    t_start = time.monotonic()
    with timer.step("tools"):
        ensure_host_tools(arch, allow_install=opts.allow_install)
        crash = crash_command(arch, opts.cache, allow_install=opts.allow_install)
        versions = tool_versions(arch, crash)
    with timer.step("packages"):
        kernel = fetch_kernel(arch, opts.cache)
    work = opts.cache / arch.name / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    marker = f"QDLPY-MARKER {uuid.uuid4().hex[:16]} hello from the qdlpy real-kernel tier"
    with timer.step("initramfs"):
        initrd = work / "initramfs.cpio.gz"
        initrd.write_bytes(build_initramfs(kernel.busybox.read_bytes(), marker))
    with timer.step("boot"):
        booted = boot_and_dump(arch, kernel.vmlinuz, initrd, work)
    with timer.step("symbols"):
        syms = read_symbols(kernel.vmlinux, [*symbol_names(arch.name), *SYMBOLS_NEEDED])
    with timer.step("cut"):
        with PhysMemory(booted.dump) as mem:
            note = mem.read(booted.vmcoreinfo_note_pa, booted.vmcoreinfo_note_size,
                            "VMCOREINFO note")
            note_desc = parse_note(note)
            info = VmcoreInfo(note_desc.decode("ascii", "replace"))
            space = make_address_space(arch.name, mem, info, syms)
            vmci, data_regions = collect_regions(arch.name, mem, space, info, syms, note_desc)
            ram = mem.ram_ranges()
        tmp_out = opts.out_dir.with_name(opts.out_dir.name + ".tmp")
        shutil.rmtree(tmp_out, ignore_errors=True)
        tmp_out.mkdir(parents=True)
        summary = _write_outputs(tmp_out, arch, booted.cmdline, vmci, data_regions, ram)
    memory_dump_bytes = booted.dump.stat().st_size
    shutil.copy2(booted.serial_log, tmp_out / "serial.log")
    if not opts.keep_memory_dump:
        booted.dump.unlink()
    osrelease = info.get("OSRELEASE")
    if osrelease != kernel.abi:
        raise GeneratorError("cut", f"VMCOREINFO OSRELEASE={osrelease}, package says {kernel.abi}")
    expected = {
        "schema": EXPECTED_SCHEMA,
        "arch": arch.name,
        "marker": marker,
        "hostname": HOSTNAME,
        "osrelease": osrelease,
        "kernel_package": f"{kernel.image_package} {kernel.package_version}",
        "vmlinux": str(kernel.vmlinux),
        "crash_command": crash,
        "cmdline": booted.cmdline,
        "address_space": {k: f"{v:#x}" for k, v in space.facts().items()},
        **summary,
    }
    (tmp_out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    report: dict[str, Any] = {
        "arch": arch.name,
        "seconds": {**timer.seconds, "boot_to_ready": round(booted.boot_seconds, 2),
                    "dump_guest_memory": round(booted.dump_seconds, 2),
                    "total": round(time.monotonic() - t_start, 2)},
        "bytes": {
            "downloaded": kernel.downloaded_bytes,
            "vmlinux": kernel.vmlinux.stat().st_size,
            "vmlinuz": kernel.vmlinuz.stat().st_size,
            "guest_memory_dump": memory_dump_bytes,
            "reference_elf": (tmp_out / "reference.elf").stat().st_size,
            "regions_folder": sum(f.stat().st_size for f in (tmp_out / "regions").iterdir()),
        },
        "tools": versions,
    }
    (tmp_out / "generator-report.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(opts.out_dir, ignore_errors=True)
    os.replace(tmp_out, opts.out_dir)
    log.info("e2e: wrote %s in %.1f s", opts.out_dir, report["seconds"]["total"])
    return opts.out_dir


def _free_pa(ram: list[tuple[int, int]], taken: list[tuple[int, int]], size: int) -> int:
    """A page-aligned physical address in RAM overlapping no region: where the KELF header
    buffer and the firmware's load.cmm buffer are said to live (they are no PT_LOAD)."""
    base, end = max(ram, key=lambda r: r[1] - r[0])
    pa = (end - 0x100000) & ~0xFFFF
    while pa >= base:
        if all(pa + size <= a or b <= pa for a, b in taken):
            return pa
        pa -= 0x10000
    raise GeneratorError("cut", "no free physical range for the KELF header")


def _write_outputs(out: Path, arch: ArchSpec, cmdline: str, vmci: Region,
                   data_regions: list[Region], ram: list[tuple[int, int]]) -> dict[str, Any]:
    kelf_bytes, lay = build_kelf(arch, len(vmci.data), data_regions, cmdline)
    taken = [(r.pa, r.pa + len(r.data)) for r in (vmci, *data_regions)]
    kelf_pa = _free_pa(ram, taken, len(kelf_bytes))
    taken.append((kelf_pa, kelf_pa + len(kelf_bytes)))
    cmm_pa = _free_pa(ram, taken, 0x10000)
    kelf = Region(ID_ELF, "ELF", None, 0, kelf_pa, len(kelf_bytes), kelf_bytes)
    # SMEM table order: ascending id (docs/formats.md#how-pt_load-offsets-and-order-arise)
    ordered = [kelf, vmci, *data_regions]
    entries = [TableEntry(r.pa, r.desc, r.filename, r.data) for r in ordered]
    reference = b"".join(r.data for r in ordered)
    (out / "reference.elf").write_bytes(reference)
    missing = next(r for r in data_regions if r.symbol == MISSING_REGION)
    (out / "reference-missing.elf").write_bytes(
        b"".join(bytes(len(r.data)) if r is missing else r.data for r in ordered))
    write_folder(out / "regions", entries, cmm_pa)
    write_folder(out / "regions-shuffled", shuffled(entries, SHUFFLE_SEED), cmm_pa)
    write_folder(out / "regions-missing", without(entries, missing.filename), cmm_pa)

    offset = 0
    listed = []
    for r in ordered:
        listed.append({
            "id": r.id, "label": r.label, "symbol": r.symbol, "desc": r.desc,
            "filename": r.filename, "pa": r.pa, "va": r.va, "size": r.size,
            "length": len(r.data), "elf_offset": offset,
        })
        offset += len(r.data)
    assert firmware_names("ELF", 1) == ("md_KELF1", "md_KELF1.BIN")  # docs/formats.md#region-ids
    return {
        "reference_elf": "reference.elf",
        "reference_missing_elf": "reference-missing.elf",
        "folders": {"ordered": "regions", "shuffled": "regions-shuffled",
                    "missing": "regions-missing"},
        "missing_region": {"symbol": missing.symbol, "desc": missing.desc,
                           "filename": missing.filename, "pa": missing.pa, "va": missing.va,
                           "length": len(missing.data)},
        "kelf": {"size": lay.kelf_size, "note_offset": lay.note_start, "note_len": lay.note_len,
                 "vmcoreinfo_len": lay.vmcoreinfo_len, "first_load_offset": lay.first_load},
        "regions": listed,
    }
