"""Virtual links: stocks of end-to-end pairs kept between chosen node pairs, used by routing as
links of the logical topology (hybrid routing; Schoute et al., arXiv:1610.05238; Chakraborty et
al., PRA 99, 022317 (2019)).

A router that declares ``virtual_links`` (the ``hybrid`` router of the routing plugin; see
:class:`qplane.requests.Router`), or designates them from the demand the engine counts
(``designate(demand)``: requests per node pair so far), names node pairs ``(a, b)``, each with ``stock`` (pairs kept at
most), ``max_age`` (seconds a stocked pair may wait before it is discarded; None: no limit) and
``refill`` (``from_start``: the stock is filled from the start of the run, when a request of the
scenario uses the router; ``on_first_use``: from the first request that arrives with it).

* **The stock.** A *keeper* per virtual link is an ordinary pair request ``a -> b``, internal
  (negative id, listed nowhere, no request hook), routed over the physical view by the router
  and served with the protocols of the request that started it (scheduler, swapping,
  purification, cutoff): the usual generation, swapping and purification. Its pairs are kept
  in the stock rather than delivered; each holds its memories at ``a`` and ``b`` (owned by the
  keeper's session, so the inventory's invariants cover them) until it is consumed, expires
  (``max_age``) or is pushed out by a fresher pair when the stock is full. While the keeper's
  memories at the ends are all holding stocked pairs, it cannot make more: the stock is bounded
  by ``stock`` and by the memories the scheduler gave the keeper.
* **The logical view.** A hybrid request is routed on the controller's view plus one edge per
  live virtual link, with ``virtual`` (the :class:`Stock`: ``available``, ``expected_wait()``,
  the pair estimate), ``length_km`` (the physical path's) and ``link`` (a model whose
  ``pair_state`` is the stocked pairs' Werner estimate). When the chosen path uses no virtual
  edge, the request is an ordinary one.
* **Serving over virtual links.** The path is cut at its virtual edges: each run of physical
  edges is a *leg* (an internal pair request between its ends, routed and served like the
  keeper), each virtual edge takes a stocked pair. When every leg holds a pair and every stock
  on the path has one, the nodes at the junctions perform Bell-state measurements, one event
  stands for the outcomes' 2 x (junctions) classical messages to the two ends (counted; the
  delay is the slowest junction's to either end), the destination applies the Pauli frame, and
  the pair is delivered: its fidelity is the backend's, its estimate the Werner composition of
  the pieces' estimates with each junction's gate error. A request's pair latency counts from
  the first attempt of the oldest leg pair in it (a stocked pair was made ahead of demand: its
  time in stock shows in ``age``); a request that is exactly a virtual link takes the stocked
  pair at once (latency 0).
* **Failures.** A leg that fails fails its request, naming the leg; a keeper that fails (no path
  left) takes its virtual link out of the logical view and fails the requests waiting on it.

Results: ``extra.virtual_links`` lists each virtual link with its physical path and counts
(pairs stocked, consumed, expired, pushed out) and the mean refill time (from the moment the
stock had room to the next stocked pair).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import networkx as nx

import qplane_physics as physics
from qplane.requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus

from .stocks import Held, Stock, VirtualLinkModel
from .trace import PAIR_IDS

if TYPE_CHECKING:
    from .sim import Simulation

#: an internal request asks for pairs until it is stopped
_UNENDING = 2**31 - 1


class Leg:
    """A physical segment of a request served over virtual links, and the pairs it holds."""

    __slots__ = ("composite", "handle", "held")

    def __init__(self, composite: "Composite", handle: RequestHandle):
        self.composite, self.handle = composite, handle
        self.held: deque[Held] = deque()

    def on_pair(self, handle: RequestHandle, pair: DeliveredPair) -> bool:  # the leg's application
        self.held.append(Held(pair, self.composite.service.trace))
        self.composite.service.compose(self.composite)
        return True  # kept: the composition frees its memories


class Composite:
    """A request served over virtual links: its pieces in path order (``(Leg, None)`` or
    ``(Stock, reversed)``)."""

    def __init__(self, service: "VirtualLinks", parent: RequestHandle, path: list[str]):
        self.service, self.parent, self.path = service, parent, path
        self.pieces: list[tuple[Any, bool]] = []
        self.inflight = 0  # pairs swapped whose outcomes are still on their way

    def wants(self) -> bool:
        """More pairs are needed than those delivered and on their way."""
        pairs = self.parent.request.pairs
        return pairs is None or self.parent.delivered_count + self.inflight < pairs

    @property
    def legs(self) -> list[Leg]:
        return [p for p, _ in self.pieces if isinstance(p, Leg)]


class VirtualLinks:
    """The virtual links of one run (see the module)."""

    def __init__(self, sim: "Simulation"):
        self.sim = sim
        self.stocks: dict[frozenset[str], Stock] = {}
        self.composites: dict[int, Composite] = {}
        self._internal: dict[int, Any] = {}  # id(handle) -> its Stock or Leg
        self._view: tuple[Any, int, nx.Graph] | None = None
        self.logical_paths: dict[int, list[str]] = {}  # request id -> its path over virtual links
        self.demand: dict[tuple[str, str], int] = {}  # requests of hybrid routers per node pair
        self.rng = sim.clock.stream("virtual-links")  # Bell measurements that fail (bsm_success < 1)
        #: the run's protocol-event tracer when traced: keepers' and legs' pairs are traced by their
        #: swapping policies (under their negative ids); the engine traces the junctions' swaps
        #: (consuming those pairs' ids) and the request's delivery or discard
        self.trace: Any = sim.tracer

    # ---------------------------------------------------------------- stocks
    @staticmethod
    def declared(handle: RequestHandle) -> list[Any]:
        return list(getattr(handle.protocols.get("router"), "virtual_links", None) or ())

    @staticmethod
    def applies(handle: RequestHandle) -> bool:
        """The request's router works with virtual links (declares or designates them)."""
        router = handle.protocols.get("router")
        return hasattr(router, "virtual_links") or hasattr(router, "designate")

    def check(self) -> None:
        """Before the run: every virtual link joins nodes of the topology (a scenario error
        naming the field otherwise)."""
        nodes = self.sim.network.nodes
        for i, handle in enumerate(self.sim.handles):
            own = handle.request.protocols is not None and "routing" in (handle.request.protocols or {})
            for j, spec in enumerate(self.declared(handle)):
                for end in (spec.a, spec.b):
                    if end not in nodes:
                        field = f"{f'requests.{i}.' if own else ''}protocols.routing.virtual_links.{j}"
                        raise self.sim.assembler.error(
                            f"virtual link {spec.a}-{spec.b}: node {end!r} is not in the topology", field)

    def start_from_scenario(self) -> None:
        """At the start of the run: the ``from_start`` virtual links of the scenario's requests."""
        for handle in self.sim.handles:
            specs = [s for s in self.declared(handle) if s.refill == "from_start"]
            if specs:
                self._ensure(handle, specs)

    def _ensure(self, handle: RequestHandle, specs: list[Any]) -> None:
        life = self.sim.lifecycle
        for spec in specs:
            key = frozenset((spec.a, spec.b))
            if key in self.stocks:
                continue
            stock = self.stocks[key] = Stock(self, spec.a, spec.b, spec)
            req = EntanglementRequest(src=spec.a, dst=spec.b, pairs=_UNENDING, start=self.sim.now,
                                      priority=handle.request.priority)
            keeper = RequestHandle(id=-(10**9 + len(self.stocks)), request=req, keep_delivered=0)
            keeper.protocols = {**handle.protocols, "application": stock}
            keeper.protocol_names = dict(handle.protocol_names)
            stock.keeper = keeper
            self._internal[id(keeper)] = stock
            self._view = None
            if not life.route(keeper, RequestStatus.NO_PATH, RequestStatus.NO_PATH, ""):
                continue  # finished: _keeper_failed marked the stock
            stock.path = list(keeper.path)
            stock.estimate = self.sim.best_case_fidelity(keeper.path, keeper.protocols["purification"])
            stock._room_since = self.sim.now
            life.internal.append(keeper)
            keeper.status = RequestStatus.WAITING
            keeper.waiting_since = self.sim.now
            life.scheduler.submit(keeper)

    def free_pair(self, entry: Held) -> None:
        """Let a kept pair go: free each of its memories that still holds its qubit (a memory its
        session lost and reuses is not ours any more)."""
        for m, q in ((entry.pair.src_memory, entry.qa), (entry.pair.dst_memory, entry.qb)):
            if q is not None and m.qubit is q:
                self.sim.inventory.free(m)

    def stocked(self, stock: Stock) -> None:
        for composite in list(stock.waiting):
            if not stock.held:
                return
            self.compose(composite)

    # ---------------------------------------------------------------- the logical view
    def logical_view(self, view: nx.Graph) -> nx.Graph:
        """``view`` with an edge per live virtual link (cached per view and set of stocks)."""
        live = [s for s in self.stocks.values() if s.failed is None and s.path and s.a in view and s.b in view]
        if self._view is not None and self._view[0] is view and self._view[1] == len(live):
            return self._view[2]
        g = view.copy()
        for s in live:
            length = sum(self.sim.network.graph[u][v]["length_km"] for u, v in zip(s.path, s.path[1:]))
            model = VirtualLinkModel(length, physics.werner(s.estimate))
            g.add_edge(s.a, s.b, virtual=s, length_km=length, link=model, expected_pair_time=s.expected_wait())
        self._view = (view, len(live), g)
        return g

    def route(self, handle: RequestHandle) -> bool:
        """Route a request of a router with virtual links. True when this module took it (served
        over virtual links, or ended); False: an ordinary request (no virtual edge on its path)."""
        life, req = self.sim.lifecycle, handle.request
        self._ensure(handle, self.declared(handle))
        designate = getattr(handle.protocols["router"], "designate", None)
        if designate is not None:  # the router may add virtual links from the demand seen so far
            ends = (req.src, req.dst) if req.src <= req.dst else (req.dst, req.src)
            self.demand[ends] = self.demand.get(ends, 0) + 1
            self._ensure(handle, [s for s in designate(dict(self.demand))
                                  if s.a in self.sim.network.nodes and s.b in self.sim.network.nodes])
        view = self.logical_view(life.annotated_view())
        path = handle.protocols["router"].route(view, req.src, req.dst, req)
        if not path or not any(view[u][v].get("virtual") for u, v in zip(path, path[1:])):
            return False
        composite = Composite(self, handle, list(path))
        start = 0
        for i, (u, v) in enumerate(zip(path, path[1:])):
            stock = view[u][v].get("virtual")
            if stock is None:
                continue
            if i > start:
                composite.pieces.append((self._leg(composite, path[start], path[i], len(composite.pieces)), False))
            composite.pieces.append((stock, stock.a != u))
            start = i + 1
        if start < len(path) - 1:
            composite.pieces.append((self._leg(composite, path[start], path[-1], len(composite.pieces)), False))
        for leg in composite.legs:
            if not life.route(leg.handle, RequestStatus.NO_PATH, RequestStatus.NO_PATH, ""):
                return self._leg_failed(leg) or True
        purification = handle.protocols["purification"]
        estimate = self._estimate(composite, [self.sim.best_case_fidelity(p.handle.path, purification)
                                              if isinstance(p, Leg) else p.estimate for p, _ in composite.pieces])
        if estimate < req.min_fidelity:
            life.finish(handle, RequestStatus.FIDELITY_UNREACHABLE,
                        f"best-case fidelity {estimate:.4f} over virtual link(s) is below min_fidelity {req.min_fidelity}")
            return True
        self.composites[handle.id] = composite
        self.logical_paths[handle.id] = composite.path
        handle.status = RequestStatus.WAITING
        handle.waiting_since = self.sim.now
        for piece, _ in composite.pieces:
            if isinstance(piece, Stock):
                piece.waiting.append(composite)
        for leg in composite.legs:
            life.internal.append(leg.handle)
            leg.handle.status = RequestStatus.WAITING
            leg.handle.waiting_since = self.sim.now
            life.scheduler.submit(leg.handle)
        self.compose(composite)  # a request that is exactly virtual links takes its pairs now
        return True

    def _leg(self, composite: Composite, src: str, dst: str, i: int) -> Leg:
        parent = composite.parent
        req = EntanglementRequest(src=src, dst=dst, pairs=_UNENDING, start=self.sim.now,
                                  priority=parent.request.priority)
        handle = RequestHandle(id=-(parent.id * 1000 + 500 + i + 1), request=req, keep_delivered=0)
        leg = Leg(composite, handle)
        handle.protocols = {**parent.protocols, "application": leg}
        handle.protocol_names = dict(parent.protocol_names)
        self._internal[id(handle)] = leg
        return leg

    def _estimate(self, composite: Composite, fidelities: list[float]) -> float:
        """Werner composition of the pieces with each junction's gate error."""
        v: list[float] | None = None
        nodes = self.sim.network.nodes
        for (piece, reverse), f in zip(composite.pieces, fidelities):
            w = physics.to_pauli_order(physics.werner(f))
            if v is None:
                v = w
                continue
            v = physics.swap_pauli_order(v, w)
            junction = self._ends(piece, reverse)[0]
            if nodes[junction].device.operations.gate_error:
                v = physics.two_qubit_depolarize(v, nodes[junction].device.operations.gate_error)
        return v[0] if v is not None else 0.0

    @staticmethod
    def _ends(piece: Any, reverse: bool) -> tuple[str, str]:
        if isinstance(piece, Leg):
            return piece.handle.request.src, piece.handle.request.dst
        return (piece.b, piece.a) if reverse else (piece.a, piece.b)

    # ---------------------------------------------------------------- composing
    def compose(self, composite: Composite) -> None:
        """Every piece holds a pair: swap them at the junctions (as often as they can)."""
        parent = composite.parent
        if parent.done or self.composites.get(parent.id) is not composite:
            return
        while composite.wants() and all(p.held for p, _ in composite.pieces):
            stale = next((p for p, _ in composite.pieces if not p.held[0].valid), None)
            if stale is not None:  # its session lost it (preempted, a node failed): drop it, look again
                stale.held.popleft()
                if isinstance(stale, Stock):
                    stale._room(self.sim.now)
                parent.losses["lost_while_kept"] = parent.losses.get("lost_while_kept", 0) + 1
                continue
            pairs, ids = [], []
            for piece, reverse in composite.pieces:
                entry = piece.take() if isinstance(piece, Stock) else piece.held.popleft()
                pair = entry.pair
                left, right = (pair.dst_memory, pair.src_memory) if reverse else (pair.src_memory, pair.dst_memory)
                pairs.append((pair, left, right))
                ids.append(entry.id)
            self._swap(composite, pairs, ids)

    def _swap(self, composite: Composite, pairs: list[tuple[DeliveredPair, Any, Any]], ids: list[Any]) -> None:
        sim, now = self.sim, self.sim.now
        net = sim.network
        frame, delay, failed = 0, 0.0, False
        src, dst = pairs[0][1], pairs[-1][2]
        made = ids[0]
        for (_, _, right), (_, left, far), other in zip(pairs, pairs[1:], ids[1:]):
            device = net.nodes[right.node].device
            outcome = device.bell_measurement(right, left, now)
            frame ^= outcome
            ok = not (device.operations.bsm_success < 1.0 and self.rng.random() >= device.operations.bsm_success)
            failed |= not ok
            if self.trace is not None:
                consumed, made = [made, other], next(sim.services.get(PAIR_IDS))
                self.trace("swap", request=composite.parent.id, pair=made, node=right.node, consumed=consumed,
                           nodes=[src.node, far.node], outcome=outcome, ok=ok)
            for m in (right, left):
                sim.inventory.free(m)
            if not sim.scenario.classical.instant:
                delay = max(delay, net.classical_delay(right.node, src.node), net.classical_delay(right.node, dst.node))
        net.count_messages(2 * (len(pairs) - 1))
        estimate = self._estimate(composite, [p.fidelity_estimated for p, _, _ in pairs])
        legs = [p for (piece, _), (p, _, _) in zip(composite.pieces, pairs) if isinstance(piece, Leg)]
        first = min((p.time - p.latency for p in legs), default=None)
        born = min(p.time - p.age for p, _, _ in pairs)
        composite.inflight += 1
        ends = Held(DeliveredPair(now, 0.0, estimate, 0.0, 0.0, src, dst))  # the swapped pair's qubits
        ends.id = made
        sim.clock.call_at(delay, self._arrived, composite, ends, frame, estimate, first, born, failed)

    def _arrived(self, composite: Composite, ends: Held, frame: int, estimate: float,
                 first: float | None, born: float, failed: bool) -> None:
        sim, parent, now = self.sim, composite.parent, self.sim.now
        src, dst = ends.pair.src_memory, ends.pair.dst_memory
        composite.inflight -= 1
        if parent.done or not ends.valid or failed:
            if self.trace is not None:
                self.trace("discard", request=parent.id, pair=ends.id, nodes=[src.node, dst.node],
                           reason="swap_failed" if failed else ("request_ended" if parent.done else "node_failed"))
            self.free_pair(ends)
            if failed and not parent.done:
                parent.losses["swap_failed"] = parent.losses.get("swap_failed", 0) + 1
                self.compose(composite)  # the pieces may hold more pairs already
            return
        sim.network.nodes[dst.node].device.apply_pauli(dst, frame, now)
        fidelity = sim.backend.fidelity(src.qubit, dst.qubit, now)
        if estimate < parent.request.min_fidelity:
            parent.discarded += 1
            if self.trace is not None:
                self.trace("discard", request=parent.id, pair=ends.id, nodes=[src.node, dst.node],
                           reason="below_min_fidelity", fidelity=fidelity, fidelity_estimated=estimate)
            self.free_pair(ends)
            self.compose(composite)
            return
        pair = DeliveredPair(now, fidelity, estimate, now - first if first is not None else 0.0, now - born, src, dst)
        if self.trace is not None:
            self.trace("delivery", request=parent.id, pair=ends.id, nodes=[src.node, dst.node], fidelity=fidelity,
                       fidelity_estimated=estimate, latency=pair.latency)
        sim.lifecycle.deliver_to(parent, pair)

    # ---------------------------------------------------------------- endings
    def finished(self, handle: RequestHandle) -> bool:
        """A request ended. True for a keeper or a leg (the engine's own: no hook, no count); a
        request served over virtual links stops its legs and leaves the stocks' queues."""
        internal = self._internal.get(id(handle))
        if isinstance(internal, Stock):
            self._keeper_failed(internal)
            return True
        if isinstance(internal, Leg):
            if not internal.composite.parent.done:
                self._leg_failed(internal)
            return True
        composite = self.composites.pop(handle.id, None)
        if composite is not None:
            for piece, _ in composite.pieces:
                if isinstance(piece, Stock):
                    if composite in piece.waiting:
                        piece.waiting.remove(composite)
                    continue
                for entry in piece.held:
                    self.free_pair(entry)
                piece.held.clear()
                self.sim.lifecycle.finish(piece.handle, RequestStatus.CANCELLED, "its request ended")
                for cause, n in piece.handle.losses.items():
                    handle.losses[cause] = handle.losses.get(cause, 0) + n
                handle.reroutes += piece.handle.reroutes
        return False

    def _leg_failed(self, leg: Leg) -> None:
        status = leg.handle.status if leg.handle.status.final else RequestStatus.NO_PATH
        req = leg.handle.request
        self.sim.lifecycle.finish(leg.composite.parent, status,
                                  f"pairs {req.src}-{req.dst}: {leg.handle.reason or status.value}")

    def _keeper_failed(self, stock: Stock) -> None:
        keeper = stock.keeper
        stock.failed = stock.failed or (keeper.reason if keeper is not None else "stopped")
        self._view = None
        for entry in stock.held:
            self.free_pair(entry)
        stock.held.clear()
        for composite in list(stock.waiting):
            self.sim.lifecycle.finish(composite.parent, RequestStatus.FAILED,
                                      f"virtual link {stock.a}-{stock.b}: {stock.failed}")

    def stop(self) -> None:
        """The run ended: the keepers stop and let their stocks' memories go."""
        for stock in self.stocks.values():
            if stock.keeper is not None and not stock.keeper.done:
                stock.failed = "the run ended"
                self.sim.lifecycle.finish(stock.keeper, RequestStatus.CANCELLED, "the run ended")

    def paths(self, handle: RequestHandle) -> list[list[str]] | None:
        """The path over virtual links of a request served that way (for the results), or None."""
        path = self.logical_paths.get(handle.id)
        return [path] if path is not None else None

    def summary(self) -> list[dict[str, Any]]:
        return [s.summary() for s in self.stocks.values()]
