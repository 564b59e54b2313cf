"""What ``--resume`` trusts (docs/formats.md#pull-folder-safety).

The folder's manifest, read without following a link and checked field by field; the
device it names, reached again without a device option; and nothing else: a device that
is not that one (another serial, another region table) is refused.
"""

from __future__ import annotations

import dataclasses
import logging

from qdlpy.errors import DifferentDevice, InputError, OutputError
from qdlpy.formats import manifest as mf
from qdlpy.formats.manifest import Manifest

from .folder import PullFolder
from .link import DeviceChoice, DeviceLink
from .records import table_info

__all__ = ["MAX_MANIFEST", "check_same_device", "read_manifest", "remembered_device"]

log = logging.getLogger("qdlpy.pull")

MAX_MANIFEST = 64 * 1024 * 1024  # thousands of regions are a few MiB of JSON


def remembered_device(previous: Manifest, choice: DeviceChoice) -> DeviceChoice:
    """The device a folder was pulled from, as its manifest recorded it: a USB device by
    serial when it has one (it may come back on another port), else by its USB path."""
    uri = previous.transport
    serial = previous.device.get("serial")
    usb_path = previous.device.get("usb_path")
    serial = serial if isinstance(serial, str) and serial else None
    usb_path = usb_path if isinstance(usb_path, str) and usb_path and not serial else None
    if uri.partition("?")[0].partition(":")[0].lower() != "usb":
        serial = usb_path = None
    log.info("resuming from the device this folder was pulled from: %s%s", uri,
             f" serial {serial}" if serial else f" at {usb_path}" if usb_path else "")
    return dataclasses.replace(choice, transport=uri, serial=serial, usb_path=usb_path)


def check_same_device(previous: Manifest, link: DeviceLink) -> None:
    """Refuse to continue a folder from another device (DifferentDevice)."""
    was = previous.device.get("serial")
    now = link.transport.identity().serial
    if isinstance(was, str) and was and now and now != was:
        raise DifferentDevice(f"this folder was pulled from the device with serial {was}; "
                              f"the device reached now has serial {now}")
    if previous.table.get("sha256") != table_info(link.table)["sha256"]:
        raise DifferentDevice("the device now offers a different region table than the one in "
                              "this folder's manifest: it is another device or another crash")


def read_manifest(folder: PullFolder) -> Manifest:
    """The folder's manifest, read without following a link, every field checked."""
    where = folder.path / mf.NAME
    if folder.regular_size(mf.NAME) is None:
        if folder.exists(mf.NAME):
            raise InputError(f"{where} is not a regular file of its own (a link?)",
                             hint="qdlpy trusts only its own manifest: restore it, or pull "
                                  "into a new -o DIR")
        raise OutputError(f"{folder.path} has no {mf.NAME} to resume from",
                          hint="pull into a new -o DIR (or --force to add to this one)")
    try:
        with folder.open_read(mf.NAME) as f:
            data = f.read(MAX_MANIFEST + 1)
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror or exc}") from exc
    if len(data) > MAX_MANIFEST:
        raise mf.DamagedManifest(f"{where} is over {MAX_MANIFEST} bytes; not qdlpy's manifest")
    return Manifest.from_bytes(data, str(where))
