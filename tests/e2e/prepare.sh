#!/usr/bin/env bash
# Installs the Debian packages the real-kernel tier (tests/e2e) needs. Run as root.
#   tests/e2e/prepare.sh [x86_64] [arm64]      (default: both)
# Python packages come from PyPI, into the interpreter that runs pytest:
#   python -m pip install drgn pyelftools
# The guest kernels are not installed: the generator fetches them with `apt-get download`
# into its cache (.cache/e2e or $QDLPY_E2E_CACHE).
set -euo pipefail

arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(x86_64 arm64)

pkgs=(gdb)
for arch in "${arches[@]}"; do
    case "$arch" in
        x86_64) pkgs+=(qemu-system-x86 crash) ;;
        arm64)
            pkgs+=(qemu-system-arm gdb-multiarch)
            # only so that `apt-get download <pkg>:arm64` works; nothing arm64 gets installed
            if ! dpkg --print-foreign-architectures | grep -qx arm64; then
                dpkg --add-architecture arm64
            fi
            ;;
        *) echo "prepare.sh: unknown arch '$arch' (x86_64, arm64)" >&2; exit 2 ;;
    esac
done

export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get update -q
timeout 900 apt-get install -y -q --no-install-recommends "${pkgs[@]}"
