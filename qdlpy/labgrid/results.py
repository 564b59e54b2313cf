"""The ``qdlpy ... --json`` documents of a tool run, turned back into the API's typed results.

The driver runs the ``qdlpy`` command (on the exporter for remote places) and hands back
what ``qdlpy.pull`` / ``qdlpy.read_regions`` / ``qdlpy.reset_device`` return, or raises the
``QdlpyError`` subclass the command reported (by its stable ``code``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from qdlpy import errors
from qdlpy.dump import PullResult
from qdlpy.errors import DeviceNak, QdlpyError
from qdlpy.formats.manifest import Manifest
from qdlpy.protocols.packets import Hello
from qdlpy.protocols.table import Region, build_table
from qdlpy.regions import RegionsResult
from qdlpy.reset import DumpNotPulled, ResetResult
from qdlpy.session import DumpTable
from qdlpy.transport.base import DeviceIdentity


def _error_classes() -> dict[str, type[QdlpyError]]:
    classes: list[type[QdlpyError]] = [DumpNotPulled]
    for _, value in inspect.getmembers(errors, inspect.isclass):
        if issubclass(value, QdlpyError):
            classes.append(value)
    return {c.code: c for c in classes}


ERROR_CLASSES = _error_classes()


def error_from(doc: dict[str, Any], local_dir: Path | None = None) -> QdlpyError:
    """The QdlpyError a ``--json`` error document describes (same class, message and hint).

    Built without the class's own constructor: some take the device's raw status, which
    the document carries as fields (a NAK's ``status``), not as arguments.
    """
    info = doc.get("error") or {}
    cls = ERROR_CLASSES.get(str(info.get("code")), QdlpyError)
    err = cls.__new__(cls)
    QdlpyError.__init__(err, str(info.get("message", "qdlpy failed without saying why")),
                        hint=info.get("hint"))
    if isinstance(err, DeviceNak):
        err.status, err.context = int(info.get("status", 0)), ""
        err.status_name = str(info.get("status_name", ""))
    own = set(err.to_dict())
    err.details.update({k: v for k, v in info.items() if k not in own})
    if local_dir is not None and "output_dir" in err.details:
        err.details["output_dir"] = str(local_dir)
        err.details.pop("resume", None)  # a remote command line; resume with the driver
    return err


def _identity(device: dict[str, Any]) -> DeviceIdentity:
    def hex_or_none(value: Any) -> int | None:
        return int(str(value), 16) if value is not None else None

    return DeviceIdentity(
        transport=str(device.get("transport", "")), serial=device.get("serial"),
        usb_path=device.get("usb_path"), vid=hex_or_none(device.get("vid")),
        pid=hex_or_none(device.get("pid")), product=device.get("product"),
        interface_protocol=device.get("interface_protocol"),
        description=str(device.get("description", "")))


def _region(d: dict[str, Any]) -> Region:
    return Region(position=int(d["position"]), base=int(str(d["base"]), 16),
                  length=int(d["length"]), save_pref=int(d["save_pref"]),
                  description=str(d["description"]), filename=str(d["filename"]),
                  raw_description=bytes.fromhex(d.get("raw_description", "")),
                  raw_filename=bytes.fromhex(d.get("raw_filename", "")))


def regions_result(doc: dict[str, Any]) -> RegionsResult:
    """``qdlpy regions --json`` -> RegionsResult; the table's bytes are rebuilt from the
    entries (a 32-bit table's save_pref padding, never reported, reads as zero)."""
    table = doc["table"]
    regions = [_region(r) for r in doc["regions"]]
    is64 = bool(table["is64"])
    device = doc["device"]
    hello = Hello(version=int(device.get("sahara_version", 2)), mode=int(device.get("mode", 0)))
    dump = DumpTable(hello=hello, is64=is64, address=int(str(table["address"]), 16),
                     raw=build_table(regions, is64=is64), regions=regions)
    return RegionsResult(_identity(device), dump, int(doc.get("hello_reprovoked", 0)))


def reset_result(doc: dict[str, Any]) -> ResetResult:
    return ResetResult(_identity(doc["device"]), str(doc["state_before"]), doc.get("mode_before"),
                       bool(doc["reset_resp"]), int(doc.get("hello_reprovoked", 0)))


def pull_result(doc: dict[str, Any], folder: Path) -> PullResult:
    """``qdlpy pull --json`` of a complete pull, its folder now at ``folder``."""
    manifest = Manifest.load(folder)
    stats = doc.get("stats") or {}
    return PullResult(folder, manifest, elf=manifest.elf,
                      reconnects=int(stats.get("reconnects", 0)),
                      retries=int(stats.get("retries", 0)),
                      seconds=float(stats.get("seconds", 0.0)),
                      bytes_read=int(stats.get("bytes_read", 0)))
