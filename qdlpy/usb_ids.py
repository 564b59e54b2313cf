"""Which USB devices speak Sahara: the one rule shared by the usb transport and doctor.

Match VID 05c6 plus a vendor interface (class/subclass 0xff) whose protocol is one qdl
accepts, never a product-id list (docs/protocol.md#usb-devices-and-interfaces: EDL PIDs keep
multiplying, qdl dropped its allowlist); OEM vendors are known by VID:PID. No pyusb import here, so
doctor works without it.
"""

from __future__ import annotations

__all__ = ["OEM_IDS", "QUALCOMM_VID", "SAHARA_INTERFACE_PROTOCOLS", "is_sahara_interface"]

QUALCOMM_VID = 0x05C6
#: OEM VID:PIDs of EDL / memory-debug enumerations (docs/protocol.md#usb-devices-and-interfaces).
OEM_IDS: frozenset[tuple[int, int]] = frozenset(
    {
        (0x0FCE, 0x9DDE), (0x0FCE, 0xADE3), (0x0FCE, 0xADE5), (0x0FCE, 0xADED),  # Sony
        (0x1199, 0x9062), (0x1199, 0x9070), (0x1199, 0x9090), (0x1199, 0x9071),  # Sierra
        (0x0846, 0x68E0),  # Netgear
        (0x19D2, 0x0076),  # ZTE download
        (0x1004, 0x61A1),  # LG memory debug
        (0x1BC7, 0x900E),  # Telit crash/QDL
    }
)
#: bInterfaceProtocol values of Sahara-capable vendor interfaces
#: (docs/protocol.md#usb-devices-and-interfaces: qdl's set; 0x10 is what a QCS6490 in crash mode
#: showed, 0x13 came from qdl issue #286).
SAHARA_INTERFACE_PROTOCOLS: frozenset[int] = frozenset({0xFF, 0x10, 0x11, 0x13})


def is_sahara_interface(vid: int, pid: int, cls: int, subclass: int, protocol: int,
                        known: frozenset[tuple[int, int]] | set[tuple[int, int]] = OEM_IDS
                        ) -> bool:
    """Can this interface of device vid:pid carry Sahara?

    A Qualcomm device needs the ff/ff interface with a Sahara protocol; a known OEM
    VID:PID only needs a vendor-class interface (OEMs use other subclass values).
    """
    if vid == QUALCOMM_VID:
        return cls == 0xFF and subclass == 0xFF and protocol in SAHARA_INTERFACE_PROTOCOLS
    return (vid, pid) in known and cls == 0xFF
