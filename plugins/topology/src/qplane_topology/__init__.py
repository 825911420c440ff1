"""qplane-topology: the first-party topology builders of qplane.

Registered through the ``qplane`` entry-point group like any outside plugin; the core never
imports this package by name. The builders live in :mod:`qplane_topology.plugin`.
"""

from __future__ import annotations

__version__ = "0.1.0"
