"""Every hook qplane calls, in one place.

Two kinds of hook:

* **Registration hooks** (``qplane_register_*``) are called once, when a
  :class:`~qplane.registry.Registry` is built, for each plugin in turn. Each receives a
  ``register`` callback (:class:`Register`): ``register(name, factory, params=Model,
  description="")`` adds a named component of that hook's kind. ``params`` is a pydantic model
  that validates the component's parameters as written in a scenario; ``factory`` builds the
  component from the validated params and, for components that work during a run, a
  :class:`qplane.context.Context`: the only door into the run (see :mod:`qplane.context`). A
  plugin may call ``register`` any number of times. Results are ignored.
* **Event hooks** (``qplane_simulation_start`` ...) are broadcast to every plugin during a run,
  with keyword arguments, the first always ``context``, a :class:`qplane.context.RunContext`;
  results are ignored. Event hooks are observational: a plugin must not change simulated state
  from them except through the contract.

Hooks are always called with keyword arguments. Specs may gain arguments in later versions;
they never lose or rename one. (Before 0.2 event hooks received ``sim``, the engine itself;
they now receive ``context``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

import pluggy
from pydantic import BaseModel

if TYPE_CHECKING:
    from .context import RunContext
    from .network import Node, QuantumLink
    from .requests import DeliveredPair, RequestHandle

PROJECT = "qplane"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback a registration hook receives."""

    def __call__(self, name: str, factory: Callable[..., Any], params: type[BaseModel] = ...,
                 description: str = "") -> None:
        """Add component ``name`` of the hook's kind; ``params`` validates its parameters
        (default: none allowed); ``description`` (default: the factory's first docstring line)
        is what ``qplane plugins`` and ``qplane describe`` show."""
        ...


# --------------------------------------------------------------------------- registration


@hookspec
def qplane_register_backends(register: Register) -> None:
    """Register state backends (kind ``backend``).

    Called once per registry build, by the core. ``factory(params, rng: random.Random)``
    returns a :class:`qplane.backend.StateBackend`; ``rng`` is the backend's own stream. The
    factory should expose a ``capabilities`` attribute so ``qplane plugins`` can list them
    without building one."""


@hookspec
def qplane_register_topology_builders(register: Register) -> None:
    """Register topology builders (kind ``topology``).

    Called once per registry build, by the core. ``factory(params, context:
    qplane.registry.BuildContext)`` returns a :class:`networkx.Graph` whose nodes are node
    names (strings) and whose edges carry ``length_km`` (float, > 0); ``context.base_dir`` is
    the scenario's folder, for builders that read files."""


@hookspec
def qplane_register_link_models(register: Register) -> None:
    """Register quantum-link hardware models (kind ``link_model``), selected by ``scheme``.

    Called once per registry build, by the core. ``factory(params, length_km: float)`` returns
    a :class:`qplane.hal.LinkModel`: the per-attempt success probability, the attempt cycle,
    the herald delay and the heralded pair's state for a link of that length."""


@hookspec
def qplane_register_memory_models(register: Register) -> None:
    """Register quantum-memory models (kind ``memory_model``), selected by ``model``.

    Called once per registry build, by the core. ``factory(params)`` returns a
    :class:`qplane.hal.MemoryModel`. Every memory model's params include ``count``."""


@hookspec
def qplane_register_routers(register: Register) -> None:
    """Register routers (kind ``router``).

    Called once per registry build, by the core. ``factory(params)`` returns a
    :class:`qplane.requests.Router`: a pure function of the controller's view, with no run
    context."""


@hookspec
def qplane_register_schedulers(register: Register) -> None:
    """Register schedulers (kind ``scheduler``), which admit requests and allocate memories.

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    a :class:`qplane.requests.Scheduler`; it starts sessions with ``context.sessions.start``
    and frees them with ``context.inventory.release``."""


@hookspec
def qplane_register_link_generators(register: Register) -> None:
    """Register link-generation protocols (kind ``link_generation``).

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    a :class:`qplane.context.LinkGeneration`: the service every swapping policy reaches as
    ``context.link_generation``."""


@hookspec
def qplane_register_swap_policies(register: Register) -> None:
    """Register swapping policies (kind ``swapping``).

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    an object with ``serve(session: qplane.requests.Session)``: run entanglement distribution
    for one admitted request over its path and allocated memories until the session stops,
    delivering pairs with ``context.sessions.deliver``. A policy with ``path_free = True``
    serves sessions that have no fixed path (those of a router with ``fixed_path = False``); a
    policy may refuse a request's other protocols before the run with
    ``check_protocols(protocols: dict[str, Any]) -> str | None`` (a message)."""


@hookspec
def qplane_register_repeaters(register: Register) -> None:
    """Register repeater generations (kind ``repeater``): ``1g`` hands each session to the swapping
    policy; a second or third generation serves it itself (encoded pairs, error correction).

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns an
    object with ``serve(session)``, called by the engine for every session it starts."""


@hookspec
def qplane_register_purification(register: Register) -> None:
    """Register purification protocols (kind ``purification``); ``none`` disables it.

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    the protocol object its swapping policy knows how to use (first-party: ``protocol``,
    ``scope``, ``rounds``, ``until``, ``best_case(vector, scope)``)."""


@hookspec
def qplane_register_cutoff_policies(register: Register) -> None:
    """Register cutoff policies (kind ``cutoff``) that discard stored pairs; ``none`` keeps all.

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    an object with ``max_age`` (seconds, or None for no cutoff): the swapping policy discards a
    pair whose oldest qubit has been stored longer than that and frees its memories."""


@hookspec
def qplane_register_topology_managers(register: Register) -> None:
    """Register topology managers (kind ``topology_manager``): who tells the controller what
    the network looks like.

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    an object with ``start()`` (called when the run starts), ``physical_change(kind: str,
    name, up: bool)`` (the ground truth changed: ``kind`` is ``"link"`` with ``name`` an
    ``(a, b)`` tuple, or ``"node"``; the manager decides when and how the controller learns it,
    and then calls ``context.controller.learned``; ``up=True`` also when a link is added at run
    time or its hardware changes: discover or refresh it), ``view() -> networkx.Graph`` (the
    controller's view, edges with ``length_km``, ``link`` and ``expected_pair_time``),
    ``ready() -> bool`` (False while initial discovery is running: requests wait; it calls
    ``context.controller.view_ready()`` when done) and ``metrics() -> dict`` (for
    ``results["topology"]``)."""


@hookspec
def qplane_register_applications(register: Register) -> None:
    """Register applications (kind ``application``) that consume delivered pairs.

    Called once per registry build, by the core. ``factory(params, context: Context)`` returns
    an object with ``on_pair(request: RequestHandle, pair: DeliveredPair) -> bool``: True keeps
    the pair's memories (the application must then free them with ``context.inventory.free``),
    False lets the network free them."""


@hookspec
def qplane_register_traffic_models(register: Register) -> None:
    """Register traffic models (kind ``traffic``), selected by ``model`` in a scenario's
    ``traffic`` field.

    Called once per registry build, by the core. ``factory(params)`` returns a
    :class:`qplane.traffic.TrafficModel`: ``generate(context: TrafficContext)`` returns every
    request of the run (called once, at build time, with the model's own random stream)."""


@hookspec
def qplane_register_commands(register: Register) -> None:
    """Register extra CLI sub-commands (kind ``command``).

    Called once by the CLI. ``factory(subparsers: argparse._SubParsersAction)`` adds a
    sub-parser whose ``func`` default is called with the parsed arguments and returns an exit
    code."""


# ------------------------------------------------------------------------------ events


@hookspec
def qplane_simulation_start(context: RunContext) -> None:
    """Called once by the engine after the network is built, before simulated time starts."""


@hookspec
def qplane_simulation_end(context: RunContext) -> None:
    """Called once by the engine when simulated time stops, before results are assembled."""


@hookspec
def qplane_request_submitted(context: RunContext, request: RequestHandle) -> None:
    """Called by the engine when a request's ``start`` time arrives, just before it is routed
    and handed to the scheduler."""


@hookspec
def qplane_pair_delivered(context: RunContext, request: RequestHandle, pair: DeliveredPair) -> None:
    """Called by the engine each time an end-to-end pair is delivered to ``request``, after the
    application saw it. Only called when at least one plugin implements it (decided when the
    simulation is built), so it costs nothing otherwise."""


@hookspec
def qplane_request_finished(context: RunContext, request: RequestHandle) -> None:
    """Called by the engine once per request when it reaches a final status (completed, timed
    out, no path, fidelity unreachable, cancelled, failed ...); ``request.reason`` says why."""


@hookspec
def qplane_link_state_changed(context: RunContext, link: QuantumLink, up: bool) -> None:
    """Called by the engine whenever a quantum link goes down (``up=False``) or comes back
    (ground truth; before the topology manager hears of it)."""


@hookspec
def qplane_node_state_changed(context: RunContext, node: Node, up: bool) -> None:
    """Called by the engine whenever a node goes down (``up=False``) or comes back (ground
    truth; before the topology manager hears of it)."""


@hookspec
def qplane_results_assembled(context: RunContext, results: dict[str, Any]) -> None:
    """Called once by the engine with the results dictionary before it is returned. A plugin
    may add its own figures under ``results["extra"][<plugin name>]``."""
