"""Builds kmemdump-layout minidump folders from a real Linux kernel booted under QEMU.

See pipeline.py for the output layout and docs/real-kernel-proof.md for the user view.
"""
