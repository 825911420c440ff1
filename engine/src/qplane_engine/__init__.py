"""qplane-engine: the reference engine, which runs a scenario on the plugin contract.

The core (``qplane``) declares the contract (:mod:`qplane.context`, :mod:`qplane.hookspecs`,
:mod:`qplane.hal`, :mod:`qplane.backend`, :mod:`qplane.requests`), the kernel, the registry and
the scenario and results models; this distribution implements the contract: assembly of a
scenario into a simulation (:mod:`.assembly`), the network model (:mod:`.network`,
:mod:`.device`), the memory inventory (:mod:`.inventory`), the request life cycle and the
controller (:mod:`.lifecycle`), failure injection (:mod:`.failures`), the run loop
(:mod:`.sim`) and the results (:mod:`.results`). Plugins never import it: they receive its
objects through the contract. ``qplane.build`` and ``qplane.run`` call it.
"""

from . import report
from .sim import Simulation, build, run

__all__ = ["Simulation", "build", "report", "run"]
