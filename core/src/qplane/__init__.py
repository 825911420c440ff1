"""qplane: a quantum-network simulator and control plane built as a plugin framework.

The public API::

    import qplane
    scenario = qplane.load_scenario("examples/chain.yaml", overrides=["seed=3"])
    results = qplane.run(scenario)            # a dict, schema "qplane.results/2"

Comparisons and parameter studies (``qplane compare`` / ``qplane sweep``) are the
qplane-experiment distribution: ``from qplane_experiment import compare, sweep``.

This package is the contract (:mod:`qplane.context`, :mod:`qplane.hookspecs`, :mod:`qplane.hal`,
:mod:`qplane.backend`, :mod:`qplane.requests`), the kernel, the registry, the scenario and
results models and the command line. :func:`build` and :func:`run` hand a scenario to the
reference engine, the qplane-engine distribution; everything that does work (topology, hardware,
routing, scheduling, entanglement, backends) is a plugin discovered through the ``qplane``
entry-point group; see :mod:`qplane.hookspecs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any


from .errors import CapabilityError, PluginError, QPlaneError, ScenarioError, UnknownComponentError
from .requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus
from .registry import Registry
from .scenario import Scenario, load_scenario
from .context import Context, Operator, RunContext

if TYPE_CHECKING:
    from .kernel import Kernel

__version__ = "0.1.0"

__all__ = ["CapabilityError", "Context", "Operator", "RunContext", "DeliveredPair", "EntanglementRequest",
           "PluginError", "QPlaneError", "Registry", "RequestHandle", "RequestStatus", "Scenario", "ScenarioError",
           "UnknownComponentError", "build", "load_scenario", "run"]


def _engine() -> Any:
    """The reference engine (``qplane_engine``), imported on first use."""
    try:
        import qplane_engine
    except ModuleNotFoundError as e:
        if e.name != "qplane_engine":
            raise
        raise QPlaneError("running a scenario needs the engine: pip install qplane-engine") from None
    return qplane_engine


def build(scenario: Scenario, registry: Registry | None = None, env: "Kernel | None" = None, trace: Any = None) -> Operator:
    """Resolve and validate every component of ``scenario`` with the engine; nothing runs yet.
    ``env``: bring your own :class:`qplane.kernel.Kernel` (subclass), seeded with the scenario's
    seed. ``trace``: a file the run writes its protocol events to, one JSON line each (``--trace``).
    Returns the built simulation (:class:`qplane.context.Operator`)."""
    return _engine().build(scenario, registry, env, trace)


def run(scenario: Scenario | str | Path | dict[str, Any], registry: Registry | None = None,
        **load_kwargs: Any) -> dict[str, Any]:
    """Load (if needed), build and run a scenario; returns the results dictionary."""
    return _engine().run(scenario, registry, **load_kwargs)
