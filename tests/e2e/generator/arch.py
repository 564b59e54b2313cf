"""Per-architecture facts the generator needs: packages, QEMU command line, ELF constants."""

from __future__ import annotations

import dataclasses

from .errors import GeneratorError

__all__ = ["ArchSpec", "ARCHES", "get_arch"]


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    name: str  # "x86_64" | "arm64": the name used on the command line and in paths
    deb_arch: str  # Debian architecture of the guest packages
    kernel_meta: str  # metapackage that depends on the current versioned image
    qemu_binary: str
    qemu_package: str
    qemu_machine: tuple[str, ...]  # machine/cpu arguments
    console: str
    gdb_binary: str
    gdb_package: str
    #: Runs this architecture's programs on another host: Debian builds crash for its own
    #: architecture's cores only, so crash:<deb_arch> runs under it elsewhere (crashtool.py).
    qemu_user_binary: str
    e_machine: int  # ELF_ARCH: EM_X86_64 = 62, EM_AARCH64 = 183
    prstatus_size: int  # sizeof(struct elf_prstatus), docs/formats.md#h-n-and-the-kelf-length (P)
    ram_mib: int = 256

    @property
    def kernel_flavour_suffix(self) -> str:
        """What follows the ABI in the versioned package name (``-cloud-amd64``)."""
        return self.kernel_meta.removeprefix("linux-image")


ARCHES: dict[str, ArchSpec] = {
    "x86_64": ArchSpec(
        name="x86_64",
        deb_arch="amd64",
        # 3x smaller -dbg than the generic flavour (docs/testing.md#kernel-packages)
        kernel_meta="linux-image-cloud-amd64",
        qemu_binary="qemu-system-x86_64",
        qemu_package="qemu-system-x86",
        # KVM is not usable on these machines (docs/testing.md#booting-under-qemu): TCG. la57=off
        # keeps the common 4-level page-table layout that addrspace.py walks
        # (docs/testing.md#booting-under-qemu).
        qemu_machine=("-machine", "q35,accel=tcg", "-cpu", "max,la57=off"),
        console="ttyS0",
        gdb_binary="gdb",
        gdb_package="gdb",
        qemu_user_binary="qemu-x86_64-static",
        e_machine=62,
        prstatus_size=336,
    ),
    "arm64": ArchSpec(
        name="arm64",
        deb_arch="arm64",
        kernel_meta="linux-image-arm64",
        qemu_binary="qemu-system-aarch64",
        qemu_package="qemu-system-arm",
        qemu_machine=("-machine", "virt,accel=tcg", "-cpu", "cortex-a57"),
        console="ttyAMA0",
        gdb_binary="gdb-multiarch",
        gdb_package="gdb-multiarch",
        qemu_user_binary="qemu-aarch64-static",
        e_machine=183,
        prstatus_size=392,
    ),
}


def get_arch(name: str) -> ArchSpec:
    try:
        return ARCHES[name]
    except KeyError:
        raise GeneratorError(
            "arch", f"unknown arch {name!r} (choose from {', '.join(ARCHES)})"
        ) from None
