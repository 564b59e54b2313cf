"""Pulling a crash dump into a folder (``qdlpy.pull``).

``engine`` runs the steps; ``folder`` (the locked output folder), ``link`` (the device),
``loop`` (the region loop), ``writer`` (one region's NAME.part), ``stop`` (signals),
``records`` (region names and selection), ``resume`` (what --resume trusts), ``elf``
(assembling what was saved) and ``logfile`` (qdlpy.log) are its parts.
"""

from .elf import ElfNotBuilt, ElfOutcome
from .engine import PullResult, default_output_dir, pull, resume_command

__all__ = ["ElfNotBuilt", "ElfOutcome", "PullResult", "default_output_dir", "pull",
           "resume_command"]
