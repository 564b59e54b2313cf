"""Real-kernel proof tier: a Debian kernel's memory, cut into kmemdump regions, must come
back out of qdlpy as an ELF that crash, gdb and drgn read.

Two groups:
* generator proof: the folders and reference.elf the generator writes follow
  docs/formats.md and the real tools read reference.elf;
* pipeline: serve the folder through qdlpy's simulator, pull it, assemble it, check the
  result with the same tools.

crash runs on both architectures: Debian's crash for x86_64 cores, Debian's arm64 build of
crash under qemu-user for arm64 cores (generator/crashtool.py), so no crash check skips.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from kernel_case import NOTES, KernelCase
from kernel_checks import crash_full_mode, crash_log, drgn_probe, gdb_print
from qdlpy_cli import run_json, serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

VARIANTS = ("ordered", "shuffled", "missing")


# --------------------------------------------------------------------------- helpers


def assert_crash_log_has_marker(case: KernelCase, core: Path) -> None:
    out = crash_log(case.vmlinux, core, crash=case.crash)
    assert case.expected["marker"] in out, f"crash --minimal log lacks the marker:\n{out[-3000:]}"


def assert_gdb_hostname(case: KernelCase, core: Path) -> None:
    # nodename is set by /init at run time: the vmlinux file holds "(none)"
    # (docs/testing.md#trust-only-runtime-values)
    out = gdb_print(case.arch.gdb_binary, case.vmlinux, core, "init_uts_ns.name.nodename")
    assert f'"{case.expected["hostname"]}"' in out, out[-3000:]


def assert_drgn_reads(case: KernelCase, core: Path) -> None:
    doc = drgn_probe(case.vmlinux, core)
    assert doc["nodename"] == case.expected["hostname"]
    assert case.expected["marker"] in doc["texts"], f"{doc['records']} printk records, no marker"


def dump_info(folder: Path) -> list[tuple[int, int, int, str, str]]:
    """(save_pref, base, length, desc, filename) per line; desc may hold spaces
    (docs/formats.md#the-dump_infotxt-format)."""
    rows = []
    for line in (folder / "dump_info.txt").read_text().splitlines():
        tok = line.split()
        rows.append((int(tok[0]), int(tok[1], 16), int(tok[2]), " ".join(tok[3:-1]), tok[-1]))
    return rows


def phdrs(elf: bytes) -> list[tuple[int, ...]]:
    phoff, = struct.unpack_from("<Q", elf, 32)
    phnum, = struct.unpack_from("<H", elf, 56)
    return [struct.unpack_from("<IIQQQQQQ", elf, phoff + 56 * i) for i in range(phnum)]


# --------------------------------------------------------------------------- generator proof


def test_reference_elf_has_the_kmemdump_layout(case: KernelCase) -> None:
    """docs/formats.md#the-core-image-header, docs/formats.md#how-pt_load-offsets-and-order-arise,
    re-derived here from the bytes, not from the generator."""
    elf = case.reference.read_bytes()
    kelf = (case.folder("ordered") / "md_KELF1.BIN").read_bytes()
    vmci = (case.folder("ordered") / "md_Kvmcorein2.BIN").read_bytes()
    v = len(vmci)
    assert v % 4 == 0 and vmci.startswith(b"OSRELEASE=" + case.expected["osrelease"].encode())
    # docs/formats.md#h-n-and-the-kelf-length
    base = {"x86_64": 12340, "arm64": 12452}[case.arch.name]
    assert len(kelf) == base + v
    assert elf[:len(kelf)] == kelf and elf[len(kelf):len(kelf) + v] == vmci
    assert elf[:4] == b"\x7fELF" and struct.unpack_from("<HH", elf, 16) == (4, case.arch.e_machine)
    ph = phdrs(elf)
    assert ph[0][0] == 4  # PT_NOTE first
    note_off, note_len = ph[0][2], ph[0][5]
    assert note_off + note_len == len(kelf) + v  # the descriptor is the vmcoreinfo region
    # the three notes: CORE/NT_PRSTATUS, CORE/NT_PRPSINFO, VMCOREINFO (type 0, descsz V)
    pos, seen = note_off, []
    while pos < note_off + note_len:
        namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
        name = elf[pos + 12: pos + 12 + namesz].rstrip(b"\0")
        seen.append((name, ntype, descsz))
        pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    assert seen == [(b"CORE", 1, case.arch.prstatus_size), (b"CORE", 3, 136), (b"VMCOREINFO", 0, v)]
    offset = len(kelf) + v
    loads = ph[1:]
    assert len(loads) == len(case.expected["regions"]) - 2
    for p_type, flags, off, _va, _pa, filesz, memsz, align in loads:
        assert (p_type, flags, align) == (1, 6, 0) and filesz == memsz and filesz % 4 == 0
        assert off == offset  # contiguous, ascending
        offset += filesz
    assert offset == len(elf)


@pytest.mark.parametrize("variant", VARIANTS)
def test_folder_matches_the_reference(case: KernelCase, variant: str) -> None:
    """Every PT_LOAD of the reference maps to exactly one table entry (by p_paddr and
    length) whose file holds the bytes at p_offset; load.cmm lists the same addresses."""
    folder = case.folder(variant)
    elf = case.reference.read_bytes()
    rows = dump_info(folder)
    assert rows[-1][3:] == ("CMM Script", "load.cmm") and rows[-1][0] == 2
    regions = rows[:-1]
    by_pa = {pa: (length, name) for _, pa, length, _, name in regions}
    assert len(by_pa) == len(regions)
    for _, _, length, desc, name in regions:
        assert name == desc + ".BIN" and len(desc) <= 15 and desc.startswith("md_K")
        assert (folder / name).stat().st_size == length
    cmm = re.findall(r"^d\.load\.binary (\S+) 0x([0-9a-f]+) /noclear$",
                     (folder / "load.cmm").read_text(), re.MULTILINE)
    assert [(n, int(a, 16)) for n, a in cmm] == [(r[4], r[1]) for r in regions]
    missing = case.expected["missing_region"]
    served = 0
    for _, _, off, _va, pa, filesz, _, _ in phdrs(elf)[1:]:
        if variant == "missing" and pa == missing["pa"]:
            assert pa not in by_pa
            continue
        length, name = by_pa[pa]
        assert length == filesz
        assert (folder / name).read_bytes() == elf[off:off + filesz]
        served += 1
    names = [r[4] for r in regions]
    ordered_names = [r["filename"] for r in case.expected["regions"]]
    if variant == "ordered":
        assert names == ordered_names  # SMEM order = ascending id
    elif variant == "shuffled":
        assert names != ordered_names and sorted(names) == sorted(ordered_names)
    else:
        assert missing["filename"] not in names and not (folder / missing["filename"]).exists()
        assert len(names) == len(ordered_names) - 1
    assert served == len(phdrs(elf)) - 1 - (variant == "missing")


def test_reference_crash_minimal_log_has_marker(case: KernelCase) -> None:
    assert_crash_log_has_marker(case, case.reference)


def test_reference_gdb_reads_runtime_hostname(case: KernelCase) -> None:
    assert_gdb_hostname(case, case.reference)


def test_reference_drgn_reads_hostname_and_marker(case: KernelCase) -> None:
    assert_drgn_reads(case, case.reference)


def test_reference_with_a_zero_filled_region_still_loads(case: KernelCase) -> None:
    """The missing-region policy 'zero-fill at the original offset'
    (docs/formats.md#missing-regions) keeps crash --minimal and drgn working when linux_banner is
    absent."""
    assert_crash_log_has_marker(case, case.reference_missing)
    assert_drgn_reads(case, case.reference_missing)


def test_crash_full_mode_report(case: KernelCase) -> None:
    """Informational: how far stock crash gets in full mode with the kmemdump region set
    (docs/testing.md#crash-full-mode expects a start-up read error). Fails only when crash gives no
    diagnosable answer at all (neither the prompt nor a named read error)."""
    res = crash_full_mode(case.vmlinux, case.reference, crash=case.crash)
    report = case.out / "crash-full-mode.txt"
    report.write_text(res.summary() + "\n\nread errors:\n" + "\n".join(res.read_errors)
                      + "\n\n--- crash -d 1 output ---\n" + res.output)
    NOTES.append(f"[{case.arch.name}] {res.summary()} (details: {report})")
    print(res.summary())
    assert res.reached_prompt or res.read_errors, res.output[-3000:]
    if res.reached_prompt:
        assert res.nodename == case.expected["hostname"]


# --------------------------------------------------------------------------- qdlpy pipeline


_PULLED: dict[tuple[str, str], tuple[Path, dict[str, Any]]] = {}


@pytest.fixture(scope="session")
def pulled_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pulled")


def pull(case: KernelCase, variant: str, root: Path) -> tuple[Path, dict[str, Any]]:
    """Serve one folder variant through `qdlpy simulate`, `qdlpy pull` it (once per session)."""
    key = (case.arch.name, variant)
    if key not in _PULLED:
        out = root / f"{case.arch.name}-{variant}"
        with serve(case.folder(variant)) as uri:
            ok = (0, 8) if variant == "missing" else (0,)  # 8 = partial dump
            doc, _ = run_json("pull", "--transport", uri, "-o", str(out), "--json", ok_codes=ok)
        assert (out / "minidump.elf").is_file(), f"pull wrote no minidump.elf: {json.dumps(doc)}"
        _PULLED[key] = (out, doc)
    return _PULLED[key]


@pytest.mark.parametrize("variant", ["ordered", "shuffled"])
def test_pulled_minidump_equals_reference(case: KernelCase, variant: str,
                                          pulled_root: Path) -> None:
    out, _ = pull(case, variant, pulled_root)
    assert (out / "minidump.elf").read_bytes() == case.reference.read_bytes()


def test_pulled_minidump_crash_log_has_marker(case: KernelCase, pulled_root: Path) -> None:
    out, _ = pull(case, "ordered", pulled_root)
    assert_crash_log_has_marker(case, out / "minidump.elf")


def test_pulled_minidump_gdb_reads_runtime_hostname(case: KernelCase, pulled_root: Path) -> None:
    out, _ = pull(case, "ordered", pulled_root)
    assert_gdb_hostname(case, out / "minidump.elf")


def test_pulled_minidump_drgn_reads_hostname_and_marker(case: KernelCase,
                                                        pulled_root: Path) -> None:
    out, _ = pull(case, "ordered", pulled_root)
    assert_drgn_reads(case, out / "minidump.elf")


@pytest.mark.parametrize("variant", ["ordered", "shuffled"])
def test_assemble_offline_equals_reference(case: KernelCase, variant: str,
                                           tmp_path: Path) -> None:
    target = tmp_path / "minidump.elf"
    run_json("assemble", str(case.folder(variant)), "-o", str(target), "--json")
    assert target.read_bytes() == case.reference.read_bytes()


MISSING_WORDS = re.compile(r"missing|absent|not found|no region", re.IGNORECASE)


def _is_region(value: Any, region: dict[str, Any]) -> bool:
    """A scalar naming the region: its desc/file name, or its physical or virtual address
    (as a number or as 0x-hex text)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value in (region["pa"], region["va"])
    if isinstance(value, str):
        addresses = (int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]+)", value))
        return region["desc"] in value or any(a in (region["pa"], region["va"]) for a in addresses)
    return False


def reports_missing(doc: Any, region: dict[str, Any], keys: tuple[str, ...] = ()) -> bool:
    """Does the JSON say this region is missing? Either one string names the region and says
    "missing", or an object naming the region sits under a "missing" key or has a sibling
    value that says so (a per-region status). Naming it in a list of placed regions is not
    enough."""
    if isinstance(doc, list):
        return any(reports_missing(v, region, keys) for v in doc)
    if isinstance(doc, dict):
        names_it = any(_is_region(v, region) for v in doc.values())
        says_missing = any(MISSING_WORDS.search(k) for k in keys) or any(
            isinstance(v, str) and MISSING_WORDS.search(v) for v in doc.values())
        if names_it and says_missing:
            return True
        return any(reports_missing(v, region, (*keys, str(k))) for k, v in doc.items())
    return isinstance(doc, str) and _is_region(doc, region) and bool(MISSING_WORDS.search(doc))


def test_missing_region_still_loads_and_is_reported(case: KernelCase, pulled_root: Path,
                                                    tmp_path: Path) -> None:
    out, _ = pull(case, "missing", pulled_root)
    core = out / "minidump.elf"
    assert_crash_log_has_marker(case, core)
    assert_drgn_reads(case, core)
    doc, _ = run_json("assemble", str(out), "-o", str(tmp_path / "again.elf"), "--json",
                      ok_codes=(0, 8))
    missing = case.expected["missing_region"]
    assert reports_missing(doc, missing), (
        f"assemble --json does not name the missing region {missing['desc']} "
        f"(PA {missing['pa']:#x}): {json.dumps(doc)[-3000:]}")
