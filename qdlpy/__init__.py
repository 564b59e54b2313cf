"""qdlpy: pull Qualcomm crash dumps over Sahara and assemble crash-loadable ELF cores.

The public Python API; the ``qdlpy`` command (``qdlpy.cli``) is a thin layer over it::

    import qdlpy
    result = qdlpy.pull("sim:kmemdump", output="dump")      # -> qdlpy.dump.PullResult
    table = qdlpy.read_regions("tcp:127.0.0.1:5555")         # -> qdlpy.regions.RegionsResult
    report = qdlpy.assemble.assemble("dump")                  # -> AssembleReport
    log = qdlpy.dmesg("dump")                                 # -> qdlpy.triage.DmesgResult
    triage = qdlpy.report("dump")                             # -> qdlpy.triage.Report
    for event in qdlpy.watch("dumps", count=1): ...           # -> qdlpy.watcher.WatchEvent

The functions are imported on first use so ``import qdlpy`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qdlpy._version import __version__
from qdlpy.errors import QdlpyError

if TYPE_CHECKING:
    from qdlpy.dump import PullResult, pull
    from qdlpy.info import read_info
    from qdlpy.load import load
    from qdlpy.regions import read_regions
    from qdlpy.reset import reset_device
    from qdlpy.triage import DmesgResult, Report, dmesg, report
    from qdlpy.watcher import watch

__all__ = ["DmesgResult", "PullResult", "QdlpyError", "Report", "__version__", "dmesg", "load",
           "pull", "read_info", "read_regions", "report", "reset_device", "watch"]

_LAZY = {
    "pull": ("qdlpy.dump", "pull"),
    "PullResult": ("qdlpy.dump", "PullResult"),
    "read_regions": ("qdlpy.regions", "read_regions"),
    "read_info": ("qdlpy.info", "read_info"),
    "load": ("qdlpy.load", "load"),
    "reset_device": ("qdlpy.reset", "reset_device"),
    "dmesg": ("qdlpy.triage", "dmesg"),
    "report": ("qdlpy.triage", "report"),
    "DmesgResult": ("qdlpy.triage", "DmesgResult"),
    "Report": ("qdlpy.triage", "Report"),
    "watch": ("qdlpy.watcher", "watch"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qdlpy' has no attribute {name!r}")
