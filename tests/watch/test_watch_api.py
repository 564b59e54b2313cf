"""``qdlpy.watch``: many simulated USB devices through the production usb transport.

Each test builds its own simulated USB bus (qdlpy.simulator.pyusb_backend) and hands it to
the watch as its pyusb backend; devices are unplugged, re-plugged and replaced by the test
as a lab would. Folders are checked against a plain ``qdlpy.pull`` of the same dump.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from watch_support import (
    GatedBus,
    check_complete,
    check_events,
    manifest,
    pull_dirs,
    region_files,
    usb_bus,
    usb_devices,
)

import qdlpy
from qdlpy.watcher import WatchEvent

SPEC = "fulldump?size=4M"
MiB = 1 << 20


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A plain pull of SPEC: what every watched pull of it must save."""
    out = tmp_path / "reference"
    assert qdlpy.pull(f"sim:{SPEC}", output=out, elf=False).status == "ok"
    return out


def kinds(events: list[WatchEvent], kind: str) -> list[WatchEvent]:
    return [e for e in events if e.kind == kind]


def run(root: Path, **kwargs: Any) -> list[WatchEvent]:
    events = list(qdlpy.watch(root, elf=False, **kwargs))
    check_events(events)
    return events


def test_two_devices_are_pulled_at_once_each_into_its_own_folder(tmp_path: Path,
                                                                   reference: Path) -> None:
    # Each device holds its data after 1 MiB until both pulls have started: a watch that
    # pulled one device after the other would never get the second pull going.
    bus = GatedBus(usb_devices(SPEC, SPEC), hold_after=MiB)
    events: list[WatchEvent] = []
    for event in qdlpy.watch(tmp_path / "root", count=2, backend=bus, elf=False):
        events.append(event)
        if len(kinds(events, "pull-started")) == 2:
            bus.gate.set()
    check_events(events)
    serials = sorted(d.pipe.serial for d in bus.devices)
    folders = pull_dirs(tmp_path / "root")
    assert sorted(f.parent.name for f in folders) == serials
    for folder in folders:
        doc = check_complete(folder, reference)
        assert doc["device"]["serial"] == folder.parent.name
        assert doc["device"]["usb_path"] in ("1-1.1", "1-1.2")
    finished = kinds(events, "pull-finished")
    assert {e.output_dir for e in finished} == set(folders)
    assert all(e.status == "ok" and e.result is not None for e in finished)
    assert events[-1].to_dict()["exit_code"] == 0


def test_a_device_lost_mid_pull_is_continued_in_the_same_folder(tmp_path: Path,
                                                                reference: Path) -> None:
    bus = usb_bus(f"{SPEC}&disconnect_after=1M")
    device = bus.devices[0]
    device.auto_replug = False  # it stays away until the test plugs it back
    events: list[WatchEvent] = []
    for event in qdlpy.watch(tmp_path / "root", count=1, timeout=0.5, backend=bus, elf=False):
        events.append(event)
        if event.kind == "pull-paused":
            device.replug()
    check_events(events)
    started = kinds(events, "pull-started")
    assert [e.to_dict()["resume"] for e in started] == [False, True]
    assert started[0].output_dir == started[1].output_dir
    paused = kinds(events, "pull-paused")[0]
    assert paused.error is not None and paused.error.exit_code == 7
    assert paused.status in ("partial", "error")
    [folder] = pull_dirs(tmp_path / "root")
    check_complete(folder, reference)
    assert len(kinds(events, "pull-finished")) == 1


def test_a_device_back_in_download_mode_after_its_reset_is_a_new_crash(tmp_path: Path,
                                                                       reference: Path) -> None:
    bus = usb_bus(SPEC)
    serial = bus.devices[0].pipe.serial
    events: list[WatchEvent] = []
    for event in qdlpy.watch(tmp_path / "root", count=2, backend=bus, elf=False):
        events.append(event)
        if event.kind == "device-gone":
            # The pull reset it and it left the bus; the board crashes again, same port and
            # serial (a device that comes back: the pull's reset already made it a new crash).
            bus.devices.extend(usb_devices(f"{SPEC}&usb_serial={serial}"))
    check_events(events)
    folders = pull_dirs(tmp_path / "root")
    assert len(folders) == 2 and {f.parent.name for f in folders} == {serial}
    for folder in folders:
        assert check_complete(folder, reference)["after"] == "reset"
    order = [e.kind for e in events if e.kind in ("device-gone", "device-seen")]
    assert order == ["device-seen", "device-gone", "device-seen"]


def test_a_device_left_waiting_is_not_pulled_twice_until_it_goes_away(
        tmp_path: Path, reference: Path) -> None:
    bus = usb_bus(SPEC)
    device = bus.devices[0]
    done, stop = threading.Event(), threading.Event()

    def unplug_and_replug_later() -> None:
        # Let the watch look at the bus a few more times first, then pull the cable and put
        # it back: a device that went away and came back is a new crash to the watch.
        if not done.wait(60):
            stop.set()  # the first pull never ended: end the watch, the test fails below
            return
        mark = bus.enumerations
        for step in (device.unplug, device.replug):
            while bus.enumerations < mark + 3 and not stop.is_set():
                stop.wait(0.005)
            step()
            mark = bus.enumerations

    helper = threading.Thread(target=unplug_and_replug_later, daemon=True)
    helper.start()
    events: list[WatchEvent] = []
    for event in qdlpy.watch(tmp_path / "root", count=2, after="none", backend=bus,
                             elf=False, stop=stop):
        events.append(event)
        if event.kind == "pull-finished":
            done.set()
    stop.set()
    helper.join(5)
    check_events(events)
    assert events[-1].status == "ok"
    order = [e.kind for e in events if e.kind not in ("progress",)]
    first_end = order.index("pull-finished")
    assert order[first_end + 1:first_end + 3] == ["device-gone", "device-seen"]
    assert len(pull_dirs(tmp_path / "root")) == 2
    assert all(manifest(f)["after"] == "none" for f in pull_dirs(tmp_path / "root"))


def test_serial_and_usb_path_narrow_the_devices_served(tmp_path: Path) -> None:
    bus = usb_bus(SPEC, SPEC, SPEC)
    wanted = bus.devices[1].pipe.serial
    events = run(tmp_path / "root", serials=[wanted.lower()], usb_paths=["1-1.3"], count=2,
                 backend=bus)
    assert {e.device.key for e in kinds(events, "device-seen") if e.device} == {wanted, "5A1B2C03"}
    assert sorted(f.parent.name for f in pull_dirs(tmp_path / "root")) == [wanted, "5A1B2C03"]


def test_max_parallel_and_count(tmp_path: Path) -> None:
    bus = usb_bus(SPEC, SPEC, SPEC)
    events = run(tmp_path / "root", count=2, max_parallel=1, backend=bus)
    running = peak = 0
    for event in events:
        running += {"pull-started": 1, "pull-finished": -1}.get(event.kind, 0)
        peak = max(peak, running)
    assert peak == 1
    assert len(pull_dirs(tmp_path / "root")) == 2
    assert events[-1].to_dict()["pulls"] == 2
    assert sum(1 for d in bus.devices if d.pipe.rebooted) == 2  # the third was never touched


def test_exit_code_is_the_worst_pulls(tmp_path: Path) -> None:
    # END_OF_IMAGE_TX 0x19 in the middle of DDR: that pull fails with a NAK (exit 6).
    bus = usb_bus(SPEC, f"{SPEC}&eoi_at=0x80100000")
    events = run(tmp_path / "root", count=2, backend=bus)
    finished = {e.device.key: e for e in kinds(events, "pull-finished") if e.device}
    assert finished["5A1B2C01"].status == "ok"
    bad = finished["5A1B2C02"]
    assert bad.status in ("partial", "error") and bad.error is not None
    assert bad.to_dict()["exit_code"] == 6 and bad.to_dict()["error"]["code"] == "device-nak"
    assert bad.to_dict()["summary"]["regions"]  # the manifest's account of what was saved
    last = events[-1].to_dict()
    assert (last["status"], last["exit_code"], last["ok"], last["error"]) == ("error", 6, 1, 1)


def test_exec_runs_after_each_pull_without_holding_up_the_others(tmp_path: Path) -> None:
    bus = usb_bus(SPEC, SPEC)
    flag, notes = tmp_path / "flag", tmp_path / "notes"
    notes.mkdir()
    command = (f'env | grep "^QDLPY_" | sort > "{notes}/$QDLPY_DEVICE.env"; '
               f'i=0; while [ ! -e "{flag}" ] && [ $i -lt 600 ]; do sleep 0.05; '
               'i=$((i+1)); done; echo "done with $QDLPY_SERIAL"')
    events: list[WatchEvent] = []
    for event in qdlpy.watch(tmp_path / "root", count=2, exec_command=command, backend=bus,
                             elf=False):
        events.append(event)
        if len(kinds(events, "pull-finished")) == 2:
            flag.touch()  # only now may the first command end
    check_events(events)
    order = [e.kind for e in events if e.kind in ("pull-finished", "exec-finished")]
    assert order == ["pull-finished", "pull-finished", "exec-finished", "exec-finished"]
    for event in kinds(events, "exec-finished"):
        doc = event.to_dict()
        assert doc["exit_code"] == 0 and doc["status"] == "ok"
        assert doc["output"] == [f"done with {event.device.serial if event.device else ''}"]
        env = dict(line.split("=", 1) for line in
                   (notes / f"{doc['device']['key']}.env").read_text().splitlines())
        assert env["QDLPY_DUMP_DIR"] == str(Path(doc["output_dir"]).resolve())
        assert env["QDLPY_STATUS"] == "ok" and env["QDLPY_EXIT_CODE"] == "0"
        assert env["QDLPY_SERIAL"] == doc["device"]["serial"]
        assert env["QDLPY_USB_PATH"] == doc["device"]["usb_path"]
        assert Path(env["QDLPY_MANIFEST"]).is_file()


def test_stopping_interrupts_every_pull_and_releases_the_devices(tmp_path: Path) -> None:
    bus = GatedBus(usb_devices(SPEC, SPEC), hold_after=MiB)
    stop = threading.Event()
    events: list[WatchEvent] = []
    for event in qdlpy.watch(tmp_path / "root", stop=stop, backend=bus, elf=False):
        events.append(event)
        if len(kinds(events, "pull-started")) == 2 and not stop.is_set():
            stop.set()
            bus.gate.set()
    check_events(events)
    last = events[-1].to_dict()
    assert (last["status"], last["exit_code"]) == ("interrupted", 130)
    finished = kinds(events, "pull-finished")
    assert [e.status for e in finished] == ["interrupted", "interrupted"]
    for folder in pull_dirs(tmp_path / "root"):
        assert manifest(folder)["status"] == "interrupted"
    assert all(not d.claims for d in bus.devices)  # released: another program may take them


def test_a_stop_ends_the_wait_for_a_device_that_dropped_off(tmp_path: Path) -> None:
    bus = usb_bus(f"{SPEC}&disconnect_after=1M")
    bus.devices[0].auto_replug = False
    stop = threading.Event()
    events: list[WatchEvent] = []
    # --timeout 600: without the stop, the pull would wait ten minutes for the device.
    for event in qdlpy.watch(tmp_path / "root", stop=stop, timeout=600, backend=bus,
                             elf=False):
        events.append(event)
        if event.kind == "device-gone":
            stop.set()
    [finished] = kinds(events, "pull-finished")
    assert finished.status == "interrupted"
    [folder] = pull_dirs(tmp_path / "root")
    assert manifest(folder)["status"] == "interrupted"


def test_a_new_watch_continues_what_an_earlier_one_left_unfinished(tmp_path: Path,
                                                                   reference: Path) -> None:
    root = tmp_path / "root"
    bus = usb_bus(f"{SPEC}&disconnect_after=1M")
    bus.devices[0].auto_replug = False
    watch = qdlpy.watch(root, timeout=0.5, backend=bus, elf=False)
    for event in watch:
        if event.kind == "pull-paused":
            break
    watch.close()  # the service stops while the device is away
    [folder] = pull_dirs(root)
    assert manifest(folder)["status"] in ("partial", "error")

    bus.devices[0].replug()  # the device is back when the service starts again
    events = run(root, count=1, backend=bus)
    [started] = kinds(events, "pull-started")
    assert started.output_dir == folder and started.to_dict()["resume"] is True
    assert pull_dirs(root) == [folder]
    check_complete(folder, reference)


def test_another_dump_behind_an_unfinished_folder_gets_a_new_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    bus = usb_bus(f"{SPEC}&disconnect_after=1M")
    bus.devices[0].auto_replug = False
    serial = bus.devices[0].pipe.serial
    watch = qdlpy.watch(root, timeout=0.5, backend=bus, elf=False)
    for event in watch:
        if event.kind == "pull-paused":
            break
    watch.close()
    [old] = pull_dirs(root)
    before = region_files(old, frozenset({"qdlpy.log"}))

    # Another crash of the same board: same serial, another region table.
    other = usb_bus(f"fulldump?size=2M&usb_serial={serial}")
    events = run(root, count=1, backend=other)
    folders = pull_dirs(root)
    assert len(folders) == 2 and old in folders
    [new] = [f for f in folders if f != old]
    assert manifest(new)["status"] == "ok"
    # Left as it was (its log tells of the attempt to continue it).
    assert region_files(old, frozenset({"qdlpy.log"})) == before
    assert [e.output_dir for e in kinds(events, "pull-started")] == [new]
