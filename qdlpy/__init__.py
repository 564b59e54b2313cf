"""qdlpy: pull Qualcomm crash dumps over Sahara and assemble crash-loadable ELF cores.

The public Python API lives here; the ``qdlpy`` command (``qdlpy.cli``) is a thin layer on
top of it. Submodules are imported lazily so ``import qdlpy`` stays cheap.
"""

from __future__ import annotations

from qdlpy._version import __version__
from qdlpy.errors import QdlpyError

__all__ = ["__version__", "QdlpyError"]
