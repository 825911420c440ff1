"""Reactive (entanglement-graph) routing: swap over whatever link-level entanglement exists at
the moment, instead of a path fixed in advance.

The session model differs from the path-based policies', so it is a swapping policy of its own
(``swapping: reactive``, chosen automatically with ``routing: reactive``):

* **The pool.** When the first reactive request is served, a :class:`LinkPool` takes memory
  pairs on every quantum link (``memories_per_link`` per link, default every free one) and keeps
  all of them generating link-level pairs, whether or not a request is waiting (pairs made ahead
  of demand). The pool holds those memories as a session of its own, so the inventory's
  invariants cover it. It lets go of them when no unfinished reactive request remains (and at
  the end of the run). Pool pairs older than ``max_age`` (default: the scenario's cutoff policy)
  are discarded and their memories regenerate.
* **The entanglement graph.** Its edges are the links holding at least one available pool pair.
  Whenever it gains a pair, and whenever a request arrives or wants another pair, every active
  reactive request whose end nodes are connected in it (most urgent first: higher priority, then
  earlier deadline, then arrival) gets the path with the best expected fidelity over the
  available pairs (Dijkstra on ``-ln`` of each link's freshest pair's Werner parameter, with the
  repeaters' gate errors), provided the network's estimate of the delivered pair — the chosen
  pairs' storage so far, the swaps' gate and measurement errors, and the end qubits' wait for
  the swap outcomes — reaches the request's ``min_fidelity``.
* **Swapping along it.** The chosen link pairs (with their memories) are *reserved for the
  request*: ownership moves from the pool to the request's session. Every repeater on the path
  performs its Bell-state measurement at once; each outcome travels to both end nodes; the pair
  is delivered when both know every outcome (one event stands for those 2(n-1) messages, which
  are counted). The destination applies the Pauli correction. A failed measurement
  (``bsm_success < 1``) loses the pair (``losses.swap_failed``).
* **Release.** When the application consumes the pair (or it is lost), the reserved memories
  return to the pool and generate again; when the request ends first, its session's release
  returns them.

The controller's knowledge is idealised: it sees the entanglement graph as the nodes know it at
that instant (heralds reach both ends of a link; their dissemination to a controller is not
delayed) — the model of Pant et al., npj Quantum Inf. 5, 25 (2019). Purification is not
supported (a request asking for it is an error before the run).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

import qplane_physics as physics
from qplane.context import TRACE, Context, ServiceKey
from qplane.requests import DeliveredPair, Session

from .pathsearch import _HUGE, PathSearch, _decay_rate
from .routers import MaxFidelityParams, MaxFidelityRouter



class ReactiveRouter(MaxFidelityRouter):
    """Entanglement-graph routing: no path in advance (``route`` only proves one exists and
    bounds the fidelity, with the max-fidelity path); pairs find their paths as they are made."""

    fixed_path = False
    swapping = "reactive"

    def __init__(self, params: MaxFidelityParams):
        super().__init__(params)


class ReactiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    memories_per_link: int | None = Field(
        None, ge=1, description="memory pairs per link the pool holds; null = every memory free when the pool starts")
    max_age: float | None = Field(
        None, gt=0.0, allow_inf_nan=False,
        description="pool pairs whose qubits are older than this are discarded; null = the cutoff policy's max_age")


class _PoolPair:
    """A heralded link-level pair in the pool."""

    __slots__ = ("index", "entry", "born", "t_attempt", "available", "id")

    def __init__(self, index: int, entry: tuple[Any, Any], born: float, t_attempt: float):
        self.index = index  # the link's index in the pool
        self.entry = entry  # (memory at link.a, memory at link.b)
        self.born = born  # emission of the successful attempt
        self.t_attempt = t_attempt
        self.available = True
        # ``id``: set in traced runs only (the trace's ``pair``)


class _Reservation:
    """Link pairs reserved for one end-to-end pair of a request, from the swaps to delivery."""

    __slots__ = ("group", "src_mem", "dst_mem", "est", "frame", "failed", "t_attempt", "born", "alive", "id")

    def __init__(self, group, src_mem, dst_mem, est, frame, failed, t_attempt, born):
        self.group = group  # the memory pairs (entries) it holds, one per link of its path
        self.src_mem = src_mem
        self.dst_mem = dst_mem
        self.est = est  # the network's estimate of the delivered fidelity
        self.frame = frame
        self.failed = failed
        self.t_attempt = t_attempt
        self.born = born
        self.alive = True  # until delivered or lost
        self.id = None  # traced runs: the trace's ``pair`` (the last swap's, or the one link pair's)


class _Consumer:
    """A reactive request's session state (``session.state``)."""

    def __init__(self, pool: "LinkPool", session: Session, order: int):
        self.pool = pool
        self.session = session
        self.handle = session.handle
        req = self.handle.request
        self.src, self.dst = req.src, req.dst
        self.min_fidelity = req.min_fidelity
        self.rank = (-req.priority, req.end if req.end is not None else math.inf, order)
        self.in_flight: list[_Reservation] = []
        self.by_end: dict[Any, _Reservation] = {}
        #: its ends are connected in the entanglement graph, but no path is good enough yet
        self.blocked_by_fidelity = False
        #: largest path cost that can reach min_fidelity (None: searches are not bounded)
        w_min = physics.werner_parameter(req.min_fidelity)
        self.budget = -math.log(w_min) + 1e-9 if pool.bounded and w_min > 0.0 else None
        #: while it waits (bounded searches): lower bounds of the path cost from its source to
        #: every node within budget; lowered as fresh pairs appear, exact after each search
        self.reach: dict[str, float] | None = None

    def wants_more(self) -> bool:
        pairs = self.handle.request.pairs
        return pairs is None or self.handle.delivered_count + len(self.in_flight) < pairs

    # the runner's calls -------------------------------------------------------------------
    def memory_freed(self, m: Any) -> None:
        res = self.by_end.get(m)
        if res is not None and not res.alive and res.src_mem.qubit is None and res.dst_mem.qubit is None:
            self.pool.give_back(self, res)

    def qubit_lost(self, m: Any) -> None:
        res = self.by_end.get(m)
        if res is not None and res.alive:
            self.pool.lose(self, res, "node_failed")

    def on_release(self) -> None:
        self.pool.consumer_released(self)


class LinkPool(PathSearch):
    """Link-level pairs shared by the reactive requests of a run (see the module)."""

    #: the services the pool and its statistics are kept under (None: POOL and STATS); a
    #: subclass serving another kind of request sets its own
    pool_key: "ServiceKey | None" = None
    stats_key: "ServiceKey | None" = None

    def __init__(self, ctx: Context, params: ReactiveParams, max_age: float | None):
        self.ctx = ctx
        self.env = ctx.clock
        self.params = params
        self.max_age = max_age
        self.session = Session(handle=None, path=[], allocation=[])
        self.session.state = self
        self.links: list[Any] = []
        #: per link: (-ln of the Werner parameter of a fresh pair, its growth per second stored)
        self.link_cost: list[tuple[float, float | None]] = []
        self.gate_cost: dict[str, float] = {}
        #: the additive cost is a lower bound of the delivered pair's -ln(Werner parameter)
        #: (Werner link states, depolarizing memories): searches may stop at a request's budget
        self.bounded = False
        self.index: dict[Any, tuple[int, tuple[Any, Any]]] = {}  # memory -> (link index, entry)
        self.generating: set[tuple[Any, Any]] = set()
        self.avail: dict[frozenset[str], list[_PoolPair]] = {}
        self.graph = nx.Graph()  # the entanglement graph: links with an available pair
        self.consumers: list[_Consumer] = []
        self._orders = 0
        self._serving = False
        self._again = False
        #: the protocol-event tracer (None when off) and, when on, the run's pair-id counter
        self.trace = ctx.services.get(TRACE)
        self.ids = ctx.services.get(PAIR_IDS) if self.trace is not None else None
        if self.trace is not None and self.ids is None:
            self.ids = itertools.count()
            ctx.services.set(PAIR_IDS, self.ids)
        self.stats = ctx.services.get(self.stats_key or STATS)
        if self.stats is None:
            self.stats = {"pairs_heralded": 0, "pairs_expired": 0, "paths": {}}
            ctx.services.set(self.stats_key or STATS, self.stats)

    def __repr__(self) -> str:
        return "the reactive link pool"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        net = self.ctx.network
        cap = self.params.memories_per_link
        for link in net.links.values():
            free_a = [m for m in net.nodes[link.a].device.memories(link.b) if m.owner is None and m.qubit is None]
            free_b = [m for m in net.nodes[link.b].device.memories(link.a) if m.owner is None and m.qubit is None]
            k = min(len(free_a), len(free_b))
            if cap is not None:
                k = min(k, cap)
            i = len(self.links)
            self.links.append(link)
            f = link.model.pair_state[0]
            w = physics.werner_parameter(f)
            rates = [_decay_rate(net.nodes[n].device.memory_model) for n in (link.a, link.b)]
            self.link_cost.append((-math.log(w) if w > 0.0 else _HUGE,
                                   None if None in rates else sum(rates)))  # type: ignore[arg-type]
            entries = list(zip(free_a[:k], free_b[:k]))
            self.session.allocation.append(entries)
            for entry in entries:
                self.index[entry[0]] = self.index[entry[1]] = (i, entry)
        for name, node in net.nodes.items():
            g = node.device.operations.gate_error
            self.gate_cost[name] = -math.log(1.0 - g) if g < 1.0 else _HUGE
        werner = all(abs(l.model.pair_state[1] - l.model.pair_state[2]) < 1e-12
                     and abs(l.model.pair_state[2] - l.model.pair_state[3]) < 1e-12 for l in self.links)
        self.bounded = werner and all(rate is not None for _, rate in self.link_cost)
        self.ctx.inventory.claim(self.session)
        for entries in self.session.allocation:
            for entry in list(entries):
                self._generate(entry)

    def stop(self) -> None:
        if self.session.active:
            self.ctx.inventory.release(self.session)
        self.avail.clear()
        self.graph.clear()
        if self.ctx.services.get(self.pool_key or POOL) is self:
            self.ctx.services.pop(self.pool_key or POOL)

    def add_consumer(self, session: Session) -> None:
        self._orders += 1
        consumer = _Consumer(self, session, self._orders)
        session.state = consumer
        self.consumers.append(consumer)
        self.consumers.sort(key=lambda c: c.rank)
        self.serve([consumer])

    def consumer_released(self, c: _Consumer) -> None:
        """``c``'s session was released (its memories freed): reserved memories come back."""
        for res in c.in_flight:
            res.alive = False
        c.in_flight.clear()
        for group in c.session.allocation:
            self._reclaim(group)
        c.session.allocation.clear()
        c.by_end.clear()
        if c in self.consumers:
            self.consumers.remove(c)
        if not self.consumers and not any(
            not h.done and getattr(h.protocols.get("swapping"), "path_free", False) for h in self.ctx.sessions.requests
        ):
            self.stop()

    # ------------------------------------------------------------------ generation

    def _generate(self, entry: tuple[Any, Any]) -> None:
        if entry in self.generating or not self.session.active:
            return
        i, _ = self.index[entry[0]]
        self.generating.add(entry)
        self.ctx.link_generation.start(self.session, self.links[i], entry[0], entry[1],
                                         lambda ma, mb, t0, e=entry: self._heralded(e, t0))

    def _heralded(self, entry: tuple[Any, Any], t_attempt: float) -> None:
        self.generating.discard(entry)
        i, _ = self.index[entry[0]]
        link = self.links[i]
        now = self.env.now
        pair = _PoolPair(i, entry, now - link.model.herald_delay, t_attempt)
        entry[0].record = entry[1].record = pair
        key = frozenset((link.a, link.b))
        pairs = self.avail.setdefault(key, [])
        pairs.append(pair)
        if len(pairs) == 1:
            self.graph.add_edge(link.a, link.b, pairs=pairs)
        self.stats["pairs_heralded"] += 1
        if self.trace is not None:  # a pool pair belongs to no request until a path takes it
            pair.id = next(self.ids)
            self.trace("herald", request=None, pair=pair.id, nodes=[link.a, link.b],
                       fidelity_estimated=link.model.pair_state[0], emitted=pair.born)
        if self.max_age is not None:
            self.env.call_at(max(pair.born + self.max_age - now, 0.0), self._expire, pair)
        # After every pass no waiting request has an acceptable path (they were all served), so
        # only a request this pair may help is searched again: a new link in the graph may
        # connect its ends; another pair on a link already there changes no connectivity and can
        # only help a request held back by fidelity -- and, with bounded searches, only if the
        # lower bounds of its path costs, lowered by this pair, now fit its budget.
        new_link = len(pairs) == 1
        bounded, unbounded = [], []
        for c in self.consumers:
            if not (c.session.active and c.wants_more() and c.src in self.graph and c.dst in self.graph):
                continue
            if c.budget is None:
                if new_link or c.blocked_by_fidelity:
                    unbounded.append(c)
            elif c.reach is None:
                if new_link or c.blocked_by_fidelity:
                    bounded.append(c)
            elif self._lower(c, link.a, link.b, now):
                bounded.append(c)
        if unbounded:
            component = nx.node_connected_component(self.graph, link.a)
            bounded += [c for c in unbounded if c.src in component and c.dst in component]
        if bounded:
            self.serve(sorted(bounded, key=lambda c: c.rank))

    def _take(self, pair: _PoolPair) -> None:
        """``pair`` leaves the available set (reserved, expired or lost)."""
        pair.available = False
        link = self.links[pair.index]
        key = frozenset((link.a, link.b))
        pairs = self.avail[key]
        if pairs and pairs[-1] is pair:
            pairs.pop()
        else:
            pairs.remove(pair)
        if not pairs:
            self.graph.remove_edge(link.a, link.b)

    def _discard(self, pair: _PoolPair, why: str) -> None:
        if self.trace is not None:
            link = self.links[pair.index]
            self.trace("discard", request=None, pair=pair.id, nodes=[link.a, link.b], reason=why)
        self._take(pair)
        ma, mb = pair.entry
        ma.record = mb.record = None
        self.ctx.inventory.free(ma)
        self.ctx.inventory.free(mb)

    def _expire(self, pair: _PoolPair) -> None:
        if pair.available and self.session.active:
            self.stats["pairs_expired"] += 1
            self._discard(pair, "expired")

    # the runner's calls on the pool's own session ---------------------------------------------
    def memory_freed(self, m: Any) -> None:
        found = self.index.get(m)
        if found is not None and found[1][0].qubit is None and found[1][1].qubit is None:
            self._generate(found[1])

    def qubit_lost(self, m: Any) -> None:
        pair = m.record
        if isinstance(pair, _PoolPair) and pair.available:
            self._discard(pair, "node_failed")

    # ------------------------------------------------------------------ serving requests

    def serve(self, candidates: list[_Consumer] | None = None) -> None:
        """Give each of ``candidates`` (default: every request; most urgent first) end-to-end
        pairs over the available link pairs, as many as it wants and the graph allows."""
        if self._serving:
            self._again = True
            return
        self._serving = True
        try:
            todo = self.consumers if candidates is None else candidates
            while True:
                progress = False
                for c in todo:
                    if not c.session.active or not c.wants_more():
                        continue
                    if c.src not in self.graph or c.dst not in self.graph:
                        c.blocked_by_fidelity = False
                        continue
                    choice = self._best_path(c)
                    if choice is not None:
                        self._use(c, *choice)
                        progress = True
                if self._again:  # something asked to serve meanwhile: look at everyone once more
                    self._again, todo, progress = False, list(self.consumers), True
                if not progress:
                    break
        finally:
            self._serving = False

    def _use(self, c: _Consumer, path: list[str], pairs: list[_PoolPair], est: float, delay: float) -> None:
        """Reserve ``pairs`` for ``c``, swap along ``path``, deliver after the outcomes travel."""
        ctx, now = self.ctx, self.env.now
        nodes = ctx.network.nodes
        group = []
        lefts, rights = [], []
        for h, pair in enumerate(pairs):
            self._take(pair)
            entry = pair.entry
            entries = self.session.allocation[pair.index]
            for j, e in enumerate(entries):
                if e is entry:
                    del entries[j]
                    break
            group.append(entry)
            for m in entry:
                ctx.inventory.set_owner(m, c.session)
                m.record = None
            ma, mb = entry
            left, right = (ma, mb) if ma.node == path[h] else (mb, ma)
            lefts.append(left)
            rights.append(right)
        c.session.allocation.append(group)
        frame, failed = 0, False
        trace, made = self.trace, pairs[0].id if self.trace is not None else None
        for h in range(1, len(path) - 1):  # every repeater measures at once
            device = nodes[path[h]].device
            outcome = device.bell_measurement(rights[h - 1], lefts[h], now)
            frame ^= outcome
            ops = device.operations
            if ops.bsm_success < 1.0 and self.env.stream(f"reactive-bsm:{path[h]}").random() >= ops.bsm_success:
                failed = True
            if trace is not None:  # the pair so far, from the source, joined with the next link's
                consumed = [made, pairs[h].id]
                made = next(self.ids)
                trace("swap", request=c.handle.id, pair=made, node=path[h], consumed=consumed,
                      nodes=[path[0], path[h + 1]], outcome=outcome, ok=not failed, fidelity_estimated=est)
        ctx.network.count_messages(2 * (len(path) - 2))
        res = _Reservation(group, lefts[0], rights[-1], est, frame, failed,
                           min(p.t_attempt for p in pairs), min(p.born for p in pairs))
        res.id = made
        res.src_mem.record = res.dst_mem.record = res
        c.in_flight.append(res)
        c.by_end[res.src_mem] = c.by_end[res.dst_mem] = res
        paths = self.stats["paths"].setdefault(c.handle.id, {})
        key = "-".join(path)
        paths[key] = paths.get(key, 0) + 1
        self.env.call_at(delay, self._arrive, c, res)

    def _arrive(self, c: _Consumer, res: _Reservation) -> None:
        """Both end nodes know every outcome: deliver (or drop) the pair."""
        if not c.session.active or not res.alive:
            return
        res.alive = False
        c.in_flight.remove(res)
        handle, ctx, now = c.handle, self.ctx, self.env.now
        src_mem, dst_mem = res.src_mem, res.dst_mem
        src_mem.record = dst_mem.record = None
        trace = self.trace
        if res.failed:
            if trace is not None:
                trace("discard", request=handle.id, pair=res.id, nodes=[src_mem.node, dst_mem.node], reason="swap_failed")
            handle.losses["swap_failed"] = handle.losses.get("swap_failed", 0) + 1
            ctx.inventory.free(src_mem)
            ctx.inventory.free(dst_mem)
        else:
            ctx.network.nodes[dst_mem.node].device.apply_pauli(dst_mem, res.frame, now)
            if res.est < c.min_fidelity:
                if trace is not None:
                    trace("discard", request=handle.id, pair=res.id, nodes=[src_mem.node, dst_mem.node],
                          reason="below_min_fidelity", fidelity_estimated=res.est)  # (no backend call: same numbers)
                handle.discarded += 1
                ctx.inventory.free(src_mem)
                ctx.inventory.free(dst_mem)
            else:
                fidelity = ctx.backend.fidelity(src_mem.qubit, dst_mem.qubit, now)
                pair = DeliveredPair(now, fidelity, res.est, now - res.t_attempt, now - res.born, src_mem, dst_mem)
                if trace is not None:
                    trace("delivery", request=handle.id, pair=res.id, nodes=[src_mem.node, dst_mem.node],
                          fidelity=fidelity, fidelity_estimated=res.est, latency=pair.latency)
                ctx.sessions.deliver(c.session, pair)
        if c.session.active:
            self.serve([c])

    def lose(self, c: _Consumer, res: _Reservation, why: str) -> None:
        res.alive = False
        if self.trace is not None:
            self.trace("discard", request=c.handle.id, pair=res.id, nodes=[res.src_mem.node, res.dst_mem.node],
                       reason=why)
        if res in c.in_flight:
            c.in_flight.remove(res)
        c.handle.losses[why] = c.handle.losses.get(why, 0) + 1
        res.src_mem.record = res.dst_mem.record = None
        self.ctx.inventory.free(res.src_mem)
        self.ctx.inventory.free(res.dst_mem)
        if c.session.active:
            self.serve([c])

    def give_back(self, c: _Consumer, res: _Reservation) -> None:
        """The pair of ``res`` is consumed or lost: its memories return to the pool."""
        alloc = c.session.allocation
        for j, g in enumerate(alloc):
            if g is res.group:
                del alloc[j]
                break
        else:
            return  # given back already
        for m in (res.src_mem, res.dst_mem):
            c.by_end.pop(m, None)
        self._reclaim(res.group)

    def _reclaim(self, group: list[tuple[Any, Any]]) -> None:
        ctx, now = self.ctx, self.env.now
        active = self.session.active
        for entry in group:
            for m in entry:
                if m.qubit is not None or m.record is not None:
                    ctx.network.nodes[m.node].device.release(m, now)
                ctx.inventory.set_owner(m, self.session if active else None)
            if active:
                i, _ = self.index[entry[0]]
                self.session.allocation[i].append(entry)
                self._generate(entry)


class ReactiveSwapping:
    """The session model of reactive routing: requests draw on a shared link-level pool.
    A subclass names another pool (``pool_class``, whose ``pool_key`` is its service) and how a
    session joins it (:meth:`join`)."""

    path_free = True
    name = "reactive"
    pool_class: type[LinkPool] = LinkPool

    def __init__(self, params: ReactiveParams, context: Context):
        self.params = params
        self.ctx = context

    def check_protocols(self, protocols: dict[str, Any]) -> str | None:
        pur = protocols.get("purification")
        if getattr(pur, "protocol", None):
            return f"swapping {self.name!r} does not purify: use purification: none with routing: {self.name}"
        return None

    def serve(self, session: Session) -> None:
        key = self.pool_class.pool_key or POOL
        pool = self.ctx.services.get(key)
        if pool is None or not pool.session.active:
            max_age = self.params.max_age
            if max_age is None:
                max_age = getattr(session.handle.protocols.get("cutoff"), "max_age", None)
            pool = self.pool_class(self.ctx, self.params, max_age)
            self.ctx.services.set(key, pool)
            pool.start()
        self.join(pool, session)

    def join(self, pool: Any, session: Session) -> None:
        pool.add_consumer(session)


#: the run's link-level pool, shared by every reactive request
POOL: ServiceKey[LinkPool] = ServiceKey("routing.reactive-pool", LinkPool)
#: the run's pair-id counter of traced runs (qplane_entanglement.tracing's key: one numbering)
PAIR_IDS: ServiceKey[itertools.count] = ServiceKey("qplane.trace.pair-ids", itertools.count)
#: pairs heralded and expired in the pool, and how often each path was used
STATS: ServiceKey[dict] = ServiceKey("routing.reactive-stats", dict)
