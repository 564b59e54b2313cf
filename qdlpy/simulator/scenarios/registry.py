"""Scenario registry: ``build_model("kmemdump?arch=x86_64&lose_hello=1") -> DeviceModel``."""

from __future__ import annotations

import dataclasses
import importlib
import urllib.parse
from typing import Protocol

from qdlpy.errors import InvalidArgument
from qdlpy.protocols.device import Personality
from qdlpy.simulator.faults import Faults
from qdlpy.simulator.model import DeviceModel, SimIdentity


@dataclasses.dataclass
class ScenarioBuild:
    personality: Personality
    load_cmm: bytes | None = None
    pid: int = 0x900E
    interface_protocol: int = 0x10


class ScenarioModule(Protocol):
    def build(self, params: dict[str, str], faults: Faults) -> ScenarioBuild: ...


#: name -> (module, one-line description)
SCENARIOS: dict[str, tuple[str, str]] = {
    "kmemdump": ("kmemdump", "Linux kmemdump minidump, arm64 (arch=x86_64 for crash on x86)"),
    "fulldump": ("fulldump", "full ramdump; size=64M by default (DDRCS0_0.BIN generated)"),
    "legacy32": ("legacy32", "32-bit memory-debug table (MEMORY_DEBUG 0x09)"),
    "edl": ("edl", "PBL in image-transfer (EDL) mode asking for a programmer"),
    "command": ("command", "device answering command mode (version=2|3)"),
    "dir": ("dirscenario", "serve a folder of .BIN files: dir:PATH"),
}
#: Scenarios that take ``NAME:ARG``, and the parameter ARG stands for (fulldump:512M is
#: fulldump?size=512M).
SCENARIO_ARGS: dict[str, str] = {"dir": "path", "fulldump": "size"}


def split_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """'dir:/x?fragment=7' -> ('dir', '/x', {'fragment': '7'})."""
    base, _, query = spec.partition("?")
    name, _, arg = base.partition(":")
    knobs = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=False))
    return name, arg, knobs


def build_model(spec: str) -> DeviceModel:
    """A fresh simulated device for ``spec`` (scenario name, optional :ARG, ?knobs)."""
    name, arg, knobs = split_spec(spec)
    if name not in SCENARIOS:
        raise InvalidArgument(
            f"unknown simulator scenario {name!r}; known: {', '.join(SCENARIOS)}",
            hint="e.g. --transport sim:kmemdump or sim:fulldump?size=256M",
        )
    fault_knobs = {k: v for k, v in knobs.items() if k in Faults.KEYS}
    params = {k: v for k, v in knobs.items() if k not in Faults.KEYS}
    if arg:
        if name not in SCENARIO_ARGS:
            raise InvalidArgument(
                f"scenario {name} takes no ':{arg}'; only "
                + ", ".join(f"{n}:{a.upper()}" for n, a in SCENARIO_ARGS.items())
                + " do", hint=f"give options as knobs: sim:{name}?knob=value")
        params[SCENARIO_ARGS[name]] = arg
    faults = Faults.from_knobs(fault_knobs)
    module: ScenarioModule = importlib.import_module(  # type: ignore[assignment]
        f"qdlpy.simulator.scenarios.{SCENARIOS[name][0]}"
    )
    built = module.build(params, faults)
    if params:
        raise InvalidArgument(f"scenario {name} does not take {', '.join(sorted(params))}")
    label = name if not arg else f"{name}-{arg.rstrip('/').rsplit('/', 1)[-1]}"
    identity = SimIdentity(scenario=label, pid=built.pid,
                           interface_protocol=built.interface_protocol)
    return DeviceModel(built.personality, faults, identity, load_cmm=built.load_cmm)
