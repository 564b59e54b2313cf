"""``qdlpy load`` / ``qdlpy.load.load`` against the ``edl`` scenario.

The simulated PBL parses what it receives and compares every chunk with the real file
(``file=``), so a passing load proves the upload was byte-exact; the mismatch test
shows the comparison does fail when the bytes differ.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qdlpy.errors import DeviceNak, InputError, InvalidArgument, WrongMode
from qdlpy.load import load
from qdlpy.protocols.constants import Cmd
from qdlpy.simulator.model import DeviceModel
from qdlpy.simulator.scenarios import build_model
from qdlpy.simulator.scenarios.edl import EdlPlan
from qdlpy.transport.sim import SimTransport

MiB = 1 << 20
Cli = Callable[..., Any]
MakeFile = Callable[..., Path]


class RecordingSim(SimTransport):
    """A sim transport that keeps every device->host command packet it delivered."""

    def __init__(self, spec: str, model: DeviceModel) -> None:
        super().__init__(spec, model=model)
        self.commands: list[int] = []

    def read(self, size: int, timeout: float) -> bytes:
        data = super().read(size, timeout)
        if len(data) >= 8 and int.from_bytes(data[4:8], "little") == len(data):
            self.commands.append(int.from_bytes(data[:4], "little"))
        return data


def _device(spec: str) -> tuple[RecordingSim, DeviceModel, EdlPlan]:
    model = build_model(spec)
    plan = model.personality.image_plan
    assert isinstance(plan, EdlPlan)
    return RecordingSim(spec, model), model, plan


def _phdr_offsets(path: Path) -> list[tuple[int, int]]:
    """(p_offset, p_filesz) of the PT_LOADs of an ELF64 built by conftest.elf64_bytes."""
    data = path.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phnum, = struct.unpack_from("<H", data, 0x38)
    out = []
    for i in range(phnum):
        p_type, _f, off, _v, _p, filesz = struct.unpack_from("<IIQQQQ", data, phoff + 56 * i)
        if p_type == 1:
            out.append((off, filesz))
    return out


def test_elf64_upload_is_byte_exact_with_a_realistic_request_pattern(make_elf64: MakeFile) -> None:
    prog = make_elf64([MiB + MiB // 2, 5000])
    t, model, plan = _device(f"edl?file={prog}")
    result = load(prog, transport=t)
    log = plan.logs[13]
    assert log.verified, log
    (off1, size1), (off2, size2) = _phdr_offsets(prog)
    assert log.requests == [
        (0, 0x34),  # ELF32-sized header first
        (0, 0x40),  # then the whole ELF64 header
        (0x40, 3 * 56),  # the program headers (PT_NOTE + 2 PT_LOAD)
        (off1, MiB), (off1 + MiB, size1 - MiB),  # PT_LOAD 1 in chunks of at most 1 MiB
        (off2, size2),
    ]
    assert set(t.commands) >= {Cmd.READ_DATA} and Cmd.READ_DATA_64 not in t.commands
    assert result.done_status == "complete"
    [img] = result.images
    assert img.status == "complete" and img.requests == 6
    assert img.bytes_sent == 0x34 + 0x40 + 3 * 56 + size1 + size2
    assert model.rebooted  # the device jumped to the programmer


def test_read_data_64_and_small_chunks(make_elf64: MakeFile) -> None:
    prog = make_elf64([100_000, 70_000])
    t, _, plan = _device(f"edl?file={prog}&read64=1&chunk=16K")
    load(prog, transport=t)
    assert plan.logs[13].verified
    assert Cmd.READ_DATA_64 in t.commands and Cmd.READ_DATA not in t.commands
    assert max(n for _, n in plan.logs[13].requests) == 16 * 1024


def test_mbn_programmer(make_mbn: MakeFile) -> None:
    prog = make_mbn(40_000, name="prog.mbn")
    t, _, plan = _device(f"edl?file={prog}&chunk=16K")
    load(prog, transport=t)
    log = plan.logs[13]
    assert log.verified
    assert log.requests[:2] == [(0, 0x34), (40, 16 * 1024)]
    assert sum(n for off, n in log.requests[1:]) == 40_000


def test_several_images(make_elf64: MakeFile, make_mbn: MakeFile) -> None:
    prog, extra = make_elf64([8192]), make_mbn(20_000)
    t, _, plan = _device(f"edl?file={prog}&images=13,21&file_21={extra}")
    result = load(prog, [(21, extra)], transport=t)
    assert plan.logs[13].verified and plan.logs[21].verified
    assert [(i.image_id, i.status) for i in result.images] == [(13, "complete"), (21, "complete")]
    assert result.done_status == "complete"


def test_pending_after_the_only_programmer_is_tolerated(make_elf64: MakeFile) -> None:
    prog = make_elf64([4096])
    t, _, plan = _device(f"edl?file={prog}&pending_quirk=1")
    result = load(prog, transport=t)
    assert plan.logs[13].verified
    assert result.done_status == "pending-tolerated"


def test_progress_reports_every_byte_sent(make_elf64: MakeFile) -> None:
    events: list[tuple[str, object]] = []

    class Sink:
        def begin(self, total_bytes: int, regions: int) -> None:
            events.append(("begin", (total_bytes, regions)))

        def region_start(self, name: str, size: int, done: int) -> None:
            events.append(("start", name))

        def advance(self, n: int) -> None:
            events.append(("advance", n))

        def region_end(self, name: str, status: str) -> None:
            events.append(("end", status))

        def end(self) -> None:
            events.append(("stop", None))

    prog = make_elf64([300_000])
    t, _, _ = _device(f"edl?file={prog}&chunk=64K")
    result = load(prog, transport=t, progress=Sink())
    assert events[0][0] == "begin" and events[1] == ("start", f"image 13 ({prog.name})")
    assert sum(n for kind, n in events if kind == "advance") == result.bytes_sent  # type: ignore[misc]
    assert events[-2:] == [("end", "complete"), ("stop", None)]


def test_mismatching_bytes_are_caught_by_the_device(make_elf64: MakeFile) -> None:
    reference, other = make_elf64([4096], name="a.elf"), make_elf64([4096, 16], name="b.elf")
    t, _, plan = _device(f"edl?file={reference}")
    with pytest.raises(DeviceNak) as exc:
        load(other, transport=t)
    assert exc.value.status == 0x22
    assert plan.logs[13].mismatch is not None


def test_request_past_the_end_names_image_and_range(cli: Cli, make_mbn: MakeFile) -> None:
    bad = make_mbn(7000, declared=9000)  # the header promises more than the file holds
    run = cli("load", str(bad), "--transport", "sim:edl", "--json")
    assert run.code == 10
    err = run.json()["error"]
    assert err["code"] == "bad-input"
    assert "image 13" in err["message"] and f"0x28-0x{40 + 9000:x}" in err["message"]
    assert f"0x{7040:x}" in err["message"]


def test_truncated_elf_is_caught(make_elf64: MakeFile) -> None:
    prog = make_elf64([8192])
    prog.write_bytes(prog.read_bytes()[:-100])
    t, _, _ = _device("edl")
    with pytest.raises(InputError, match="image 13"):
        load(prog, transport=t)


def test_unknown_image_id_is_a_clear_error(cli: Cli, make_elf64: MakeFile) -> None:
    prog = make_elf64([4096])
    run = cli("load", str(prog), "--transport", "sim:edl?images=13,99", "--json")
    assert run.code == 2
    err = run.json()["error"]
    assert "image 99" in err["message"] and "--image 99:FILE" in err["hint"]


def test_auth_failure_nak_is_decoded(cli: Cli, make_elf64: MakeFile) -> None:
    prog = make_elf64([4096])
    run = cli("load", str(prog), "--transport", "sim:edl?nak=0x21", "--json")
    assert run.code == 6
    doc = run.json()
    assert doc["schema"] == "qdlpy.load/1" and doc["status"] == "error"
    err = doc["error"]
    assert err["status"] == 0x21 and err["status_name"] == "NAK_HASH_TABLE_AUTH_FAILURE"
    assert "authentication failed" in err["message"] and "image 13" in err["message"]


def test_crash_dump_device_is_refused_and_keeps_its_dump(cli: Cli, make_elf64: MakeFile) -> None:
    prog = make_elf64([4096])
    run = cli("load", str(prog), "--transport", "sim:kmemdump", "--json")
    assert run.code == 6
    assert run.json()["error"]["code"] == "wrong-mode"
    assert "dump" in run.json()["error"]["message"]
    assert cli("regions", "--transport", "sim:kmemdump").code == 0


def test_wrong_mode_from_the_api(make_elf64: MakeFile) -> None:
    with pytest.raises(WrongMode):
        load(make_elf64([64]), transport=SimTransport("kmemdump", model=build_model("kmemdump")))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--image", "nonsense"], "ID:FILE"),
        (["--image", "13:{prog}"], "given twice"),
        (["{missing}"], "cannot read"),
        ([], "nothing to load"),
    ],
)
def test_bad_arguments_are_exit_2(cli: Cli, make_elf64: MakeFile, tmp_path: Path,
                                  args: list[str], needle: str) -> None:
    prog = make_elf64([64])
    argv = [a.format(prog=prog, missing=tmp_path / "missing.elf") for a in args]
    if args and not args[0].startswith("{"):
        argv.insert(0, str(prog))
    run = cli("load", *argv, "--transport", "sim:edl")
    assert run.code == 2
    assert needle in run.err


def test_empty_file_is_refused_before_any_io(tmp_path: Path) -> None:
    empty = tmp_path / "empty.elf"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgument, match="empty"):
        load(empty, transport="sim:edl")


def test_end_to_end_over_tcp(simulator: Any, run_qdlpy: Callable[..., Any],
                             make_elf64: MakeFile, make_mbn: MakeFile) -> None:
    prog, extra = make_elf64([MiB + 12345, 3000]), make_mbn(50_000)
    scenario = f"edl?file={prog}&images=13,21&file_21={extra}&read64=1"
    with simulator(scenario) as (uri, proc):
        run = run_qdlpy("load", str(prog), "--image", f"21:{extra}", "--transport", uri,
                        "--json")
        assert run.code == 0, run.err
        doc = run.json()
        assert doc["schema"] == "qdlpy.load/1" and doc["status"] == "ok"
        assert [i["status"] for i in doc["images"]] == ["complete", "complete"]
        assert doc["done_status"] == "complete"
        # The device verified every byte and jumped to the programmer: the simulator ends.
        assert proc.wait(timeout=60) == 0


def test_end_to_end_over_the_usb_transport(run_qdlpy: Callable[..., Any],
                                           make_elf64: MakeFile) -> None:
    prog = make_elf64([200_000, 4096])
    run = run_qdlpy("load", str(prog), "--json", "--progress", "plain",
                    env={"QDLPY_USB_SIM": f"edl?file={prog}&pending_quirk=1&chunk=64K"})
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["device"]["transport"] == "usb"
    assert doc["done_status"] == "pending-tolerated"
    assert doc["images"][0]["requests"] == 3 + 4 + 1  # headers, 4 x 64K chunks, 4096


def test_mismatch_over_the_usb_transport_is_exit_6(run_qdlpy: Callable[..., Any],
                                                   make_elf64: MakeFile) -> None:
    reference, other = make_elf64([4096], name="a.elf"), make_elf64([4000], name="b.elf")
    run = run_qdlpy("load", str(other), "--json", env={"QDLPY_USB_SIM": f"edl?file={reference}"})
    assert run.code == 6
    assert run.json()["error"]["status"] == 0x22


def test_pending_after_several_images_is_not_tolerated(cli: Cli, make_elf64: MakeFile,
                                                       make_mbn: MakeFile) -> None:
    prog, extra = make_elf64([4096]), make_mbn(1000)
    run = cli("load", str(prog), "--image", f"21:{extra}", "--transport",
              "sim:edl?images=13,21&pending_quirk=1", "--json")
    assert run.code == 7
    assert "pending" in run.json()["error"]["message"]


def test_requests_are_read_and_sent_in_pieces(tmp_path: Path) -> None:
    # A device may ask for more than MAX_READ_SIZE at once (the length is a u32): the
    # host must not read such a request into memory in one piece (review 9 #19).
    from qdlpy.load import _Server, plan_images
    from qdlpy.progress import NullProgress
    from qdlpy.protocols.constants import MAX_READ_SIZE

    data = bytes(range(256)) * (3 * MAX_READ_SIZE // 256 + 7)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    records = plan_images(path)
    with open(path, "rb") as f:
        server = _Server(records, {13: f}, NullProgress())
        pieces = server.provide(13, 5, 3 * MAX_READ_SIZE + 11)
        assert not isinstance(pieces, (bytes, bytearray))
        got = list(pieces)
    assert all(isinstance(p, bytes) and 0 < len(p) <= MAX_READ_SIZE for p in got)
    assert b"".join(got) == data[5:5 + 3 * MAX_READ_SIZE + 11]


def test_serve_images_writes_each_piece_as_it_comes(make_elf64: MakeFile,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from qdlpy.protocols.constants import MAX_READ_SIZE

    preads: list[int] = []
    real = os.pread

    def pread(fd: int, n: int, off: int) -> bytes:
        preads.append(n)
        return real(fd, n, off)

    monkeypatch.setattr(os, "pread", pread)  # what qdlpy.load reads the programmer with
    prog = make_elf64([2 * MiB + 123])
    t, _, plan = _device(f"edl?file={prog}")
    load(prog, transport=t)
    assert plan.logs[13].verified
    assert preads and max(preads) <= MAX_READ_SIZE
