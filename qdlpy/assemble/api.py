"""``assemble(folder)`` and ``inspect(path)``: the public entry points of qdlpy.assemble."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Collection
from pathlib import Path

from qdlpy.errors import InputError, OutputError, QdlpyError
from qdlpy.formats.addresses import ADDRESS_FILES
from qdlpy.formats.elf import EHDR_SIZE, ELFMAG, PHDR_SIZE, Ehdr, parse_ehdr, parse_phdrs
from qdlpy.formats.manifest import NAME as MANIFEST
from qdlpy.formats.manifest import recorded_outputs

from .classify import RegionKind
from .folder import Entry, FolderScan, scan_folder
from .groups import GROUPS, group_of, group_path, plan_group
from .inspect_elf import inspect_elf
from .kernel import NotElfReason, explain_not_elf, plan_kernel
from .plan import MAX_HEADER, KernelResult, open_region
from .policy import Policy
from .report import AssembleReport, Hole, InspectReport, OutputFile, next_commands
from .verify import settle
from .writer import OutputPlan, check_target, write_plan

__all__ = ["assemble", "inspect", "DEFAULT_OUTPUT"]

DEFAULT_OUTPUT = "minidump.elf"  # qdl's name (docs/formats.md#output-names)


def path_kind(path: Path, error: type[QdlpyError]) -> str | None:
    """"dir", "file", "other" or None (absent) for a path the user gave; ``error`` (an
    InputError or OutputError class) when the system refuses the path itself (a component
    over NAME_MAX, a loop of links...)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise error(f"cannot use {path}: {exc.strerror or exc}",
                    hint="check the path (each name at most 255 bytes, no loop of links)"
                    ) from exc
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _output_path(folder: Path, output: str | os.PathLike[str] | None) -> Path:
    if output is None:
        return folder / DEFAULT_OUTPUT
    text = os.fspath(output)
    out = Path(text)
    # "newdir/" names a directory even before it exists (write_plan creates it).
    trailing = text.endswith(os.sep) or (os.altsep is not None and text.endswith(os.altsep))
    return out / DEFAULT_OUTPUT if trailing or path_kind(out, OutputError) == "dir" else out


def _post_check(plan: OutputPlan) -> None:
    """The written kernel ELF parses and has the planned size
    (docs/formats.md#checks-after-writing)."""
    try:
        size = plan.path.stat().st_size
        with open(plan.path, "rb") as f:
            head = f.read(EHDR_SIZE)
            eh: Ehdr = parse_ehdr(head, str(plan.path))
            head += f.read(max(0, min(MAX_HEADER, eh.phoff + eh.phnum * PHDR_SIZE) - EHDR_SIZE))
        parse_phdrs(head, eh, str(plan.path))
    except OSError as exc:
        raise OutputError(f"cannot re-read {plan.path}: {exc.strerror or exc}") from exc
    except InputError as exc:  # a bug in the plan, not the input: say so
        raise OutputError(f"the written ELF does not parse: {exc.message}") from exc
    if size != plan.size:
        raise OutputError(f"{plan.path} is {size} bytes after writing, {plan.size} planned")


def assemble(folder: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, *,
             strict: bool = False, repair: bool = False, force: bool = False,
             skip_groups: Collection[str] = ()) -> AssembleReport:
    """Build ``minidump.elf`` (and one ELF per other region group) from a dump folder.

    ``folder``: region files plus, ideally, manifest.json / dump_info.txt / load.cmm.
    ``output``: the kernel ELF (default ``folder/minidump.elf``); group ELFs are written
    beside it as ``<stem>-<group>.elf``. ``strict``: refuse instead of repairing (missing,
    short, long, misaligned regions, vmcoreinfo problems, corrupt notes). ``repair``:
    rewrite corrupt CORE notes when the VMCOREINFO note header is intact.
    ``skip_groups``: group ELFs not to write (``qdlpy pull`` skips "fulldump": a copy of
    a multi-GiB DDR dump is the user's call, and crash reads the raw files directly).
    ``force``: replace an existing file that is not qdlpy's output (an ELF core in the dump
    folder that is neither a default output nor recorded by the manifest, any file that is
    not an ELF core elsewhere, a symbolic link, which is replaced and never written
    through); region files and the other files of the dump folder are never replaced.
    Raises InputError (unusable dump) or OutputError (cannot write); input files are never
    modified.
    """
    src = Path(folder)
    scan = scan_folder(src)
    _require_region_files(scan)
    warnings = list(scan.warnings)
    settle([e for e in scan.entries if group_of(e) not in skip_groups], Policy(strict, warnings))
    out = _output_path(src, output)
    report = AssembleReport(str(src), scan.source, None)
    kernel = plan_kernel(scan, out, strict=strict, repair=repair, warnings=warnings)
    if kernel is not None:
        report.kernel = kernel.info
    groups = _groups(scan, kernel, warnings)
    plans = [kernel.plan] if kernel is not None else []
    plans += _group_plans(groups, kernel, out, skip_groups, report, warnings)
    if not plans:
        raise InputError(f"nothing to assemble in {src}: no md_KELF header region and no "
                         "region with a known address",
                         hint="add the dump's manifest.json, dump_info.txt or load.cmm")
    inputs = [e.path for e in scan.entries if e.path is not None]
    inputs += [src / n for n in ADDRESS_FILES]
    own = _own_outputs(src)
    for plan in plans:  # every target first: a refused one must not leave the others written
        check_target(plan.path, inputs, folder=src, force=force, own=own)
    if kernel is not None:
        kernel.plan.holes = [Hole(str(kernel.plan.path), "kernel", pl.index, pl.filename,
                                  pl.paddr, max(pl.filesz, pl.memsz),
                                  pl.detail or "no region with this address")
                             for pl in kernel.info.missing]
    for plan in plans:
        write_plan(plan, inputs, beneath=src if _under(plan.path, src) else None)
        report.outputs.append(OutputFile(str(plan.path), plan.kind, plan.size, plan.regions))
        report.holes.extend(plan.holes)
    if kernel is not None:
        _post_check(kernel.plan)
        report.output = str(kernel.plan.path)
        report.next_commands = next_commands(report.output, kernel.info,
                                             reassemble=_reassemble(src, out))
    report.next_commands += _raw_crash_command(groups["fulldump"])
    report.warnings = warnings
    return report


def _own_outputs(src: Path) -> list[Path]:
    """The ELFs in the dump folder that are qdlpy's: the default names and the outputs the
    manifest recorded (docs/formats.md#what-may-be-replaced)."""
    default = src / DEFAULT_OUTPUT
    own = [default, *(group_path(default, g) for g in GROUPS)]
    own += [src / Path(p).name for p in recorded_outputs(src / MANIFEST)]
    return own


def _under(path: Path, folder: Path) -> bool:
    """``path`` is lexically inside ``folder`` (as given: links are judged by the writer)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return not rel.startswith(os.pardir)


def _groups(scan: FolderScan, kernel: KernelResult | None,
            warnings: list[str]) -> dict[str, list[Entry]]:
    """The entries of each group ELF (kernel-unreferenced: md_K regions no PT_LOAD uses)."""
    groups: dict[str, list[Entry]] = {g: [] for g in GROUPS}
    if kernel is not None:
        groups["kernel-unreferenced"] = list(kernel.unreferenced)
    else:
        orphans = [e for e in scan.entries if e.cls.kind is RegionKind.KERNEL]
        if orphans:
            warnings.append(f"{len(orphans)} md_K region(s) but no md_KELF header region: no "
                            "kernel ELF; they go to the kernel-unreferenced ELF")
        groups["kernel-unreferenced"] = orphans
    for e in scan.entries:
        g = group_of(e)
        if g is not None:
            groups[g].append(e)
    return groups


def _group_plans(groups: dict[str, list[Entry]], kernel: KernelResult | None, out: Path,
                 skip_groups: Collection[str], report: AssembleReport,
                 warnings: list[str]) -> list[OutputPlan]:
    """One plan per non-empty group not skipped; kernel-like groups carry the kernel's
    e_machine and VMCOREINFO so crash can read them."""
    machine = kernel.info.e_machine if kernel is not None else 0
    vmcoreinfo = kernel.vmcoreinfo if kernel is not None else None
    plans = []
    for g in GROUPS:
        if not groups[g] or g in skip_groups:
            continue
        report.groups[g] = [e.label for e in groups[g]]
        kernel_like = g in ("fulldump", "kernel-unreferenced")
        plan = plan_group(g, groups[g], group_path(out, g), machine=machine if kernel_like else 0,
                          vmcoreinfo=vmcoreinfo if kernel_like else None, warnings=warnings)
        if plan is not None:
            plans.append(plan)
    return plans


def _reassemble(src: Path, out: Path) -> str:
    """The ``qdlpy assemble ... --repair`` command line for this folder and output."""
    again = ["qdlpy", "assemble", str(src), "--repair"]
    if out != src / DEFAULT_OUTPUT:
        again += ["-o", str(out)]
    return shlex.join(again)


def _raw_crash_command(fulldump: list[Entry]) -> list[str]:
    """crash reads raw physical-memory files directly (docs/formats.md#crash)."""
    raw = [e for e in fulldump if e.base is not None and e.path is not None and e.size]
    if not raw:
        return []
    files = ",".join(shlex.quote(f"{e.path}@0x{e.base:x}") for e in raw)
    return [f"crash vmlinux {files}"]


def _name_loads_from_folder(rep: InspectReport, folder: Path) -> None:
    """An ELF next to its dump folder: name PT_LOADs after the region with that address."""
    if rep.kernel is None or all(pl.filename for pl in rep.kernel.placements):
        return
    try:
        scan = scan_folder(folder)
    except InputError:
        return
    if not scan.has_addresses:
        return
    by_base: dict[int, str] = {}
    for e in scan.entries:
        if e.base is not None and e.path is not None:
            by_base.setdefault(e.base, e.label)
    for pl in rep.kernel.placements:
        if pl.filename is None:
            pl.filename = by_base.get(pl.paddr) or by_base.get(pl.paddr & ~3)


_INSPECT_HINT = ("point it at a minidump ELF (minidump.elf, a md_KELF*.BIN region) or at a dump "
                 "folder")


def inspect(path: str | os.PathLike[str]) -> InspectReport:
    """What an ELF or a dump folder holds, without running crash: the PT_LOAD -> region
    map, vmcoreinfo keys, what is missing."""
    p = Path(path)
    kind = path_kind(p, InputError)
    if kind == "file":
        rep = inspect_elf(p, hint=_INSPECT_HINT)  # not "run qdlpy inspect": that is us
        _name_loads_from_folder(rep, p.parent)
        return rep
    if kind == "dir":
        return _inspect_folder(p)
    if kind is not None:
        raise InputError(f"{p} is not a regular file or directory (a FIFO or device?)",
                         hint=_INSPECT_HINT)
    raise InputError(f"{p} does not exist", hint="check the path")


def _unusable_header(scan: FolderScan, rep: InspectReport) -> bool:
    """A kernel header region that is no ELF (encrypted, zeroed...): say why, True."""
    headers = [e for e in scan.entries if e.cls.kind is RegionKind.KERNEL
               and (e.cls.kelf or e.cls.downstream_header) and e.path is not None]
    for h in headers[:1]:
        assert h.path is not None
        try:
            with open_region(h.path, h.label) as f:
                head = f.read(4096)
        except (OSError, InputError):
            continue
        if head[:4] != ELFMAG:
            why = explain_not_elf(head, h.label)
            rep.encrypted = why.reason is NotElfReason.ENCRYPTED
            rep.warnings.append(why.message)
            return True
    return False


def _require_region_files(scan: FolderScan) -> None:
    """assemble and inspect agree: a folder without a single region file is not a dump."""
    if not any(e.path is not None for e in scan.entries):
        raise InputError(f"{scan.folder} holds no region files (*.BIN)",
                         hint="point qdlpy at the folder `qdlpy pull`, qdl, edl or QPST wrote")


def _inspect_folder(p: Path) -> InspectReport:
    scan = scan_folder(p)
    _require_region_files(scan)
    warnings = list(scan.warnings)
    # kernel regions only: hashing a multi-GiB full dump is not worth an inspection
    settle([e for e in scan.entries if e.cls.kind is RegionKind.KERNEL], Policy(False, warnings))
    rep = InspectReport(str(p), "folder", address_source=scan.source,
                        entries=[e.to_dict() for e in scan.entries], warnings=warnings)
    if _unusable_header(scan, rep):
        return rep
    try:
        kr = plan_kernel(scan, p / DEFAULT_OUTPUT, strict=False, repair=False,
                         warnings=rep.warnings)
    except InputError as exc:
        rep.warnings.append(f"no kernel ELF can be built: {exc.message}")
        return rep
    if kr is None:
        rep.warnings.append("no md_KELF header region: no kernel minidump in this folder")
    else:
        rep.kernel = kr.info
        rep.expected_size = kr.plan.size
    return rep
