"""Typed results of ``assemble`` and ``inspect`` (what the CLI prints and --json carries)."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

__all__ = ["Placement", "OutputFile", "KernelInfo", "AssembleReport", "InspectReport",
           "Hole", "next_commands", "hexs"]


def hexs(v: int | None) -> str | None:
    return None if v is None else f"0x{v:x}"


@dataclasses.dataclass
class Placement:
    """Where one PT_LOAD's bytes came from and where they went."""

    index: int  # program header slot (1 = first PT_LOAD)
    filename: str | None
    paddr: int
    vaddr: int
    offset: int  # in the output file
    filesz: int  # in the output file
    memsz: int
    status: str  # ok | padded | truncated | misaligned | length-mismatch | missing | in-header
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "filename": self.filename, "paddr": hexs(self.paddr),
                "vaddr": hexs(self.vaddr), "offset": self.offset, "filesz": self.filesz,
                "memsz": self.memsz, "status": self.status, "detail": self.detail}


@dataclasses.dataclass
class Hole:
    """A region an output ELF holds no bytes of: its PT_LOAD reads as zeros
    (docs/formats.md#missing-regions)."""

    elf: str  # the output ELF
    kind: str  # "kernel" or the group
    index: int  # program header index
    filename: str | None  # the region's file, when the table lists one
    paddr: int
    size: int  # bytes of address space that read as zeros
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"elf": self.elf, "kind": self.kind, "index": self.index,
                "filename": self.filename, "paddr": hexs(self.paddr), "size": self.size,
                "reason": self.reason}


@dataclasses.dataclass
class OutputFile:
    path: str
    kind: str  # "kernel" or a group: subsystems | firmware | fulldump | kernel-unreferenced
    size: int
    regions: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class KernelInfo:
    """The kernel minidump part of a dump."""

    style: str  # "kmemdump" (PT_NOTE + vmcoreinfo) or "downstream" (md_KELF_HEADER sections)
    header_file: str
    e_machine: int
    machine: str
    osrelease: str | None = None
    kerneloffset: int | None = None
    page_size: int | None = None
    vmcoreinfo_file: str | None = None
    vmcoreinfo_status: str = "n/a"  # ok | missing | short | long | unreachable (corrupt notes)
    # | unreadable (inspect: corrupt notes) | n/a (downstream, generic)
    vmcoreinfo: dict[str, str] = dataclasses.field(default_factory=dict)
    placements: list[Placement] = dataclasses.field(default_factory=list)
    unreferenced: list[str] = dataclasses.field(default_factory=list)
    repairs: list[str] = dataclasses.field(default_factory=list)

    @property
    def placed(self) -> list[Placement]:
        return [p for p in self.placements if p.status not in ("missing", "in-header")]

    @property
    def missing(self) -> list[Placement]:
        return [p for p in self.placements if p.status == "missing"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "style": self.style, "header_file": self.header_file, "e_machine": self.e_machine,
            "machine": self.machine, "osrelease": self.osrelease,
            "kerneloffset": hexs(self.kerneloffset), "page_size": self.page_size,
            "vmcoreinfo_file": self.vmcoreinfo_file, "vmcoreinfo_status": self.vmcoreinfo_status,
            "regions_placed": len(self.placed), "regions_missing": len(self.missing),
            "placements": [p.to_dict() for p in self.placements],
            "missing": [p.to_dict() for p in self.missing],
            "unreferenced": list(self.unreferenced), "repairs": list(self.repairs),
        }


def next_commands(elf: str, kernel: KernelInfo, *, reassemble: str | None = None) -> list[str]:
    """The commands to run next on a kernel ELF (docs/formats.md#crash, docs/formats.md#gdb).

    ``reassemble``: the ``qdlpy assemble ... --repair`` command line, put first when the
    CORE notes were left corrupt (crash would find no vmcoreinfo in this ELF).

    crash reads only the cores of the target it was built for, and an x86 distribution's
    crash is an x86_64-target build (on an arm64 dump ``crash --osrelease`` prints
    "unknown"). So an arm64 dump gets the tools that read it anywhere first (``qdlpy
    report``, gdb-multiarch, drgn), then a comment line saying which crash reads it, then
    the crash command lines."""
    quoted = shlex.quote(elf)
    if reassemble and kernel.vmcoreinfo_status.startswith("unreachable"):
        return [reassemble, *next_commands(elf, kernel)]
    if kernel.style != "kmemdump":
        return [f"readelf -S -l {quoted}",
                f"python3 ramparse.py --minidump --vmlinux vmlinux --auto-dump {quoted}  # LRDP"]
    arm64 = kernel.e_machine == 183  # EM_AARCH64
    gdb = "gdb-multiarch" if arm64 else "gdb"
    if kernel.kerneloffset:
        gdb_line = f"{gdb} -nx -ex 'symbol-file -o 0x{kernel.kerneloffset:x} vmlinux' -c {quoted}"
    else:
        gdb_line = f"{gdb} -nx vmlinux {quoted}"
    crash = [f"crash --minimal vmlinux {quoted}",
             f"crash --no_modules --no_panic --no_kmem_cache --zero_excluded vmlinux {quoted}"]
    if not arm64:
        return [f"crash --osrelease {quoted}", *crash, gdb_line]
    crash_note = ("# crash needs an ARM64-target build here (x86_64 ones print \"unknown\"): "
                  "Debian's crash:arm64 under qemu-aarch64-static -L /, or make target=ARM64")
    return [f"qdlpy report {quoted}", gdb_line, f"drgn -c {quoted} -s vmlinux", crash_note,
            *crash]


@dataclasses.dataclass
class AssembleReport:
    folder: str
    address_source: str  # manifest | dump_info | load.cmm | heuristic
    output: str | None  # the kernel ELF (None when the dump has no kernel minidump)
    outputs: list[OutputFile] = dataclasses.field(default_factory=list)
    kernel: KernelInfo | None = None
    groups: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    next_commands: list[str] = dataclasses.field(default_factory=list)
    holes: list[Hole] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> str:
        return "warnings" if self.warnings else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "folder": self.folder, "address_source": self.address_source,
            "output": self.output, "outputs": [o.to_dict() for o in self.outputs],
            "kernel": None if self.kernel is None else self.kernel.to_dict(),
            "holes": [h.to_dict() for h in self.holes],
            "groups": {k: list(v) for k, v in self.groups.items()},
            "warnings": list(self.warnings), "next_commands": list(self.next_commands),
        }


@dataclasses.dataclass
class InspectReport:
    path: str
    kind: str  # "elf" | "folder"
    kernel: KernelInfo | None = None
    file_size: int | None = None  # ELF mode
    expected_size: int | None = None  # ELF mode: max(p_offset + p_filesz)
    notes: list[str] = dataclasses.field(default_factory=list)
    address_source: str | None = None  # folder mode
    entries: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # folder mode
    encrypted: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "warnings" if self.warnings else "ok",
            "path": self.path, "kind": self.kind,
            "kernel": None if self.kernel is None else self.kernel.to_dict(),
            "file_size": self.file_size, "expected_size": self.expected_size,
            "notes": list(self.notes), "vmcoreinfo": dict(self.kernel.vmcoreinfo) if self.kernel
            else {}, "address_source": self.address_source, "entries": list(self.entries),
            "encrypted": self.encrypted, "warnings": list(self.warnings),
        }
