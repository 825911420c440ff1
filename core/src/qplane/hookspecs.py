"""Every hook qplane calls, in one place.

Two kinds of hook:

* **Registration hooks** (``qplane_register_*``) are called once, when a
  :class:`~qplane.registry.Registry` is built, for each plugin in turn. Each receives a
  ``register`` callback: ``register(name, factory, params=Model, description="")`` adds a named
  component of that hook's kind. ``params`` is a pydantic model that validates the
  component's parameters as written in a scenario. A plugin may call ``register`` any number
  of times. Results are ignored.
* **Event hooks** (``qplane_simulation_start`` ...) are broadcast to every plugin during a run,
  with keyword arguments; results are ignored unless the spec says otherwise. Event hooks are
  observational: a plugin must not change simulated state from them except through the
  public API of the objects it is handed.

Hooks are always called with keyword arguments. Specs may gain arguments in later versions;
they never lose or rename one.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "qplane"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


# --------------------------------------------------------------------------- registration


@hookspec
def qplane_register_backends(register: Register) -> None:
    """Register state backends (kind ``backend``).

    Called once per registry build, by the core. ``factory(params, rng)`` returns an object
    implementing :class:`qplane.backend.StateBackend`; ``rng`` is the backend's own random
    stream (a :class:`random.Random`). The class (or factory) should expose a
    ``capabilities`` attribute so ``qplane plugins`` can list it without building one.
    """


@hookspec
def qplane_register_topology_builders(register: Register) -> None:
    """Register topology builders (kind ``topology``).

    Called once per registry build, by the core. ``factory(params, context)`` returns a
    :class:`networkx.Graph` whose nodes are node names (strings) and whose edges carry
    ``length_km`` (float, > 0). ``context`` is a :class:`qplane.registry.BuildContext`
    (the scenario's directory, for builders that read files).
    """


@hookspec
def qplane_register_link_models(register: Register) -> None:
    """Register quantum-link hardware models (kind ``link_model``), selected by ``scheme``.

    Called once per registry build, by the core. ``factory(params, length_km)`` returns a
    :class:`qplane.hal.LinkModel`: the per-attempt success probability, the attempt
    cycle, the herald delay and the heralded pair's state for a link of that length.
    """


@hookspec
def qplane_register_memory_models(register: Register) -> None:
    """Register quantum-memory models (kind ``memory_model``), selected by ``model``.

    Called once per registry build, by the core. ``factory(params)`` returns a
    :class:`qplane.hal.MemoryModel`. Every memory model's params include ``count``.
    """


@hookspec
def qplane_register_routers(register: Register) -> None:
    """Register routers (kind ``router``).

    Called once per registry build, by the core. ``factory(params)`` returns a
    :class:`qplane.requests.Router`.
    """


@hookspec
def qplane_register_schedulers(register: Register) -> None:
    """Register schedulers (kind ``scheduler``), which admit requests and allocate memories.

    Called once per registry build, by the core. ``factory(params, sim)`` returns a
    :class:`qplane.requests.Scheduler`.
    """


@hookspec
def qplane_register_link_generators(register: Register) -> None:
    """Register link-generation protocols (kind ``link_generation``).

    Called once per registry build, by the core. ``factory(params, sim)`` returns an object
    with ``start(link, mem_a, mem_b, on_herald)``: attempt entanglement on one memory pair of
    ``link`` until success, then call ``on_herald(pair)``.
    """


@hookspec
def qplane_register_swap_policies(register: Register) -> None:
    """Register swapping policies (kind ``swapping``).

    Called once per registry build, by the core. ``factory(params, sim)`` returns an object
    with ``serve(session)``: run entanglement distribution for one admitted request over its
    path and allocated memories, until the session is stopped. A policy with
    ``path_free = True`` serves sessions that have no fixed path (those of a router with
    ``fixed_path = False``, see :class:`qplane.requests.Router`); a policy may refuse a
    request's other protocols before the run with ``check_protocols(protocols) -> message``.
    """


@hookspec
def qplane_register_purification(register: Register) -> None:
    """Register purification protocols (kind ``purification``); ``none`` disables it.

    Called once per registry build, by the core. ``factory(params, sim)`` returns the
    protocol object its swapping policy knows how to use.
    """


@hookspec
def qplane_register_cutoff_policies(register: Register) -> None:
    """Register cutoff policies (kind ``cutoff``) that discard stored pairs; ``none`` keeps all.

    Called once per registry build, by the core. ``factory(params, sim)`` returns an object
    with ``max_age`` (seconds, or None for no cutoff): the swapping policy discards a pair whose
    oldest qubit has been stored longer than that and frees its memories.
    """


@hookspec
def qplane_register_topology_managers(register: Register) -> None:
    """Register topology managers (kind ``topology_manager``): who tells the controller what
    the network looks like.

    Called once per registry build, by the core. ``factory(params, sim)`` returns an object
    with ``start()`` (called when the run starts), ``physical_change(kind, name, up)`` (the
    ground truth changed — ``kind`` is ``"link"`` with ``name`` a ``(a, b)`` tuple, or
    ``"node"``; the manager decides when and how the controller learns it, and then calls
    :meth:`qplane.sim.Simulation.controller_learned`), ``view()`` (the controller's
    :class:`networkx.Graph`, edges with ``length_km``, ``link`` and ``expected_pair_time``),
    ``ready()`` (False while initial discovery is running: requests wait) and ``metrics()``
    (a dict for ``results["topology"]``).
    """


@hookspec
def qplane_register_applications(register: Register) -> None:
    """Register applications (kind ``application``) that consume delivered pairs.

    Called once per registry build, by the core. ``factory(params, sim)`` returns an object
    with ``on_pair(request, pair) -> bool``: return True to keep the pair's memories
    (the application must then free them), False to let the network free them.
    """


@hookspec
def qplane_register_traffic_models(register: Register) -> None:
    """Register traffic models (kind ``traffic``), selected by ``model`` in a scenario's
    ``traffic`` field.

    Called once per registry build, by the core. ``factory(params)`` returns a
    :class:`qplane.traffic.TrafficModel`: ``generate(context)`` returns every request of the
    run (the runner calls it once, at build time, with a :class:`qplane.traffic.TrafficContext`
    holding the model's own random stream).
    """


@hookspec
def qplane_register_commands(register: Register) -> None:
    """Register extra CLI sub-commands (kind ``command``).

    Called once by the CLI. ``factory(subparsers)`` adds a sub-parser whose ``func`` default
    is called with the parsed arguments and returns an exit code.
    """


# ------------------------------------------------------------------------------ events


@hookspec
def qplane_simulation_start(sim: Any) -> None:
    """Called once by the runner after the network is built, before simulated time starts."""


@hookspec
def qplane_simulation_end(sim: Any) -> None:
    """Called once by the runner when simulated time stops, before results are assembled."""


@hookspec
def qplane_request_submitted(sim: Any, request: Any) -> None:
    """Called by the runner when a request's ``start`` time arrives and it is handed to the
    router and the scheduler. ``request`` is a :class:`qplane.requests.RequestHandle`."""


@hookspec
def qplane_pair_delivered(sim: Any, request: Any, pair: Any) -> None:
    """Called by the swapping policy each time an end-to-end pair is delivered to ``request``.

    ``pair`` is a :class:`qplane.requests.DeliveredPair`. Only called when at least one
    plugin implements it, so it costs nothing otherwise."""


@hookspec
def qplane_request_finished(sim: Any, request: Any) -> None:
    """Called once per request when it reaches a final status (completed, timed out,
    no path, fidelity unreachable, ...)."""


@hookspec
def qplane_link_state_changed(sim: Any, link: Any, up: bool) -> None:
    """Called whenever a quantum link goes down (``up=False``) or comes back up."""


@hookspec
def qplane_node_state_changed(sim: Any, node: Any, up: bool) -> None:
    """Called whenever a node goes down (``up=False``) or comes back up."""


@hookspec
def qplane_results_assembled(sim: Any, results: dict) -> None:
    """Called once by the runner with the results dictionary before it is returned.

    A plugin may add its own metrics under ``results["extra"][<plugin name>]``."""
