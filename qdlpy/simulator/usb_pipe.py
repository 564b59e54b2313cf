"""USB bulk-pipe semantics over the simulator's DeviceModel.

The model speaks in whole transfers (``host_write`` one host->device transfer,
``next_transfer`` one device->host transfer). A real USB host does not see transfers: it
sees packets of ``wMaxPacketSize`` bytes collected into the host's buffer until a short
packet, a zero-length packet (ZLP) or a full buffer ends the host-side transfer
(docs/protocol.md#zero-length-packets). ``UsbPipe`` reproduces exactly that, so the transport's ZLP
handling is tested against the behaviour that breaks naive hosts:

* a device transfer longer than the host buffer arrives in several reads;
* a transfer whose length is a non-zero multiple of the max packet size is followed by a
  ZLP (docs/protocol.md#zero-length-packets); the ZLP only shows up as a separate ``b""`` read when
  the host's buffer ended exactly at the transfer end, otherwise it just ends that read;
* a host buffer that is not a multiple of the max packet size and too small for the next
  packet is a babble/overflow (what Linux usbfs reports as EOVERFLOW);
* ``send_zlp=False`` models devices/bridges that omit the ZLP (fwupd's ``no-zlp`` flag):
  the next transfer's packets then run on into the same host read.

It also builds the raw descriptor bytes (device, configuration, one vendor interface with
two bulk endpoints, docs/protocol.md#usb-endpoints-and-opening) and string descriptors whose
iProduct carries the ``_SN:`` serial token (docs/protocol.md#usb-devices-and-interfaces), which
``pyusb_backend`` parses into pyusb's descriptor objects.
"""

from __future__ import annotations

import struct
from typing import Protocol

from qdlpy.errors import Disconnected, TransportError

__all__ = ["DeviceModelLike", "UsbPipe", "Babble", "QUALCOMM_MANUFACTURER"]

QUALCOMM_MANUFACTURER = "Qualcomm CDMA Technologies MSM"

# Standard descriptor types (USB 2.0 §9.4, table 9-5; 0x30 is the USB 3 SS endpoint
# companion).
DT_DEVICE = 0x01
DT_CONFIG = 0x02
DT_STRING = 0x03
DT_INTERFACE = 0x04
DT_ENDPOINT = 0x05
DT_SS_EP_COMPANION = 0x30
EP_BULK = 0x02
US_ENGLISH = 0x0409


class DeviceModelLike(Protocol):
    """The four-method contract of qdlpy.simulator.model.DeviceModel (docs/design.md)."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def host_write(self, data: bytes) -> None: ...

    def next_transfer(self) -> bytes | None: ...

    @property
    def unplugged(self) -> bool: ...


class Babble(TransportError):
    """The device sent a packet that does not fit in the host buffer (usbfs EOVERFLOW)."""

    code = "usb-overflow"


class UsbPipe:
    """One simulated USB device: descriptors plus a bulk IN/OUT endpoint pair."""

    ep_in = 0x81
    ep_out = 0x01
    interface_number = 0

    def __init__(
        self,
        model: DeviceModelLike,
        max_packet: int = 512,
        vid: int = 0x05C6,
        pid: int = 0x900E,
        serial: str = "SIM00001",
        product: str | None = None,
        interface_protocol: int = 0x10,
        bus: int = 1,
        port_numbers: tuple[int, ...] = (2,),
        *,
        manufacturer: str = QUALCOMM_MANUFACTURER,
        serial_descriptor: str | None = None,
        send_zlp: bool = True,
    ) -> None:
        if max_packet not in (64, 512, 1024):
            raise ValueError(f"max_packet must be 64, 512 or 1024, not {max_packet}")
        self.model = model
        self.max_packet = max_packet
        self.vid = vid
        self.pid = pid
        self.serial = serial
        # docs/protocol.md#usb-devices-and-interfaces: the serial travels in iProduct, e.g.
        # "QUSB__BULK_CID:0402_SN:ABCD1234".
        self.product = product if product is not None else f"QUSB__BULK_CID:0402_SN:{serial}"
        self.manufacturer = manufacturer
        self.serial_descriptor = serial_descriptor
        self.interface_protocol = interface_protocol
        self.bus = bus
        self.port_numbers = port_numbers
        self.send_zlp = send_zlp
        #: Bumped on every plug(): a re-enumeration is a new device to the host.
        self.generation = 0
        #: Counters for tests: ZLPs the host sent (OUT) and ZLPs it saw as b"" (IN).
        self.out_zlps = 0
        self.in_zlps_seen = 0
        self._plugged = False
        self._replugged = False
        self._cur = b""
        self._off = 0
        self._active = False
        self._zlp_pending = False
        self.plug()

    # -- plug state -------------------------------------------------------------------
    #
    # USB life cycle mapped onto the model contract (docs/design.md "Simulator layering"):
    #   plug()    the device enumerates (nothing reaches the model yet);
    #   attach()  a host claimed the interface -> model.connect() (HELLO goes out once per
    #             Sahara session; listing devices and reading strings never triggers it);
    #   releasing the interface does nothing to the model: on real USB, data the device
    #             queued stays in its IN FIFO for the next host;
    #   unplug()  cable pulled -> model.disconnect() (the FIFO is lost).
    # When the model drops off the bus by itself (``model.unplugged``: disconnect fault,
    # RESET) every handle fails; plug() is then a re-enumeration, and the next attach()
    # tells the model a host is back.

    @property
    def unplugged(self) -> bool:
        """True when the cable is out or the model dropped off the bus (RESET, fault)."""
        if not self._plugged:
            return True
        return bool(self.model.unplugged) and not self._replugged

    @property
    def rebooted(self) -> bool:
        """The device left download mode for good (after RESET): it never comes back."""
        return bool(getattr(self.model, "rebooted", False))

    def plug(self) -> None:
        """(Re-)enumerate: a new address, an empty IN FIFO on this side."""
        self._reset_in_state()
        self._plugged = True
        self._replugged = bool(self.model.unplugged)
        self.generation += 1

    def attach(self) -> None:
        """A host claimed the interface."""
        self._check_plugged()
        self._replugged = False
        self.model.connect()

    def unplug(self) -> None:
        """Pull the cable: whatever sat in the device's IN FIFO is lost."""
        if self._plugged:
            self._plugged = False
            self._reset_in_state()
            self.model.disconnect()

    def _reset_in_state(self) -> None:
        self._cur = b""
        self._off = 0
        self._active = False
        self._zlp_pending = False

    def _check_plugged(self) -> None:
        if self.unplugged:
            raise Disconnected("simulated USB device is unplugged")

    # -- bulk endpoints ---------------------------------------------------------------

    @property
    def speed(self) -> int:
        """libusb speed code: 4 = SuperSpeed (1024-byte bulk), 3 = High, 2 = Full."""
        return {1024: 4, 512: 3}.get(self.max_packet, 2)

    def bulk_out(self, data: bytes | bytearray | memoryview) -> None:
        """One host->device transfer; an empty one is an OUT ZLP (counted, not forwarded)."""
        self._check_plugged()
        if len(data) == 0:
            self.out_zlps += 1
            return
        self.model.host_write(bytes(data))

    def bulk_in(self, size: int) -> bytes | None:
        """Fill a host buffer of ``size`` bytes; ``None`` means NAK (nothing to send yet)."""
        self._check_plugged()
        out = bytearray()
        while True:
            if self._zlp_pending:
                return self._pending_zlp(out)
            if not self._active:
                started = self._load_next()
                if started is None:
                    # No more data: a real host read would wait for the timeout and then
                    # return what arrived (pyusb returns the partial count).
                    return bytes(out) if out else None
                if not started:
                    return bytes(out)  # an explicit zero-length transfer ends the host read
            ended = self._copy_into(out, size)
            if ended is not None:
                return ended
            # No ZLP: the host transfer is not over, the next transfer's packets run on.

    def _pending_zlp(self, out: bytearray) -> bytes:
        """The previous read ended exactly at a max-packet multiple: the ZLP that terminates
        that transfer is what this read gets."""
        self._zlp_pending = False
        if out:  # cannot happen (pending is set only on a full buffer); be safe
            return bytes(out)
        self.in_zlps_seen += 1
        return b""

    def _load_next(self) -> bool | None:
        """Start the model's next transfer: True when one started, False for an explicit
        zero-length transfer, None when the device has nothing to send."""
        nxt = self.model.next_transfer()
        if nxt is None:
            return None
        if not nxt:
            return False
        self._cur, self._off, self._active = nxt, 0, True
        return True

    def _copy_into(self, out: bytearray, size: int) -> bytes | None:
        """Move the current transfer's packets into ``out``; the host read's bytes once it
        ends (short packet, ZLP, full buffer), None while it goes on."""
        mps = self.max_packet
        room = size - len(out)
        remaining = len(self._cur) - self._off
        if room <= 0:
            if remaining > 0:
                raise Babble(f"{remaining} bytes pending for a 0-byte host buffer")
            return bytes(out)
        if remaining > room:
            if room % mps:
                # The next packet does not fit in what is left of the host buffer.
                raise Babble(
                    f"host buffer of {size} bytes is not a multiple of the "
                    f"{mps}-byte max packet and the device sent more"
                )
            out += self._cur[self._off : self._off + room]
            self._off += room
            return bytes(out)
        whole = not out and self._off == 0
        tail = self._cur if whole else self._cur[self._off :]  # whole: no copy
        self._active = False
        length = len(self._cur)
        self._cur, self._off = b"", 0
        if self.send_zlp and not length % mps and remaining == room:
            self._zlp_pending = True  # buffer full: the ZLP waits for the next read
        if length % mps or self.send_zlp or remaining == room:
            # Ended by a short packet, by the ZLP, or by the full host buffer.
            return tail if whole else bytes(out + tail)
        out += tail
        return None

    # -- descriptors ------------------------------------------------------------------

    @property
    def address(self) -> int:
        """A bus address that changes on every re-enumeration, as on real hardware."""
        return 1 + (sum(self.port_numbers) + 7 * self.generation) % 126

    def device_descriptor(self) -> bytes:
        superspeed = self.max_packet == 1024
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            18,
            DT_DEVICE,
            0x0320 if superspeed else 0x0200,  # bcdUSB
            0,
            0,
            0,  # class/subclass/protocol at interface level
            9 if superspeed else 64,  # bMaxPacketSize0 (an exponent at SuperSpeed)
            self.vid,
            self.pid,
            0x0000,  # bcdDevice
            1,  # iManufacturer
            2,  # iProduct
            3 if self.serial_descriptor is not None else 0,  # iSerialNumber
            1,  # bNumConfigurations
        )

    def config_descriptor(self) -> bytes:
        """Configuration + one vendor interface (ff/ff/proto) + bulk IN + bulk OUT."""
        body = struct.pack(
            "<BBBBBBBBB",
            9,
            DT_INTERFACE,
            self.interface_number,
            0,  # bAlternateSetting
            2,  # bNumEndpoints
            0xFF,
            0xFF,
            self.interface_protocol,
            0,
        )
        for address in (self.ep_in, self.ep_out):
            body += struct.pack("<BBBBHB", 7, DT_ENDPOINT, address, EP_BULK, self.max_packet, 0)
            if self.max_packet == 1024:
                body += struct.pack("<BBBBH", 6, DT_SS_EP_COMPANION, 0, 0, 0)
        total = 9 + len(body)
        head = struct.pack("<BBHBBBBB", 9, DT_CONFIG, total, 1, 1, 0, 0x80, 50)
        return head + body

    def string(self, index: int) -> str | None:
        return {1: self.manufacturer, 2: self.product, 3: self.serial_descriptor}.get(index)

    def string_descriptor(self, index: int, langid: int = US_ENGLISH) -> bytes:
        """GET_DESCRIPTOR(STRING) answer; index 0 is the LANGID table."""
        if index == 0:
            return struct.pack("<BBH", 4, DT_STRING, US_ENGLISH)
        text = self.string(index)
        if text is None or langid != US_ENGLISH:
            return b""
        raw = text.encode("utf-16-le")[:252]
        return bytes((len(raw) + 2, DT_STRING)) + raw
