"""Triage errors: every one is an InputError (exit 10) that names what is missing."""

from __future__ import annotations

from qdlpy.errors import InputError

__all__ = ["MissingKey", "MissingRegion", "CorruptLog", "NoLog"]


class MissingKey(InputError):
    """A VMCOREINFO key the reader needs is not in the dump's VMCOREINFO."""

    code = "vmcoreinfo-key-missing"
    default_hint = ("the kernel did not export it (check OSRELEASE), or the VMCOREINFO region "
                    "was cut; `qdlpy inspect` lists the keys that are there")


class MissingRegion(InputError):
    """Memory the reader needs is not in the dump (a region absent, short or zero-length)."""

    code = "region-missing"
    default_hint = ("pull the dump again (`qdlpy pull --resume`) or check which regions the "
                    "device served (`qdlpy inspect`); see docs/triage.md#what-each-absence-costs")


class CorruptLog(InputError):
    """The log structures are present but cannot be what the kernel wrote."""

    code = "corrupt-log"
    default_hint = "the region holding the log is damaged; `qdlpy dmesg --json` shows what " \
        "could still be read"


class NoLog(InputError):
    """The dump holds no kernel log in any layout qdlpy reads."""

    code = "no-log"
    default_hint = ("docs/triage.md#formats-read lists the layouts qdlpy reads; `qdlpy inspect` "
                    "shows the regions and VMCOREINFO keys present")
