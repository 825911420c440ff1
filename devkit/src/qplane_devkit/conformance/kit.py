"""What every conformance kit shares: scenario dictionaries, a registry of the installed plugins
plus the one under test, running a scenario, and the memory inventory checks.

* :func:`scenario` — a scenario dictionary on any topology builder;
* :func:`chain_scenario` — a repeater-chain scenario dictionary with the knobs physics tests
  turn most;
* :func:`kit_registry` — a :class:`~qplane.registry.Registry` of the installed plugins plus
  yours (registered by hand when it is not installed);
* :func:`run_scenario` — build and run a scenario dictionary: ``(simulation, results)``.
"""

from __future__ import annotations

from typing import Any


def chain_scenario(nodes: int = 2, spacing_km: float = 20.0, *, pairs: int = 1000, count: int = 1,
                   coherence_time: float | None = None, pair_fidelity: float = 1.0, seed: int = 1,
                   duration: float = 60.0, mode: str = "geometric", backend: str = "fidelity",
                   **link: Any) -> dict[str, Any]:
    """A chain ``n0 … n{nodes-1}`` with one request from end to end for ``pairs`` pairs."""
    return {
        "name": f"chain-{nodes}",
        "seed": seed,
        "duration": duration,
        "backend": backend,
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": spacing_km},
        "hardware": {
            "memory": {"count": count, "coherence_time": coherence_time},
            "link": {"scheme": "mim", "pair_fidelity": pair_fidelity, **link},
        },
        "protocols": {"link_generation": {"name": "heralded", "mode": mode}},
        "requests": [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs, "min_fidelity": 0.0}],
    }


def kit_registry(plugin: Any = None, *extra: Any) -> Any:
    """A :class:`~qplane.registry.Registry` of the installed plugins plus ``plugin`` (a plugin
    module or object not installed, or None) and ``extra`` plugin objects (the kits' recorders)."""
    from qplane.plugins import make_plugin_manager
    from qplane.registry import Registry

    plugins = ([plugin] if plugin is not None else []) + list(extra)
    return Registry(make_plugin_manager(extra_plugins=plugins))


def run_scenario(data: dict[str, Any], plugin: Any = None, *extra: Any) -> tuple[Any, dict[str, Any]]:
    """Build and run the scenario dictionary ``data``; returns ``(simulation, results)``."""
    from qplane.scenario import load_scenario
    from qplane import build

    sim = build(load_scenario(data), kit_registry(plugin, *extra))
    return sim, sim.run()


def scenario(topology: dict[str, Any], requests: list[dict[str, Any]], *, count: int = 2,
             coherence_time: float | None = None, pair_fidelity: float = 0.97, seed: int = 3,
             duration: float = 5.0, backend: str = "fidelity", protocols: dict[str, Any] | None = None,
             **link: Any) -> dict[str, Any]:
    """A scenario dictionary on any topology builder, with ``count`` memories per node per link."""
    return {
        "name": f"kit-{topology.get('builder', 'topology')}",
        "seed": seed,
        "duration": duration,
        "backend": backend,
        "topology": topology,
        "hardware": {
            "memory": {"count": count, "coherence_time": coherence_time},
            "link": {"scheme": "mim", "pair_fidelity": pair_fidelity, **link},
        },
        "protocols": dict(protocols or {}),
        "requests": requests,
    }


def _mark_hookimpls(cls: type, names: tuple[str, ...]) -> type:
    """Mark the methods ``names`` of ``cls`` as hook implementations (the kits' recorders are
    plugin objects registered beside the plugin under test)."""
    from qplane.hookspecs import hookimpl

    for name in names:
        setattr(cls, name, hookimpl(getattr(cls, name)))
    return cls


def _final_inventory_problems(sim: Any) -> list[str]:
    """What is wrong with the memory inventory after a run (empty: every memory is free)."""
    violations = getattr(sim, "memory_violations", None)
    if violations is not None:
        return list(violations(final=True))
    return [f"{m.label} is not free after the run" for n in sim.network.nodes.values()
            for m in n.device.all_memories() if m.owner is not None or m.qubit is not None]
