"""End to end through the simulated device: pull a dump, let pull assemble it, check the ELF.

The expectations come from the oracle (a folder it built, replayed by the ``dir:``
scenario) or from external readers comparing the ELF with the region files the pull saved
(the ``kmemdump`` scenario); the simulator's own idea of the result is never used.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from helpers import run_qdlpy
from oracle import downstream, kmemdump
from oracle.kelf import layout
from oracle.regionset import RegionSet

from qdlpy.dump import pull

MakeFolder = Callable[..., Path]
Verify = Callable[..., None]

VARIANTS: dict[str, Callable[[], RegionSet]] = {
    "arm64-shuffled": lambda: kmemdump.build("arm64").shuffled(5),
    "x86_64-reregistered": lambda: kmemdump.build("x86_64", reregister=17),
    "arm64-missing-region": lambda: kmemdump.build("arm64").without(20).without(53),
    "x86_64-misaligned": lambda: kmemdump.build("x86_64", misaligned=True),
    "arm64-downstream": lambda: downstream.build_downstream("arm64"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_replayed_oracle_dump_pulls_and_assembles_to_the_oracle_elf(
        variant: str, make_folder: MakeFolder, tmp_path: Path, verify: Verify) -> None:
    s = VARIANTS[variant]()
    source = make_folder(s, source="dump_info")
    out = tmp_path / "pulled"
    result = pull(f"sim:dir:{source}", output=out, after="none")
    assert result.elf is not None
    verify(out / "minidump.elf", s)


def _dump_info(folder: Path) -> dict[int, Path]:
    """address -> file, from the pulled dump_info.txt read with plain string splitting."""
    out = {}
    for line in (folder / "dump_info.txt").read_text().splitlines():
        fields = line.split()
        out[int(fields[1], 16)] = folder / fields[-1]
    return out


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_the_simulated_kmemdump_device_through_the_cli(arch: str, tmp_path: Path) -> None:
    out = tmp_path / "dump"
    proc = run_qdlpy("pull", "-t", f"sim:kmemdump?arch={arch}&order=shuffled", "-o", out,
                     "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["elf"] is not None
    files = _dump_info(out)
    kelf = (out / "md_KELF1.BIN").read_bytes()
    vmcoreinfo = (out / "md_Kvmcorein2.BIN").read_bytes()
    core = (out / "minidump.elf").read_bytes()
    assert core[: len(kelf)] == kelf  # the header region, unchanged
    lay = layout({"arm64": 392, "x86_64": 336}[arch], len(vmcoreinfo))
    assert len(kelf) == lay.kelf_size  # the device's header has the kernel's layout
    with ELFFile(io.BytesIO(core)) as elf:
        segs = list(elf.iter_segments())
        assert (segs[0]["p_offset"], segs[0]["p_filesz"]) == (lay.note_start, lay.note_len)
        [note] = [n for n in segs[0].iter_notes() if n["n_name"] == "VMCOREINFO"]
        desc = note["n_desc"]
        assert (desc if isinstance(desc, bytes) else desc.encode("latin-1")) == vmcoreinfo
        offset = len(kelf) + len(vmcoreinfo)
        for seg in segs[1:]:  # every PT_LOAD holds the file saved for its address, in order
            assert seg["p_offset"] == offset
            assert seg.data() == files[seg["p_paddr"]].read_bytes()
            offset += seg["p_filesz"]
    assert len(core) == offset
