"""The host state machine fed arbitrary device bytes in each state.

A case is a script: each step either feeds bytes (one transfer, split in two), or calls
one of the machine's actions with fuzzed arguments, the way a session would (reporting
silence included). Reaching the later states needs the right packets, so a step can feed a
well-formed packet of any command with fuzzed fields; the seeds walk the three flows
(memory debug, command, image transfer) to the end.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from fuzzcase import Input, Script

from qdlpy.errors import QdlpyError
from qdlpy.protocols.constants import Cmd
from qdlpy.protocols.host import HostMachine
from qdlpy.protocols.packets import PACKET_SIZES

NAME = "host"
_MAX_STEPS = 64
_COMMANDS = sorted(PACKET_SIZES)


def _packet(case: Input) -> bytes:
    cmd = case.choice(_COMMANDS)
    size = PACKET_SIZES[cmd]
    body = case.take(size - 8).ljust(size - 8, b"\0")
    return struct.pack("<II", cmd, size) + body


def _feed(m: HostMachine, case: Input) -> None:
    kind = case.int_in(0, 3)
    if kind == 0:
        data = _packet(case)
    elif kind == 1:
        data = case.blob(512)
    elif kind == 2:
        data = bytes(case.int_in(0, 4096))  # a run of zeros (memory data)
    else:
        data = _packet(case) + case.blob(64)
    cut = case.int_in(0, len(data))
    for part in (data[:cut], data[cut:]):
        m.receive_data(part)


def _actions(m: HostMachine, case: Input) -> list[Callable[[], object]]:
    return [
        lambda: m.hello_resp(None if case.flag() else case.int_in(0, 3)),
        lambda: m.memory_read(case.uint(8), case.int_in(1, 1 << 20), "fuzz"),
        lambda: m.memory_read(m.table_address, max(1, m.table_length), "table"),
        lambda: m.set_table([(case.uint(8), case.uint(4)) for _ in range(case.int_in(0, 4))]),
        m.reset,
        lambda: m.switch_mode(case.int_in(0, 3)),
        lambda: m.reprovoke_hello(case.int_in(0, 3)),
        lambda: m.execute(case.int_in(0, 0x23)),
        lambda: m.execute_data(case.int_in(0, 0x23)),
        m.image_data_sent,
        m.done,
        m.abandon_raw,
        m.receive_idle,
    ]


_N_ACTIONS = 13


class _Steps(Script):
    """Seed writer: one method per step kind."""

    def feed(self, cmd: int, body: bytes) -> _Steps:
        self.flag(False).int_in(0, 0, 3).choice(_COMMANDS.index(cmd), len(_COMMANDS))
        size = PACKET_SIZES[cmd]
        self.raw(body.ljust(size - 8, b"\0")).int_in(size, 0, size)
        return self

    def feed_raw(self, data: bytes) -> _Steps:
        self.flag(False).int_in(1, 0, 3).blob(data, 512).int_in(len(data), 0, len(data))
        return self

    def act(self, index: int, *args: bytes) -> _Steps:
        self.flag(True).choice(index, _N_ACTIONS)
        for a in args:
            self.raw(a)
        return self


def _hello(mode: int) -> bytes:
    return struct.pack("<4I", 2, 1, 0x400, mode)


def seeds() -> list[bytes]:
    memory = (_Steps().flag(True).feed(Cmd.HELLO, _hello(2)).act(0, b"\x01")
              .feed(Cmd.MEMORY_DEBUG_64, struct.pack("<QQ", 0x146BF000, 64)).act(2)
              .feed_raw(struct.pack("<QQQ", 1, 0x1000, 0x100) + b"md_KELF1".ljust(40, b"\0"))
              .act(3, b"\x01", struct.pack("<QI", 0x1000, 0x100)).act(1)
              .act(12).act(4).feed(Cmd.RESET_RESP, b""))
    command = (_Steps().flag(True).feed(Cmd.HELLO, _hello(3)).act(0, b"\x01")
               .feed(Cmd.CMD_READY, b"").act(7, b"\x01")
               .feed(Cmd.EXECUTE_RESP, struct.pack("<II", 1, 8)).act(8, b"\x01")
               .feed_raw(b"\x01" * 8).act(5, b"\x00"))
    image = (_Steps().flag(True).feed(Cmd.HELLO, _hello(0)).act(0, b"\x01")
             .feed(Cmd.READ_DATA_64, struct.pack("<QQQ", 13, 0, 80)).act(9)
             .feed(Cmd.END_OF_IMAGE_TX, struct.pack("<II", 13, 0)).act(10)
             .feed(Cmd.DONE_RESP, struct.pack("<I", 1)))
    return [memory.done(), command.done(), image.done(), b"\x00"]


def one_input(data: bytes) -> None:
    case = Input(data)
    m = HostMachine(message_boundaries=case.flag())
    for _ in range(_MAX_STEPS):
        if not case.remaining:
            return
        try:
            if case.flag():
                case.choice(_actions(m, case))()
            else:
                _feed(m, case)
        except QdlpyError:
            if case.flag():
                return  # a session gives up here; else it carries on with the same machine
