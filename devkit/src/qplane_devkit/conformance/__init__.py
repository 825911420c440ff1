"""Conformance kits for qplane components, and the helpers they are built from.

Each kind of component a plugin may provide has a kit: subclass it in your tests, name the
component, and pytest collects the checks (each kit's docstring says what it checks)::

    from qplane_devkit.conformance import BackendConformance

    class TestConformance(BackendConformance):
        backend_name = "mybackend"      # looked up in the registry, as a scenario would

* :class:`BackendConformance` (:mod:`.backend`) — canonical operations against closed forms
  (create, Pauli channels, storage noise, swap, purification, measurement) and agreement with
  the ``fidelity`` backend on Pauli-noise scenarios;
* :class:`RouterConformance` (:mod:`.router`) — valid simple paths over existing links on many
  graphs, None when there is no path, the shared view left untouched, deterministic, serves
  requests in a run;
* :class:`SchedulerConformance` (:mod:`.scheduler`) — runs scenarios with contention for
  memories and checks that no memory is ever double-booked, every allocation lies along its
  path, every memory is free again after the run, and every request is served;
* :class:`ApplicationConformance` (:mod:`.application`) — handles delivered pairs (once each,
  on every backend it names), frees what it keeps, survives runs with no pair, keeps the
  results valid JSON and deterministic;
* :class:`PurificationConformance` (:mod:`.purification`) — declares a valid scheme, never
  lowers fidelity on a link, its ``best_case`` bounds what it delivers.

Helpers for your own tests (:mod:`.kit`, :mod:`.router`): :func:`scenario`,
:func:`chain_scenario`, :func:`run_scenario`, :func:`kit_registry`, :func:`network_view`,
:func:`router_graphs`, :func:`path_problems`.

Each kit finds the component by name in a :class:`~qplane.registry.Registry` built from the
installed plugins; set ``plugin`` to your plugin module to test it without installing it. The
kits run scenarios, so qplane's first-party plugins (topology, hardware, routing, scheduling,
entanglement, backend-fidelity) must be installed; qplane-devkit depends on them.
"""

from .application import ApplicationConformance
from .backend import BackendConformance, DephasingNoise, DepolarizingNoise
from .kit import chain_scenario, kit_registry, run_scenario, scenario
from .purification import PurificationConformance
from .router import KitLinkModel, KitMemoryModel, RouterConformance, network_view, path_problems, router_graphs
from .scheduler import SchedulerConformance

__all__ = [
    "ApplicationConformance",
    "BackendConformance",
    "DephasingNoise",
    "DepolarizingNoise",
    "KitLinkModel",
    "KitMemoryModel",
    "PurificationConformance",
    "RouterConformance",
    "SchedulerConformance",
    "chain_scenario",
    "kit_registry",
    "network_view",
    "path_problems",
    "router_graphs",
    "run_scenario",
    "scenario",
]
