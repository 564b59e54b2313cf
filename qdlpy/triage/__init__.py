"""Field triage without vmlinux: the kernel log and a crash report from a dump alone."""
