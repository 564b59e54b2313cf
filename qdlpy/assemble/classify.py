"""Classify a dump entry by its name, tolerating tools that changed the file-name case.

Rules (docs/formats.md#telling-full-dumps-and-minidumps-apart,
docs/formats.md#classifying-regions-by-name): ``md_K...`` = kernel (``md_KELF<n>`` is the
kmemdump/meminspect header, ``md_KELF_HEADER``/``md_KELF_HDR`` the downstream one, a Gunyah VMID may
precede the K, docs/formats.md#gunyah-guest-vms); ``MD_...`` = firmware item; other ``md_...`` =
another subsystem; ``load.cmm`` = script; anything else = full-dump region. Unlike
:func:`qdlpy.protocols.naming.parse_region_name` this accepts ``MD_KELF1.BIN`` and ``md_kelf1.bin``
(edl and Windows tools are known to change case); firmware items never start with K, so an
upper-cased kernel name is still recognised.
"""

from __future__ import annotations

import dataclasses
import re

from qdlpy.protocols.naming import RegionKind

__all__ = ["Classified", "classify", "as_kernel", "RegionKind"]

_EXT = re.compile(r"\.bin$", re.IGNORECASE)
_VMID = re.compile(r"^(?P<vmid>[0-9a-f]{2})_(?=k)", re.IGNORECASE)
_TRAILING_ID = re.compile(r"^(?P<name>.*?)(?P<id>\d{1,4})$")
_KELF = re.compile(r"^kelf\d+$", re.IGNORECASE)
_KELF_DOWNSTREAM = re.compile(r"^kelf_(header|hdr)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Classified:
    kind: RegionKind
    name: str  # without prefix and trailing id ("KELF", "Kvmcorein", "ADSP_XYZ", "DDRCS0_0")
    id: int | None  # trailing decimal (kmemdump region id) for md_ names
    vmid: str | None = None
    kelf: bool = False  # kmemdump/meminspect core-image header (md_KELF<id>)
    downstream_header: bool = False  # msm_minidump section-based header


def classify(description: str, filename: str) -> Classified:
    """Kind and id of a table entry; the description wins when it carries the md_ name."""
    desc = description.strip()
    text = desc if desc[:3].lower() == "md_" else filename.strip()
    if text.lower() == "load.cmm" or filename.strip().lower() == "load.cmm":
        return Classified(RegionKind.SCRIPT, "load.cmm", None)
    stem = _EXT.sub("", text)
    if stem[:3].lower() != "md_":
        return Classified(RegionKind.FULLDUMP, stem, None)
    body = stem[3:]
    vmid = None
    m = _VMID.match(body)
    if m:
        vmid = m.group("vmid").lower()
        body = body[m.end():]
    if body[:1] in ("K", "k"):
        kind = RegionKind.KERNEL
    elif stem[:3] == "MD_":
        kind = RegionKind.FIRMWARE
    else:
        kind = RegionKind.SUBSYSTEM
    name, rid = body, None
    t = _TRAILING_ID.match(body)
    if t and t.group("name"):
        name, rid = t.group("name"), int(t.group("id"))
    return Classified(
        kind, name, rid, vmid,
        kelf=kind is RegionKind.KERNEL and bool(_KELF.match(body)),
        downstream_header=kind is RegionKind.KERNEL and bool(_KELF_DOWNSTREAM.match(body)),
    )


def as_kernel(cls: Classified) -> Classified:
    """The same name classified as a kernel region: a downstream kernel header listed it
    (the K prefix is a convention of kernel clients, not a rule)."""
    return dataclasses.replace(cls, kind=RegionKind.KERNEL)
