"""Simulated devices by name (see registry.SCENARIOS)."""

from .registry import SCENARIO_ARGS, SCENARIOS, ScenarioBuild, build_model, split_spec

__all__ = ["SCENARIO_ARGS", "SCENARIOS", "ScenarioBuild", "build_model", "split_spec"]
