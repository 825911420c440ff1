"""The plugin contract: exactly what a plugin receives from a run and may use.

A component that works during a run (a scheduler, a link generator, a swapping policy, a
purification or cutoff protocol, a topology manager, an application) is built with
``factory(params, context)``, where ``context`` is a :class:`Context`; every event hook
receives a :class:`RunContext`. Those are the only doors into the run: a plugin uses the
members declared here and the public data types they hand out (:mod:`qplane.requests`,
:mod:`qplane.hal`, :mod:`qplane.network`, :mod:`qplane.backend`), and nothing else of the
engine. The engine is free to change behind them; the contract changes only by gaining
members. ``tests/test_contract.py`` holds every first-party plugin, contrib package and
interface to it.

The groups, each a :class:`typing.Protocol`:

* :class:`Clock` — simulated time, scheduling, named random streams;
* :class:`NetworkView` — nodes, links, classical messages, the controller's view;
* :class:`Inventory` — the memory inventory: claim, own, free, release;
* :class:`Sessions` — the request life cycle: start and preempt sessions, deliver, finish;
* :class:`LinkGeneration` — the link-generation service (the scenario's link generator);
* :class:`Controller` — what a topology manager tells the controller;
* :class:`Services` — typed, declared objects plugins share within a run (:class:`ServiceKey`);
* :class:`Operator` — the public API of a built simulation, for drivers such as the
  northbound service (submit, cancel, fail and repair, run).

This module declares; it implements nothing (the engine does, in :mod:`qplane_engine.sim`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, Protocol, Sequence, TypeVar

if TYPE_CHECKING:  # the types a plugin sees; imported for annotations only
    import networkx as nx

    from .backend import StateBackend
    from .hal import LinkModel, Memory, MemoryModel, Operations
    from .network import Node, QuantumLink
    from .requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus, Session

T = TypeVar("T")

#: ``on_herald(mem_a, mem_b, t_start)``: both memories hold the heralded pair; ``t_start`` is
#: when the first attempt of that pair began
HeraldCallback = Callable[["Memory", "Memory", float], None]


class Clock(Protocol):
    """Simulated time (seconds) and the event queue."""

    @property
    def now(self) -> float:
        """The current simulated time."""
        ...

    def call_at(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` ``delay`` (>= 0) simulated seconds from now: one event, no process."""
        ...

    def stream(self, name: str) -> random.Random:
        """The random stream called ``name``, derived from the scenario seed and the name only
        (so adding a stream never shifts another's numbers); the same object on every call."""
        ...


class NetworkView(Protocol):
    """The network of the run: ground truth (nodes, links, their state) and the controller's
    view. The node and link objects are :class:`qplane.network.Node` and
    :class:`qplane.network.QuantumLink`; a plugin reads them and may keep its own per-link
    bookkeeping in the link's declared fields (``inflight``, ``parked``, ``rng``, ``stats``)."""

    nodes: Mapping[str, "Node"]
    links: Mapping[frozenset[str], "QuantumLink"]
    #: the fibre graph (edges carry ``length_km``); shared: never modify it
    graph: "nx.Graph"
    #: classical signal speed in fibre, km/s
    speed: float
    #: classical messages sent so far (results report it)
    messages_sent: int

    def link(self, a: str, b: str) -> "QuantumLink":
        """The link between ``a`` and ``b`` (KeyError when there is none)."""
        ...

    def classical_delay(self, a: str, b: str) -> float:
        """Seconds for a classical message from ``a`` to ``b`` over the shortest fibre route."""
        ...

    def path_delays(self, path: Sequence[str]) -> list[float]:
        """Delay along ``path`` from ``path[0]`` to each of its nodes."""
        ...

    def send(self, delay: float, handler: Callable[..., None], *payload: Any) -> None:
        """A classical message: ``handler(*payload)`` runs ``delay`` seconds from now (counted)."""
        ...

    def count_messages(self, n: int) -> None:
        """Count ``n`` classical messages whose effect a plugin applies in one event."""
        ...

    def view(self) -> "nx.Graph":
        """The controller's view (routing uses it): edges carry ``length_km``, ``link`` (the
        link model) and ``expected_pair_time``. Cached per topology state; never modify it."""
        ...

    def truth_view(self) -> "nx.Graph":
        """The ground truth in the same form: up nodes and up links."""
        ...


class Inventory(Protocol):
    """The memory inventory. A memory is owned by at most one session; every change of owner
    goes through :meth:`set_owner`, so reserved memory-seconds are integrated exactly."""

    def claim(self, session: "Session") -> None:
        """``session`` holds the memories of its allocation from now on (they become its own).
        :meth:`Sessions.start` calls it; a plugin holding memories for no single request (a
        link-level pool) calls it for its own session, and :meth:`release` to let go."""
        ...

    def set_owner(self, memory: "Memory", owner: "Session | None") -> None:
        """Give ``memory`` to ``owner`` (None: free)."""
        ...

    def free(self, memory: "Memory | None") -> None:
        """Discard what ``memory`` holds; if its session is still active, hand it back to it
        (``session.state.memory_freed(memory)``)."""
        ...

    def release(self, session: "Session") -> None:
        """End ``session`` and free every memory of its allocation that it owns; then call
        ``session.state.on_release()`` when the state has it. Releasing twice does nothing."""
        ...

    def sample_occupancy(self, interval: float) -> None:
        """Sample every ``interval`` simulated seconds how many memories of each node hold a
        qubit (results: ``nodes[].occupied_*`` and ``memory_timeline``). Off unless called."""
        ...


class Sessions(Protocol):
    """The request life cycle, as schedulers and swapping policies drive it."""

    #: every request of the run, in id order (read only)
    requests: Sequence["RequestHandle"]

    def start(self, handle: "RequestHandle", allocation: list[list[tuple["Memory", "Memory"]]],
              path: list[str] | None = None, gate: Any = None) -> "Session":
        """Called by the scheduler: ``handle`` has its memories on ``path`` (default: its path;
        one call per path of a multipath request, ``path=[]`` for a path-free one) and the
        request's swapping policy starts serving it. ``gate`` confines its link generation to
        time slots (see :class:`qplane.requests.Session`)."""
        ...

    def preempt(self, handle: "RequestHandle", cause: str = "preempted") -> None:
        """Take an active request's memories back; it stays routed and waiting. The pairs its
        sessions stored are lost (``losses[cause]``)."""
        ...

    def deliver(self, session: "Session", pair: "DeliveredPair") -> None:
        """Called by the swapping policy when both end nodes hold a pair and know its frame:
        the application gets it; the request completes when it has all its pairs."""
        ...

    def finish(self, handle: "RequestHandle", status: "RequestStatus", reason: str = "") -> None:
        """End a request with a final status and the reason (no effect when it has ended)."""
        ...


class LinkGeneration(Protocol):
    """The link-generation service: the scenario's ``protocols.link_generation`` component.
    A swapping policy (or a link-level pool) asks it for pairs; it calls back on each herald."""

    def start(self, session: "Session", link: "QuantumLink", mem_a: "Memory", mem_b: "Memory",
              on_herald: HeraldCallback) -> None:
        """Attempt entanglement on ``(mem_a, mem_b)`` of ``link`` for ``session`` until success,
        then call ``on_herald(mem_a, mem_b, t_start)``. Nothing happens when the session ends
        or loses either memory first."""
        ...

    def link_down(self, link: "QuantumLink") -> None:
        """Called by the engine: ``link`` stopped working; attempts in flight are void."""
        ...

    def link_up(self, link: "QuantumLink") -> None:
        """Called by the engine: ``link`` works again; waiting memory pairs resume."""
        ...


class Controller(Protocol):
    """What a topology manager reports to the controller."""

    def learned(self, kind: str, name: Any, up: bool) -> None:
        """The controller now knows that a link (``kind="link"``, ``name=(a, b)``) or a node
        (``kind="node"``) went down or came back; requests using a failed element are re-routed
        or end ``failed``."""
        ...

    def view_ready(self) -> None:
        """Initial discovery has converged: requests that arrived meanwhile are routed now."""
        ...


class ServiceKey(Generic[T]):
    """A declared key of :class:`Services`: its name (unique; prefix it with your plugin's)
    and the type of the object stored under it. Declare keys at module level."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, type_: type[T]):
        self.name = name
        self.type = type_

    def __repr__(self) -> str:
        return f"ServiceKey({self.name!r}, {self.type.__name__})"


class Services(Protocol):
    """Objects plugins share within one run (a link-level entanglement pool, statistics),
    under declared :class:`ServiceKey` keys; a value of the wrong type is refused."""

    def get(self, key: ServiceKey[T]) -> T | None:
        ...

    def set(self, key: ServiceKey[T], value: T) -> None:
        ...

    def pop(self, key: ServiceKey[T]) -> T | None:
        ...


#: a traced run's protocol-event tracer, ``trace(kind, **fields)`` (absent when off; docs/design.md, "Traces")
TRACE: ServiceKey[Callable[..., None]] = ServiceKey("qplane.trace", Callable)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunSettings:
    """Scenario settings a plugin may read."""

    name: str
    seed: int
    #: simulated seconds the run lasts
    duration: float
    #: swap outcomes reach the end nodes at once (``classical.instant``)
    classical_instant: bool


class RunContext(Protocol):
    """What every event hook receives, and what a component's :class:`Context` extends."""

    settings: RunSettings
    clock: Clock
    network: NetworkView
    backend: "StateBackend"
    inventory: Inventory
    sessions: Sessions
    link_generation: LinkGeneration
    controller: Controller
    services: Services

    def best_case_fidelity(self, path: Sequence[str], purification: Any = None) -> float:
        """The network's estimate of the best fidelity a pair over ``path`` can have (link
        pairs as heralded, storage noise during the herald, swaps with each repeater's gate
        errors; improved by ``purification.best_case`` when given)."""
        ...


class Context(RunContext, Protocol):
    """What a component built during a run receives: the run, plus its own identity and
    random stream."""

    #: ``kind:name`` of the component, e.g. ``scheduler:fifo``
    component: str
    #: the component's own random stream (``clock.stream(component)``)
    rng: random.Random


class Operator(Protocol):
    """A built simulation as a driver sees it (the northbound service, a script): the
    operations of an operator, not a plugin's. :func:`qplane.build` returns one."""

    context: RunContext
    #: every request of the run, in id order (read only)
    handles: Sequence["RequestHandle"]

    @property
    def now(self) -> float:
        ...

    def submit(self, request: "EntanglementRequest") -> "RequestHandle":
        """Submit a request before or during the run; a refused one leaves nothing behind."""
        ...

    def cancel(self, handle: "RequestHandle", reason: str = "cancelled by the application") -> None:
        ...

    def set_link_state(self, a: str, b: str, up: bool) -> None:
        """Ground truth: the fibre between ``a`` and ``b`` fails (``up=False``) or is repaired."""
        ...

    def set_node_state(self, name: str, up: bool) -> None:
        """Ground truth: node ``name`` fails (losing its qubits) or comes back."""
        ...

    def set_link_model(self, a: str, b: str, model: "LinkModel") -> None:
        """Hardware: the link works with ``model`` from its next attempt on (a pair heralded
        after the call has its physics); the topology manager is told and the views refreshed."""
        ...

    def set_node_model(self, name: str, memory_model: "MemoryModel | None" = None,
                       operations: "Operations | None" = None) -> None:
        """Hardware: the node's memories (for qubits stored from now on) or its operations change."""
        ...

    def set_link_routable(self, a: str, b: str, routable: bool) -> None:
        """Management: take the link out of routing (requests using it re-route) or put it back."""
        ...

    def add_node(self, name: str, memory_model: "MemoryModel", operations: "Operations") -> None:
        """A new node, with no link yet (it joins the network with its first :meth:`add_link`)."""
        ...

    def add_link(self, a: str, b: str, length_km: float, model: "LinkModel", scheme: str) -> None:
        """A new fibre between two nodes: memories at both ends; the topology manager discovers it."""
        ...

    def remove_link(self, a: str, b: str) -> None:
        """The fibre is removed: a failure that never ends (requests re-route or fail)."""
        ...

    def remove_node(self, name: str) -> None:
        """The node is removed: a node failure that never ends, and its links removed."""
        ...

    def component_name(self, kind: str) -> str:
        """The scenario's component of ``kind`` (e.g. ``topology_manager``) by name."""
        ...

    def component_params(self, path: str) -> Any:
        """The validated parameters (a pydantic model) of the component the scenario field
        ``path`` selects (``hardware.link``, ``protocols.routing`` ...), or None."""
        ...

    def topology_status(self) -> dict[str, Any]:
        """``ready`` (the controller's view is usable), ``failures`` injected, ``reroutes``
        and the topology manager's own metrics."""
        ...

    def run(self, progress: Callable[[float, int], None] | None = None) -> dict[str, Any]:
        """Play the scenario; the results dictionary (schema ``qplane.results/2``).
        ``progress(now, pairs_delivered)``: called about ten times a wall second; Ctrl-C raises
        :class:`qplane.errors.RunInterrupted` with the results so far."""
        ...
