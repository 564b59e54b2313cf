"""qdlpy for labgrid: list ``qdlpy.labgrid`` under ``imports:`` in the environment YAML.

Importing it registers the resources ``QDLDevice``, ``NetworkQDLDevice`` and
``QDLTCPDevice`` and the driver ``QDLDriver`` with labgrid's target factory
(``pip install 'qdlpy[labgrid]'``; docs/lab.md#labgrid shows the YAML). Nothing else in
qdlpy imports this package: labgrid stays optional.
"""

from __future__ import annotations

from .driver import QDLDriver
from .resources import NetworkQDLDevice, QDLDevice, QDLTCPDevice

__all__ = ["NetworkQDLDevice", "QDLDevice", "QDLDriver", "QDLTCPDevice"]
