"""The memory inventory and the admission queue every first-party scheduler shares.

The inventory: every node has ``memory.count`` memories per quantum link (memories toward
different neighbours are different resources). A request reserves memory *pairs* along its path
— on every hop one memory at each end — and holds them until it finishes or is preempted; it
never holds a memory another request holds (the runner's
:meth:`qplane_engine.inventory.MemoryInventory.violations` checks this).

Admission: a routed request joins the queue; an admission pass walks the queue in the
scheduler's order (:meth:`QueueScheduler.rank`) and starts every request whose path has, on
every hop, at least one free memory at both ends. It reserves up to ``max_memories_per_link``
free memory pairs per hop (all free ones by default). A multipath request (several link-disjoint
paths, e.g. ``routing: k-shortest``) is admitted when at least one of its paths can be
allocated and gets a session on each path that can be, at that moment (paths that could not be
allocated then are not added later). A path-free request (``routing: reactive``) needs no
memories from the scheduler: its swapping policy borrows them from a link-level pool.

Passes run when a request arrives and whenever one releases memories; with ``strict: true`` the
first request that cannot be admitted blocks every later one (head of line). Ordered schedulers
(``batch = True``) run the pass at the end of the current instant, after every arrival at that
instant, so that requests arriving together are ranked together.

Preemption (``preempt: true`` on ``priority`` and ``edf``; always on for ``round-robin``): a
request that cannot be admitted may take the memories of admitted requests the scheduler
names as victims (:meth:`QueueScheduler.victims`), when that makes room for it; the victims'
stored pairs are lost (``losses.preempted``) and they go back to the queue.

This module must not touch quantum states: it only moves memories between requests through the
runner (``start_session``, ``release_session``, ``preempt``).
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

from qplane.context import Context
from qplane.requests import RequestHandle


class SchedulerParams(BaseModel):
    """Parameters every first-party scheduler takes."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_memories_per_link: int | None = Field(
        None, ge=1, description="memory pairs a request may reserve per hop; null = all free")
    strict: bool = Field(False, description="a waiting request blocks all later ones (head of line)")
    occupancy_sample_s: float | None = Field(
        None, gt=0.0, allow_inf_nan=False,
        description="sample the memories holding qubits every this many simulated seconds (results: "
        "nodes[].occupied_mean, memory_timeline); null = off (reserved memories are always integrated exactly)")


def path_links(path: list[str]) -> set[frozenset[str]]:
    return {frozenset(e) for e in zip(path, path[1:])}


class QueueScheduler:
    """Admission in :meth:`rank` order with memory reservation along every path."""

    #: run the admission pass at the end of the current instant (after simultaneous arrivals)
    batch = True

    def __init__(self, params: SchedulerParams, context: Context):
        self.params = params
        self.ctx = context
        self.env = context.clock
        self.queue: list[RequestHandle] = []
        self._queued: set[RequestHandle] = set()
        #: admitted requests, in admission order
        self.admitted: dict[RequestHandle, None] = {}
        self._arrival: dict[RequestHandle, int] = {}
        self._seq = 0
        self._admitting = False
        self._again = False
        self._pass_pending = False
        #: waiting requests: path -> the hop found full when it last failed. A pass checks that hop
        #: first and skips the path while it is still full (the same answer as a full look, which
        #: would stop there or earlier): a pass over a long queue costs a hop per request, not a path
        self._blocked: dict[RequestHandle, dict[tuple[str, ...], tuple[str, str]]] = {}
        self._full_hop: tuple[str, str] | None = None
        #: during a pass: hop -> still full (cleared when memories are released meanwhile)
        self._fullness: dict[tuple[str, str], bool] | None = None
        if params.occupancy_sample_s is not None:
            context.inventory.sample_occupancy(params.occupancy_sample_s)

    # ------------------------------------------------------------------ the Scheduler protocol

    def submit(self, handle: RequestHandle) -> None:
        """A routed request (or one re-routed or preempted) joins the queue."""
        if handle not in self._arrival:
            self._arrival[handle] = self._next_seq()
        self.admitted.pop(handle, None)
        self._enqueue(handle)
        self.request_admission()

    def release(self, handle: RequestHandle) -> None:
        """``handle`` finished (or lost its path): free every memory it holds."""
        for session in list(handle.sessions):
            self.ctx.inventory.release(session)
        if handle.session is not None:
            self.ctx.inventory.release(handle.session)  # no-op when released above
        self.admitted.pop(handle, None)
        self._released()
        self.on_released(handle)
        self.request_admission()

    def reconsider(self) -> None:
        """Waiting requests' paths changed (a failure or a repair): try them again."""
        self.request_admission()

    # ------------------------------------------------------------------ what subclasses change

    def rank(self, handle: RequestHandle) -> tuple:
        """Sort key of the queue: smaller first. Default: arrival order."""
        return (self._arrival[handle],)

    def victims(self, handle: RequestHandle) -> list[RequestHandle]:
        """Admitted requests ``handle`` may preempt, the first to go first. Default: none."""
        return []

    def may_preempt(self) -> bool:
        """:meth:`victims` can name any: a pass must then look at every waiting request."""
        return False

    def gate_for(self, handle: RequestHandle) -> Any:
        """The generation gate of ``handle``'s sessions (None: generate freely)."""
        return None

    def on_admitted(self, handle: RequestHandle) -> None:
        """``handle`` just got its sessions."""

    def on_released(self, handle: RequestHandle) -> None:
        """``handle`` gave its memories back for good (finished, or re-routed)."""

    # ------------------------------------------------------------------ inventory

    def paths(self, handle: RequestHandle) -> list[list[str]]:
        """The fixed paths of ``handle`` ([] for a path-free request). A path replaced after a
        failure (``handle.path`` no longer the first of ``handle.paths``) is served alone."""
        if handle.path is None:
            return []
        if handle.paths and handle.paths[0] == handle.path:
            return handle.paths
        return [handle.path]

    def links(self, handle: RequestHandle) -> set[frozenset[str]]:
        out: set[frozenset[str]] = set()
        for p in self.paths(handle):
            out |= path_links(p)
        return out

    def free_pairs(self, path: list[str], also_free: Iterable[Any] = ()) -> list[list[tuple[Any, Any]]] | None:
        """The free memory pairs on every hop of ``path`` (memories owned by the sessions in
        ``also_free`` count as free), capped by ``max_memories_per_link``; None when a hop has
        none."""
        nodes = self.ctx.network.nodes
        cap = self.params.max_memories_per_link
        extra = set(also_free)
        allocation = []
        for u, v in zip(path, path[1:]):
            free_u = [m for m in nodes[u].device.memories(v) if m.owner is None or m.owner in extra]
            free_v = [m for m in nodes[v].device.memories(u) if m.owner is None or m.owner in extra]
            k = min(len(free_u), len(free_v))
            if cap is not None:
                k = min(k, cap)
            if k == 0:
                self._full_hop = (u, v)
                return None
            allocation.append(list(zip(free_u[:k], free_v[:k])))
        return allocation

    def try_start(self, handle: RequestHandle) -> bool:
        """Admit ``handle`` if memories allow: one session per path that can be allocated."""
        paths = self.paths(handle)
        gate = self.gate_for(handle)
        if not paths:  # path-free
            self.admitted[handle] = None
            self.ctx.sessions.start(handle, [], path=[], gate=gate)
            self.on_admitted(handle)
            return True
        started = False
        blocked = self._blocked.get(handle)
        for path in paths:  # one after the other: a path sharing links with an earlier one gets what is left
            if handle.done:
                break
            key = tuple(path)
            hop = blocked.get(key) if blocked is not None else None
            if hop is not None and self._still_full(*hop):
                continue
            allocation = self.free_pairs(path)
            if allocation is None:
                if self._full_hop is not None:
                    self._blocked.setdefault(handle, {})[key] = self._full_hop
                continue
            if not started:
                self.admitted[handle] = None
                started = True
            self.ctx.sessions.start(handle, allocation, path=path, gate=gate)
        if started:
            self._blocked.pop(handle, None)
            self._released()  # (memories taken: hops known free may be full now)
            self.on_admitted(handle)
        return started

    def _still_full(self, u: str, v: str) -> bool:
        """No free memory at one end of the hop ``u``-``v`` (a link removed since: not full);
        looked up once per pass while nothing is released."""
        cache = self._fullness
        if cache is not None:
            full = cache.get((u, v))
            if full is not None:
                return full
        nodes = self.ctx.network.nodes
        try:
            ends = (nodes[u].device.memories(v), nodes[v].device.memories(u))
        except KeyError:
            return False
        full = any(all(m.owner is not None for m in mems) for mems in ends)
        if cache is not None:
            cache[(u, v)] = full
        return full

    def _surely_blocked(self, handle: RequestHandle) -> bool:
        """Every path of ``handle`` is blocked at a hop that is still full, and nothing can be
        preempted for it: a full look would fail too."""
        blocked = self._blocked.get(handle)
        if not blocked or self.may_preempt():
            return False
        for path in self.paths(handle):
            hop = blocked.get(tuple(path))
            if hop is None or not self._still_full(*hop):
                return False
        return True

    def _released(self) -> None:
        """Memories came free or were taken: what a pass knew of full hops no longer holds."""
        if self._fullness is not None:
            self._fullness.clear()

    def make_room(self, handle: RequestHandle) -> bool:
        """Preempt the fewest of :meth:`victims` (in their order) that let ``handle`` in."""
        candidates = [v for v in self.victims(handle) if v in self.admitted and not v.done]
        if not candidates:
            return False
        chosen: list[RequestHandle] = []
        sessions: list[Any] = []
        for v in candidates:
            chosen.append(v)
            sessions.extend(v.sessions)
            if any(self.free_pairs(p, sessions) is not None for p in self.paths(handle)):
                break
        else:
            return False
        for v in chosen:
            self.preempt(v)
        return True

    def preempt(self, handle: RequestHandle) -> None:
        """Take ``handle``'s memories back and put it at the tail of the queue."""
        self.admitted.pop(handle, None)
        self.ctx.sessions.preempt(handle)
        self._released()
        self.on_preempted(handle)
        self._enqueue(handle)
        self._again = True

    def on_preempted(self, handle: RequestHandle) -> None:
        """``handle`` was preempted and is queued again."""

    # ------------------------------------------------------------------ admission passes

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _enqueue(self, handle: RequestHandle) -> None:
        if handle not in self._queued:
            self._queued.add(handle)
            self.queue.append(handle)

    def request_admission(self) -> None:
        """Run an admission pass now (``batch = False``) or at the end of this instant."""
        if not self.batch:
            self._admit()
        elif not self._pass_pending:
            self._pass_pending = True
            self.env.call_at(0.0, self._batched_pass)

    def _batched_pass(self) -> None:
        self._pass_pending = False
        self._admit()

    def _admit(self) -> None:
        # a session may finish while it is being started (and release memories): admission is
        # not re-entered; it runs again once the current pass is over
        if self._admitting:
            self._again = True
            return
        self._admitting = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._admit_pass()
        finally:
            self._admitting = False

    def _admit_pass(self) -> None:
        pending, self.queue = self.queue, []
        still: list[RequestHandle] = []
        blocked = False
        self._fullness = {}
        try:
            for handle in sorted(pending, key=self.rank):
                if handle.done or handle in self.admitted:
                    self._queued.discard(handle)
                    self._blocked.pop(handle, None)
                    continue
                if not blocked and not self._surely_blocked(handle) and (
                        self.try_start(handle) or (self.make_room(handle) and self.try_start(handle))):
                    self._queued.discard(handle)
                    continue
                still.append(handle)
                if self.params.strict:
                    blocked = True
        finally:
            self._fullness = None
        # requests queued during the pass (preempted, re-routed) come after the ones that waited
        self.queue = still + self.queue
