"""``inspect`` on mutated ELFs: the assembled kernel and group ELFs of the templates, with
bytes flipped, 64-bit fields set to fuzzed values, cut or extended."""

from __future__ import annotations

from fuzzcase import Input
from fuzztemplates import elfs
from fuzzwork import scratch

from qdlpy.assemble import inspect

NAME = "inspect"


def seeds() -> list[bytes]:
    return [bytes([i]) for i in range(4)] + [b"\x00\x01" + bytes(16), b"\x01\x02\x40"]


def one_input(data: bytes) -> None:
    case = Input(data)
    blob = bytearray(case.choice(elfs()).read_bytes())
    for _ in range(case.int_in(0, 12)):
        op = case.int_in(0, 3)
        at = case.int_in(0, min(len(blob), 64 * 1024))  # where the headers and notes are
        if op == 0 and at < len(blob):
            blob[at] = case.uint(1)
        elif op == 1:
            blob[at : at + 8] = case.uint(8).to_bytes(8, "little")
        elif op == 2:
            del blob[case.int_in(0, len(blob)) :]
        else:
            blob += case.blob(128)
    with scratch() as work:
        path = work / "minidump.elf"
        path.write_bytes(bytes(blob))
        inspect(path)
