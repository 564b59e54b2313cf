"""Pulling a crash dump into a folder (``qdlpy.pull``)."""

from .engine import PullResult, default_output_dir, pull

__all__ = ["PullResult", "default_output_dir", "pull"]
