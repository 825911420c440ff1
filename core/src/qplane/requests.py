"""The northbound contract: what applications ask of the network, and what they get back.

An application submits an :class:`EntanglementRequest`; the network answers with a
:class:`RequestHandle` whose ``status`` ends in one of the final states of
:class:`RequestStatus`, with a ``reason`` saying why when it was not served, and whose
``delivered`` list holds every :class:`DeliveredPair` (only the most recent ``keep_delivered``
when that is set; ``delivered_count`` counts them all).

Routers and schedulers (plugins) implement :class:`Router` and :class:`Scheduler`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .components import PER_REQUEST


#: protocols a request may choose for itself (scenario key -> component kind)
PER_REQUEST_PROTOCOLS = {key: f.kind for key, f in PER_REQUEST.items()}


class EntanglementRequest(BaseModel):
    """Ask for entangled pairs between ``src`` and ``dst``, or for GHZ states shared by
    ``parties`` (three or more nodes; ``src``/``dst`` are then its first and last party).

    Exactly one of ``pairs`` (``states``: deliver that many, then complete) and ``rate`` (serve
    at least this many per second from ``start`` until ``end``) is given. ``end`` is a deadline:
    a request still unserved then ends ``timed_out``.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra=lambda s: s.update(
        required=[r for r in s.get("required", []) if r not in ("src", "dst")],  # src and dst, or parties
        anyOf=[{"required": ["src", "dst"]}, {"required": ["parties"]}]))

    src: str = Field(description="one end node")
    dst: str = Field(description="the other end node")
    parties: list[str] | None = Field(None, min_length=3, description="nodes sharing each GHZ state, instead of src/dst")
    states: int | None = Field(None, gt=0, description="a multipartite request's count of GHZ states (its 'pairs')")
    min_fidelity: float = Field(0.0, ge=0.0, le=1.0, description="pairs estimated below this fidelity are discarded")
    pairs: int | None = Field(None, gt=0, description="deliver this many pairs, then complete")
    rate: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                               description="serve at least this many pairs per second from start until end")
    start: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="seconds into the run it is submitted")
    end: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                              description="deadline, seconds into the run: still unserved then, it times out")
    priority: int = Field(0, description="higher is served first by schedulers that use priorities")
    protocols: dict[str, Any] | None = Field(
        None,
        description="per-request protocols replacing the scenario's: routing, swapping, purification, "
        "cutoff, application (name or {name: ..., params})",
    )

    @model_validator(mode="before")
    @classmethod
    def _ends(cls, data: Any) -> Any:  # a multipartite request: src/dst are its first and last party
        parties = data.get("parties") if isinstance(data, dict) else None
        if isinstance(parties, list) and parties and "src" not in data and "dst" not in data:
            data = {**data, "src": parties[0], "dst": parties[-1]}
        return data

    @model_validator(mode="after")
    def _check(self) -> "EntanglementRequest":
        if self.parties is not None and (len(set(self.parties)) < len(self.parties) or self.pairs is not None
                                         or (self.src, self.dst) != (self.parties[0], self.parties[-1])):
            raise ValueError("'parties' must all differ, and replace 'src' and 'dst' (and 'pairs': give 'states')")
        if self.states is not None and self.parties is None:
            raise ValueError("'states' counts the GHZ states of a request with 'parties'")
        if ((self.states if self.parties else self.pairs) is None) == (self.rate is None):
            raise ValueError(f"give exactly one of '{'states' if self.parties else 'pairs'}' and 'rate'")
        if self.rate is not None and self.end is None:
            raise ValueError("a 'rate' request needs an 'end'")
        if self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        if self.src == self.dst:
            raise ValueError("'src' and 'dst' must differ")
        unknown = set(self.protocols or ()) - set(PER_REQUEST_PROTOCOLS)
        if unknown:
            raise ValueError(
                f"protocols: {', '.join(sorted(unknown))} cannot be set per request "
                f"(per request: {', '.join(PER_REQUEST_PROTOCOLS)})"
            )
        return self


class RequestStatus(str, Enum):
    PENDING = "pending"  # before its start time
    WAITING = "waiting"  # routed, waiting for memories
    ACTIVE = "active"  # being served
    COMPLETED = "completed"  # all pairs delivered / rate met until end
    RATE_NOT_MET = "rate_not_met"  # rate request served until end below its rate
    TIMED_OUT = "timed_out"  # deadline or end of run before it was served
    NO_PATH = "no_path"
    INSUFFICIENT_RESOURCES = "insufficient_resources"  # the protocols need more memories than the path has
    FIDELITY_UNREACHABLE = "fidelity_unreachable"
    CANCELLED = "cancelled"
    FAILED = "failed"  # its path failed and no other path remains
    INTERRUPTED = "interrupted"  # the run was stopped (Ctrl-C) before it finished

    @property
    def final(self) -> bool:
        return self not in (RequestStatus.PENDING, RequestStatus.WAITING, RequestStatus.ACTIVE)


@dataclass(slots=True)
class DeliveredPair:
    """One end-to-end pair handed to the application."""

    time: float
    fidelity: float  # the backend's fidelity with Phi+ at delivery
    fidelity_estimated: float  # the network's own estimate
    latency: float  # delivery time minus the start of the oldest link-level attempt in it
    age: float = 0.0  # delivery time minus the emission of its oldest qubit (storage time)
    src_memory: Any = None
    dst_memory: Any = None
    memories: tuple[Any, ...] = ()  # a GHZ state's: one memory per party, in the order of ``parties``


@dataclass(eq=False)
class RequestHandle:
    """The network's side of one request: its status, path and delivered pairs."""

    id: int
    request: EntanglementRequest
    status: RequestStatus = RequestStatus.PENDING
    reason: str = ""
    path: list[str] | None = None
    delivered: list[DeliveredPair] = field(default_factory=list)
    delivered_count: int = 0  # every pair delivered, kept in ``delivered`` or not
    #: keep at most about this many recent pairs in ``delivered`` (None: all); a long-lived
    #: service sets it, and the results' per-pair statistics then cover the pairs kept
    keep_delivered: int | None = None
    discarded: int = 0  # pairs dropped because their estimate was below min_fidelity
    losses: dict[str, int] = field(default_factory=dict)  # pairs lost on the way: cutoff, swap_failed, ...
    reroutes: int = 0  # times its path was replaced after a failure
    served_from: float | None = None
    finished_at: float | None = None
    session: Any = None
    #: every session serving it now (several for a multipath router: one per path); the
    #: runner adds a session when the scheduler starts one and removes it when it is released
    sessions: list[Any] = field(default_factory=list)
    #: the fixed paths it is served over (``paths[0] == path``); several for a multipath router,
    #: none for a path-free (reactive) request
    paths: list[list[str]] = field(default_factory=list)
    #: seconds spent waiting for memories (routed, not holding any), over its whole life
    queued_s: float = 0.0
    waiting_since: float | None = None
    preemptions: int = 0  # times the scheduler took its memories back before it finished
    #: the components serving this request: kind -> instance (the scenario's unless overridden)
    protocols: dict[str, Any] = field(default_factory=dict)
    #: kind -> component name, for the results
    protocol_names: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status.final


class Router(Protocol):
    """Chooses the path of a request over the controller's view of the topology.

    Optional members the runner looks for:

    * ``routes(graph, src, dst, request) -> list[list[str]]`` — a multipath router gives several
      paths (the runner keeps those that can reach ``min_fidelity``; the scheduler starts one
      session per path it can allocate, and the request completes when the pairs delivered over
      all of them reach ``pairs``); when present it is used instead of ``route``;
    * ``fixed_path = False`` — a path-free router (entanglement-graph routing): ``route`` only
      proves that a path exists and bounds the fidelity; the request is served by a swapping
      policy with ``path_free = True`` that finds its paths as link-level pairs appear;
      ``swapping`` names that policy (used when the scenario does not choose one);
    * ``virtual_links`` — a hybrid router's virtual links (each with ``a``, ``b``, ``stock``,
      ``max_age``, ``refill``): the engine keeps stocks of end-to-end pairs on them and routes the
      router's requests on the view plus one edge per virtual link, whose ``virtual`` (the stock:
      ``available``, ``expected_wait()``) tells it apart; ``designate(demand)`` adds virtual links
      from the requests counted so far per node pair (``{(a, b): n}``).
    """

    def route(self, graph: nx.Graph, src: str, dst: str, request: EntanglementRequest) -> list[str] | None:
        """A node path from ``src`` to ``dst``, or None when there is none. Edges of ``graph``
        carry ``length_km``, ``link`` (the :class:`qplane.hal.LinkModel`) and
        ``expected_pair_time`` ((1/p - 1) cycles + herald delay, seconds). When the runner routes
        a request, nodes also carry ``memory`` (the node's
        :class:`qplane.hal.MemoryModel`) and ``operations``
        (:class:`qplane.hal.Operations`); a router must not rely on them elsewhere.
        The graph is shared: a router must not modify it."""
        ...


class Scheduler(Protocol):
    """Admits routed requests and allocates memories to them."""

    def submit(self, handle: RequestHandle) -> None:
        """A request's start time has come and its path is set: serve it when resources allow."""
        ...

    def release(self, handle: RequestHandle) -> None:
        """``handle`` has finished: its memories are free again."""
        ...

    # Optional: ``reconsider()`` — the paths of waiting requests changed (a failure or a
    # repair): try admitting them again. A scheduler starts a request with
    # ``context.sessions.start(handle, allocation, path, gate)`` (one call per path; no path and
    # no allocation for a path-free request), frees each of ``handle.sessions`` with
    # ``context.inventory.release``, and takes memories back with ``context.sessions.preempt``.


@dataclass(eq=False)
class Session:
    """One admitted request being served over its path with its allocated memories.

    ``allocation[h]`` is the list of memory pairs ``(m_a, m_b)`` reserved on hop ``h``
    (between ``path[h]`` and ``path[h+1]``). A path-free session (reactive routing) has no
    path; its allocation lists the memory pairs it holds at the moment, in any grouping.

    ``gate``, when set (a slotted scheduler), confines link generation for this session to its
    time slots: ``gate.open_until(now)`` is the end of the slot open now (None when closed) and
    ``gate.wait(callback)`` calls ``callback()`` at the start of the session's next slot. A
    link generator attempts only when every attempt window ``[emission, emission + cycle]``
    fits inside an open slot.

    The runner calls ``state.memory_freed(m)`` when a memory of an active session is emptied,
    and ``state.on_release()`` (when the state has it) after the session's memories are
    released."""

    handle: RequestHandle
    path: list[str]
    allocation: list[list[tuple[Any, Any]]]
    active: bool = True
    state: Any = None  # the swapping policy's own bookkeeping
    gate: Any = None
