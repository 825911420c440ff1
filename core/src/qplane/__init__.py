"""qplane: a quantum-network simulator and control plane built as a plugin framework.

The public API::

    import qplane
    scenario = qplane.load_scenario("examples/chain.yaml", overrides=["seed=3"])
    results = qplane.run(scenario)            # a dict, schema "qplane.results/2"

Comparisons and parameter studies (``qplane compare`` / ``qplane sweep``) are the
qplane-experiment distribution: ``from qplane_experiment import compare, sweep``.

Everything that does work (topology, hardware, routing, scheduling, entanglement, backends) is
a plugin discovered through the ``qplane`` entry-point group; see :mod:`qplane.hookspecs`.
"""

from .errors import CapabilityError, PluginError, QPlaneError, ScenarioError, UnknownComponentError
from .requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus
from .registry import Registry
from .scenario import Scenario, load_scenario
from .context import Context, Operator, RunContext
from .sim import Simulation, build, run

__version__ = "0.1.0"

__all__ = [
    "CapabilityError",
    "Context",
    "Operator",
    "RunContext",
    "DeliveredPair",
    "EntanglementRequest",
    "PluginError",
    "QPlaneError",
    "Registry",
    "RequestHandle",
    "RequestStatus",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "UnknownComponentError",
    "build",
    "load_scenario",
    "run",
]
