"""Opportunistic routing: each node decides locally, from the link-level pairs it holds and its
distance to the destination, which swap brings a request's pair closer -- no path in advance,
and no controller choosing one (unlike ``reactive``, whose controller sees the whole
entanglement graph).

``routing: opportunistic`` picks the ``opportunistic`` swapping policy (its session model)
automatically. The link-level pairs come from the reactive :class:`~.reactive.LinkPool`
(every link keeps generating, pairs older than ``max_age`` are discarded); this module's
:class:`OpportunisticPool` is that pool with its own service keys and its own reaction to
heralds. The protocol, per end-to-end pair ("growing pair") of a request:

* **Start.** The source takes an available pool pair towards its neighbour closest to the
  destination: the growing pair now spans (src, m), and m holds its far end (both ends of a
  link hear its herald, so no message is needed).
* **Grow.** The node x holding the far end looks at the pool pairs it has to its neighbours
  and swaps with the one towards the neighbour m of smallest distance to the destination,
  strictly smaller than x's own (so the pair never loops back: its path is monotone towards
  the destination). Distance is the hop count or the fibre length (``metric: hops|km``) over
  the controller's view of the topology (recomputed when the view changes; a pair never visits
  a node twice). If x has no such pair it
  waits for the next herald on one of its links (no polling). The swap is the repeater's Bell
  measurement (its gate and measurement errors, ``bsm_success``); its outcome travels to m
  (who then acts as the far end: one message, over the link's delay) and to the source (one
  message, its delay along the path taken so far). The links inside the grown path, measured
  at both ends, return to the pool at once.
* **Deliver.** When the far end reaches the destination, the pair is delivered once both ends
  know every outcome; the destination applies the Pauli correction. The pair's path and its
  number of swaps are counted per request (results ``extra.opportunistic``).
* **Give up.** A growing pair older than ``max_age`` (its oldest qubit; null = the cutoff
  policy's) is discarded (``losses.cutoff``), as is one whose estimated fidelity falls below
  the request's ``min_fidelity`` (``losses.below_min_fidelity``) or whose swap fails
  (``losses.swap_failed``); the source then starts again (after the news reaches it).

The network's estimate of each pair (link states aged in storage, the swaps' noise) is kept
as the pair grows, as in reactive routing. A request grows ``parallel`` pairs at once (default
one). Purification is not supported. A run mixing reactive and opportunistic requests has two
pools: the first started takes ``memories_per_link`` memories per link (default: all free ones).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import networkx as nx
from pydantic import Field

import qplane_physics as physics
from qplane.context import Context, ServiceKey
from qplane.requests import DeliveredPair, Session

from .pathsearch import _age
from .reactive import LinkPool, ReactiveParams, ReactiveRouter, ReactiveSwapping


class OpportunisticRouter(ReactiveRouter):
    """Opportunistic routing: no path in advance (``route`` only proves one exists and bounds
    the fidelity); every pair grows hop by hop, each node choosing the next from its own pairs."""

    swapping = "opportunistic"


class OpportunisticParams(ReactiveParams):
    metric: Literal["hops", "km"] = Field(
        "hops", description="distance to the destination: hop count or fibre length (controller's view)")
    max_age: float | None = Field(
        None, gt=0.0, allow_inf_nan=False,
        description="pool pairs, and growing pairs, whose oldest qubit is older than this are discarded; "
                    "null = the cutoff policy's max_age")
    parallel: int = Field(1, ge=1, description="end-to-end pairs a request grows at once")


class _Grower:
    """One end-to-end pair being grown from the source."""

    __slots__ = ("consumer", "group", "path", "src_mem", "far_mem", "est", "t_est", "frame",
                 "t_attempt", "born", "alive", "arrived", "src_knows", "id")

    def __init__(self, consumer: "_Walker"):
        self.consumer = consumer
        self.group: list[tuple[Any, Any]] = []  # the memory pairs it holds (not yet given back)
        self.path = [consumer.src]
        self.src_mem = self.far_mem = None
        self.est: list[float] | None = None  # Pauli-order estimate of its state at t_est
        self.t_est = 0.0
        self.frame = 0
        self.t_attempt = math.inf
        self.born = math.inf
        self.alive = True
        self.arrived = False  # its far end is at the destination: delivery under way
        self.src_knows = 0.0  # when the source knows every outcome so far
        self.id: int | None = None  # traced runs: the trace's id of the pair as it stands


class _Walker:
    """An opportunistic request's session state (``session.state``)."""

    def __init__(self, pool: "OpportunisticPool", session: Session, order: int):
        self.pool = pool
        self.session = session
        self.handle = session.handle
        req = self.handle.request
        self.src, self.dst = req.src, req.dst
        self.min_fidelity = req.min_fidelity
        self.rank = (-req.priority, req.end if req.end is not None else math.inf, order)
        self._view: nx.Graph | None = None
        self._dist: dict[str, float] = {}
        self.growers: list[_Grower] = []
        self.by_end: dict[Any, _Grower] = {}

    def distances(self) -> dict[str, float]:
        """Every node's distance to the destination over the controller's view, recomputed when
        the view changes (a failure or repair the controller learned of)."""
        view = self.pool.ctx.network.view()
        if view is not self._view:
            self._view = view
            if self.dst not in view:
                self._dist = {}
            elif self.pool.params.metric == "km":
                self._dist = nx.single_source_dijkstra_path_length(view, self.dst, weight="length_km")
            else:
                self._dist = nx.single_source_shortest_path_length(view, self.dst)
        return self._dist

    def wants_more(self) -> bool:
        pairs = self.handle.request.pairs
        return pairs is None or self.handle.delivered_count + len(self.growers) < pairs

    # the runner's calls -------------------------------------------------------------------
    def memory_freed(self, m: Any) -> None:
        g = self.by_end.get(m)
        if g is not None and not g.alive and g.src_mem.qubit is None and g.far_mem.qubit is None:
            self.pool.give_back(self, g)

    def qubit_lost(self, m: Any) -> None:
        g = self.by_end.get(m)
        if g is not None and g.alive:
            self.pool.drop(g, "node_failed")

    def on_release(self) -> None:
        self.pool.walker_released(self)


class OpportunisticPool(LinkPool):
    """The reactive link pool, serving opportunistic requests (see the module)."""

    def __init__(self, ctx: Context, params: OpportunisticParams, max_age: float | None):
        super().__init__(ctx, params, max_age)
        self.stats.setdefault("swaps", {})
        self.walkers: list[_Walker] = []
        #: node -> the growing pairs whose far end it holds and knows of, waiting for a pair
        self.waiting: dict[str, list[_Grower]] = {}

    def __repr__(self) -> str:
        return "the opportunistic link pool"

    # ------------------------------------------------------------------ requests

    def add_walker(self, session: Session) -> None:
        self._orders += 1
        w = _Walker(self, session, self._orders)
        session.state = w
        self.walkers.append(w)
        self.walkers.sort(key=lambda c: c.rank)
        self._feed(w)

    def walker_released(self, w: _Walker) -> None:
        """``w``'s session was released (its memories freed): its memories come back."""
        for g in w.growers:
            g.alive = False
            self._unwait(g)
        w.growers.clear()
        for group in w.session.allocation:
            self._reclaim(group)
        w.session.allocation.clear()
        w.by_end.clear()
        if w in self.walkers:
            self.walkers.remove(w)
        if not self.walkers and not any(
            not h.done and isinstance(h.protocols.get("swapping"), OpportunisticSwapping)
            for h in self.ctx.sessions.requests
        ):
            self.stop()

    def _feed(self, w: _Walker) -> None:
        """Start growing pairs for ``w`` while it wants more (``parallel`` at a time)."""
        while (w.session.active and w.wants_more() and self.session.active
               and sum(not g.arrived for g in w.growers) < self.params.parallel):
            g = _Grower(w)
            w.growers.append(g)
            self._advance(g)

    # ------------------------------------------------------------------ growing

    def _heralded(self, entry: tuple[Any, Any], t_attempt: float) -> None:
        super()._heralded(entry, t_attempt)  # the pool's bookkeeping (it has no reactive consumers)
        link = self.links[self.index[entry[0]][0]]
        for x in (link.a, link.b):
            for g in list(self.waiting.get(x, ())):
                if frozenset((link.a, link.b)) not in self.avail or not self.avail[frozenset((link.a, link.b))]:
                    return
                if g.alive and g.path[-1] == x:
                    self._advance(g)

    def _unwait(self, g: _Grower) -> None:
        waiting = self.waiting.get(g.path[-1])
        if waiting and g in waiting:
            waiting.remove(g)

    def _next_hop(self, g: _Grower, x: str) -> str | None:
        """The neighbour of ``x`` closest to the destination, strictly closer than ``x`` and not
        on ``g``'s path yet, that ``x`` holds an available pool pair with (ties: the fresher
        pair, then the name)."""
        if x not in self.graph:
            return None
        dist = g.consumer.distances()
        here = dist.get(x, math.inf)
        best, key = None, None
        for m in self.graph.adj[x]:
            d = dist.get(m, math.inf)
            if d < here and m not in g.path:
                k = (d, -self.avail[frozenset((x, m))][-1].born, m)
                if key is None or k < key:
                    best, key = m, k
        return best

    def _advance(self, g: _Grower) -> None:
        """``g``'s far end knows it holds it: grow it one hop if a pair allows, else wait."""
        w, x = g.consumer, g.path[-1]
        m = self._next_hop(g, x)
        if m is None:
            waiting = self.waiting.setdefault(x, [])
            if g not in waiting:
                waiting.append(g)
                waiting.sort(key=lambda h: h.consumer.rank)
            return
        self._unwait(g)
        ctx, now = self.ctx, self.env.now
        nodes = ctx.network.nodes
        pair = self.avail[frozenset((x, m))][-1]
        self._take(pair)
        entry = pair.entry
        entries = self.session.allocation[pair.index]
        for j, e in enumerate(entries):
            if e is entry:
                del entries[j]
                break
        for mem in entry:
            ctx.inventory.set_owner(mem, w.session)
            mem.record = None
        near, far = (entry[0], entry[1]) if entry[0].node == x else (entry[1], entry[0])
        lv = self._state_now(pair, now)
        g.born = min(g.born, pair.born)
        g.t_attempt = min(g.t_attempt, pair.t_attempt)
        if g.est is None:  # the source takes its first link pair
            g.group = [entry]
            w.session.allocation.append(g.group)
            g.src_mem, g.far_mem, g.est, g.t_est = near, far, lv, now
            g.id = pair.id if self.trace is not None else None  # (pool pairs have ids only when traced)
            w.by_end[near] = w.by_end[far] = g
            g.path.append(m)
            self._watch_age(g)
            self._reached(g)
            return
        # x swaps its end of the growing pair with its end of the new link pair
        v = _age(g.est, nodes[g.path[0]].device.memory_model, now - g.t_est)
        v = _age(v, nodes[x].device.memory_model, now - g.t_est)
        v = physics.swap_pauli_order(v, lv)
        device = nodes[x].device
        ops = device.operations
        if ops.gate_error:
            v = physics.two_qubit_depolarize(v, ops.gate_error)
        if ops.measurement_error:
            e = ops.measurement_error
            v = physics.pauli_channel(v, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
        outcome = device.bell_measurement(g.far_mem, near, now)
        g.frame ^= outcome
        if self.trace is not None:
            made = next(self.ids)
            self.trace("swap", request=w.handle.id, pair=made, node=x, consumed=[g.id, pair.id],
                       nodes=[g.path[0], m], outcome=outcome, ok=True, fidelity_estimated=v[0])
            g.id = made
        w.by_end.pop(g.far_mem, None)
        g.group.append(entry)
        g.far_mem, g.est, g.t_est = far, v, now
        g.path.append(m)
        w.by_end[far] = g
        if len(g.group) > 2:  # the link into x is measured at both ends now: back to the pool
            self._reclaim([g.group.pop(1)])
        d = ctx.network.path_delays(g.path)
        wait = ops.bsm_duration
        g.src_knows = now + wait + d[-2]
        ctx.network.count_messages(1)  # the outcome, to the source
        if ops.bsm_success < 1.0 and self.env.stream(f"opportunistic-bsm:{x}").random() >= ops.bsm_success:
            self.drop(g, "swap_failed", restart_after=wait + d[-2])
            return
        if v[0] < w.min_fidelity:  # it can only get worse: start again
            self.drop(g, "below_min_fidelity", restart_after=wait + d[-2])
            return
        self._watch_age(g)
        ctx.network.send(wait + d[-1] - d[-2], self._reached, g)  # the outcome, to the new far end

    def _reached(self, g: _Grower) -> None:
        """The far end of ``g`` knows it holds it."""
        if not g.alive:
            return
        w = g.consumer
        if g.path[-1] != w.dst:
            self._advance(g)
            return
        g.arrived = True
        self.env.call_at(max(g.src_knows - self.env.now, 0.0), self._deliver, g)
        self._feed(w)

    def _watch_age(self, g: _Grower) -> None:
        if self.max_age is not None:
            self.env.call_at(max(g.born + self.max_age - self.env.now, 0.0), self._too_old, g)

    def _too_old(self, g: _Grower) -> None:
        if g.alive and not g.arrived and self.env.now >= g.born + self.max_age - 1e-15:
            d = self.ctx.network.path_delays(g.path)[-1]
            self.ctx.network.count_messages(1)  # the far end tells the source
            self.drop(g, "cutoff", restart_after=d)

    def _deliver(self, g: _Grower) -> None:
        """Both ends know every outcome: deliver (or discard) the pair."""
        w = g.consumer
        if not w.session.active or not g.alive:
            return
        g.alive = False
        w.growers.remove(g)
        handle, ctx, now = w.handle, self.ctx, self.env.now
        nodes = ctx.network.nodes
        src_mem, dst_mem = g.src_mem, g.far_mem
        ctx.network.nodes[dst_mem.node].device.apply_pauli(dst_mem, g.frame, now)
        est = _age(g.est, nodes[w.src].device.memory_model, now - g.t_est)
        est = _age(est, nodes[w.dst].device.memory_model, now - g.t_est)[0]
        key = "-".join(g.path)
        paths = self.stats["paths"].setdefault(handle.id, {})
        paths[key] = paths.get(key, 0) + 1
        swaps = self.stats["swaps"].setdefault(handle.id, {})
        swaps[len(g.path) - 2] = swaps.get(len(g.path) - 2, 0) + 1
        if est < w.min_fidelity:
            handle.discarded += 1
            if self.trace is not None:
                self.trace("discard", request=handle.id, pair=g.id, nodes=[w.src, w.dst], reason="below_min_fidelity")
            ctx.inventory.free(src_mem)
            ctx.inventory.free(dst_mem)
        else:
            fidelity = ctx.backend.fidelity(src_mem.qubit, dst_mem.qubit, now)
            pair = DeliveredPair(now, fidelity, est, now - g.t_attempt, now - g.born, src_mem, dst_mem)
            if self.trace is not None:
                self.trace("delivery", request=handle.id, pair=g.id, nodes=[w.src, w.dst], fidelity=fidelity,
                           fidelity_estimated=est, latency=pair.latency)
            ctx.sessions.deliver(w.session, pair)
        if w.session.active:
            self._feed(w)

    def drop(self, g: _Grower, why: str, restart_after: float = 0.0) -> None:
        """Discard the growing pair ``g`` (counted in ``losses[why]``); the source starts
        again ``restart_after`` seconds later (when the news reaches it)."""
        w = g.consumer
        g.alive = False
        self._unwait(g)
        w.handle.losses[why] = w.handle.losses.get(why, 0) + 1
        if self.trace is not None and g.id is not None:
            self.trace("discard", request=w.handle.id, pair=g.id, nodes=[g.path[0], g.path[-1]], reason=why)
        for m in (g.src_mem, g.far_mem):
            w.by_end.pop(m, None)
        self._give_group(w, g)
        if restart_after > 0.0:
            self.env.call_at(restart_after, self._restart, g)
        else:
            self._restart(g)

    def _restart(self, g: _Grower) -> None:
        w = g.consumer
        if g in w.growers:
            w.growers.remove(g)
        if w.session.active:
            self._feed(w)

    def give_back(self, w: _Walker, g: _Grower) -> None:
        """The pair of ``g`` is consumed or lost: its memories return to the pool."""
        for m in (g.src_mem, g.far_mem):
            w.by_end.pop(m, None)
        self._give_group(w, g)

    def _give_group(self, w: _Walker, g: _Grower) -> None:
        alloc = w.session.allocation
        for j, group in enumerate(alloc):
            if group is g.group:
                del alloc[j]
                break
        else:
            return  # given back already
        for m in (g.src_mem, g.far_mem):
            if m is not None:
                m.record = None
        self._reclaim(g.group)


class OpportunisticSwapping(ReactiveSwapping):
    """The session model of opportunistic routing: pairs grow hop by hop over a shared pool."""

    name = "opportunistic"
    pool_class = OpportunisticPool

    def join(self, pool: Any, session: Session) -> None:
        pool.add_walker(session)


#: the run's link-level pool for opportunistic requests
OPP_POOL: ServiceKey[OpportunisticPool] = ServiceKey("routing.opportunistic-pool", OpportunisticPool)
#: pool pairs heralded and expired, and per request the paths taken and the swaps made
OPP_STATS: ServiceKey[dict] = ServiceKey("routing.opportunistic-stats", dict)
OpportunisticPool.pool_key = OPP_POOL
OpportunisticPool.stats_key = OPP_STATS
