"""Simulated devices by name (see registry.SCENARIOS)."""

from .registry import SCENARIOS, ScenarioBuild, build_model, split_spec

__all__ = ["SCENARIOS", "ScenarioBuild", "build_model", "split_spec"]
