#!/usr/bin/env bash
# Installs the Debian packages the real-kernel tier (tests/e2e) needs. Run as root.
#   tests/e2e/prepare.sh [x86_64] [arm64]      (default: both)
# Python packages come from PyPI, into the interpreter that runs pytest:
#   python -m pip install drgn pyelftools
# The guest kernels are not installed: the generator fetches them with `apt-get download`
# into its cache (.cache/e2e or $QDLPY_E2E_CACHE).
#
# crash: Debian builds it for its own architecture's cores only. A guest of the host's
# architecture gets the `crash` package; for the other one the generator unpacks Debian's
# crash build of that architecture into its cache and runs it under qemu-user
# (generator/crashtool.py), which needs qemu-user-static and that architecture's libraries
# (multiarch).
set -euo pipefail

arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(x86_64 arm64)

host=$(dpkg --print-architecture)
# what Debian's crash links against (`apt-cache depends crash`)
crash_libs=(libc6 libgcc-s1 liblzo2-2 libncursesw6 libsnappy1v5 libstdc++6 libtinfo6 libzstd1
            zlib1g)

pkgs=(gdb)
for arch in "${arches[@]}"; do
    case "$arch" in
        x86_64) deb=amd64; pkgs+=(qemu-system-x86) ;;
        arm64) deb=arm64; pkgs+=(qemu-system-arm gdb-multiarch) ;;
        *) echo "prepare.sh: unknown arch '$arch' (x86_64, arm64)" >&2; exit 2 ;;
    esac
    if [ "$deb" = "$host" ]; then
        pkgs+=(crash)
    else
        # for `apt-get download` of the guest kernel and of crash:$deb, and crash's libraries
        if ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
            dpkg --add-architecture "$deb"
        fi
        pkgs+=(qemu-user-static "${crash_libs[@]/%/:$deb}")
    fi
done

export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get update -q
timeout 900 apt-get install -y -q --no-install-recommends "${pkgs[@]}"
