"""The reactive pool's path search (a mixin of :class:`qplane_routing.reactive.LinkPool`):
the cost of an entanglement-graph edge (``-ln`` of its freshest pair's Werner parameter, with
storage decay), the bounded Dijkstra search that finds a request's best path over the pairs
available now, and the prediction of the delivered pair's estimate over it. See
:mod:`qplane_routing.reactive` for the model."""

from __future__ import annotations

import heapq
import math
from typing import Any

import networkx as nx

import qplane_physics as physics

_HUGE = 1e6


def _age(est: list[float], noise: Any, dt: float) -> list[float]:
    if dt <= 0.0 or noise is None:
        return est
    t = getattr(noise, "depolarizing_time", None)
    if t is not None:
        return physics.depolarize(est, physics.depolarizing_lambda(dt, t))
    return physics.pauli_channel(est, noise.pauli_probs(dt))


def _decay_rate(noise: Any) -> float | None:
    """How fast ``-ln`` of a pair's Werner parameter grows per second of storage of one qubit in
    ``noise``: ``1/T`` for a depolarizing memory (``w -> w exp(-dt/T)``), 0 for a perfect one,
    None when it is not that simple (then the state is aged exactly)."""
    if noise is None:
        return 0.0
    t = getattr(noise, "depolarizing_time", None)
    if t is not None:
        return 1.0 / t
    if noise.pauli_probs(1.0)[0] == 1.0:  # no storage noise at all
        return 0.0
    return None


class PathSearch:
    """The path-search half of the link pool (``self`` is a :class:`~qplane_routing.reactive.LinkPool`)."""

    def _edge_cost(self, now: float):
        """The additive cost of using a link's freshest pair now: ``-ln`` of its Werner
        parameter (exact aging for depolarizing memories), plus half of each end's gate error."""
        link_cost, gate = self.link_cost, self.gate_cost

        def cost(u: str, v: str, data: dict) -> float:
            pair = data["pairs"][-1]
            c0, rate = link_cost[pair.index]
            if rate is None:
                w = physics.werner_parameter(self._state_now(pair, now)[0])
                c0 = -math.log(w) if w > 0.0 else _HUGE
            else:
                c0 += rate * (now - pair.born)
            return c0 + 0.5 * (gate[u] + gate[v])

        return cost

    def _lower(self, c: Any, a: str, b: str, now: float) -> bool:
        """Link ``a``-``b`` has a fresh pair: lower ``c``'s bounds through it (Dijkstra-style
        propagation, within budget). True when its destination may now be within budget."""
        reach = c.reach
        heap: list[tuple[float, str]] = []
        cost = self._edge_cost(now)
        adj = self.graph._adj
        for x, y in ((a, b), (b, a)):
            dx = reach.get(x)
            if dx is not None:
                nd = dx + cost(x, y, adj[x][y])
                if nd <= c.budget and nd < reach.get(y, math.inf):
                    reach[y] = nd
                    heap.append((nd, y))
        if heap:
            heapq.heapify(heap)
            self._relax(heap, reach, {}, c.budget, now)
        return reach.get(c.dst, math.inf) <= c.budget

    def _relax(self, heap: list[tuple[float, str]], dist: dict[str, float], pred: dict[str, str],
               budget: float, now: float, target: str | None = None) -> None:
        """Dijkstra from the entries of ``heap`` over the available pairs, within ``budget``
        (no settling beyond it), costs of :meth:`_edge_cost` inlined for speed."""
        adj, link_cost, gate = self.graph._adj, self.link_cost, self.gate_cost
        state_now = self._state_now
        pop, push, inf, log = heapq.heappop, heapq.heappush, math.inf, math.log
        while heap:
            d, u = pop(heap)
            if d > dist.get(u, inf):
                continue
            if u == target:
                return
            gu = 0.5 * gate[u]
            for v, data in adj[u].items():
                pair = data["pairs"][-1]
                c0, rate = link_cost[pair.index]
                if rate is None:
                    w = physics.werner_parameter(state_now(pair, now)[0])
                    c0 = -log(w) if w > 0.0 else _HUGE
                else:
                    c0 += rate * (now - pair.born)
                nd = d + c0 + gu + 0.5 * gate[v]
                if nd <= budget and nd < dist.get(v, inf):
                    dist[v] = nd
                    pred[v] = u
                    push(heap, (nd, v))

    def _state_now(self, pair: Any, now: float) -> list[float]:
        link = self.links[pair.index]
        nodes = self.ctx.network.nodes
        est = physics.to_pauli_order(link.model.pair_state)
        dt = now - pair.born
        est = _age(est, nodes[link.a].device.memory_model, dt)
        return _age(est, nodes[link.b].device.memory_model, dt)

    def _best_path(self, c: Any) -> tuple[list[str], list[Any], float, float] | None:
        """The best path for ``c`` over the available pairs, if its pair would reach
        ``min_fidelity`` (Dijkstra on :meth:`_edge_cost`, then the exact estimate)."""
        now = self.env.now
        cost = self._edge_cost(now)
        if c.budget is not None:
            # Werner parameters multiply along a path and every other noise only lowers them:
            # no path costing more than the budget can reach min_fidelity
            reach: dict[str, float] = {c.src: 0.0}
            pred: dict[str, str] = {}
            self._relax([(0.0, c.src)], reach, pred, c.budget, now)
            if c.dst not in reach:
                c.reach, c.blocked_by_fidelity = reach, True
                return None
            path = [c.dst]
            while path[-1] != c.src:
                path.append(pred[path[-1]])
            path.reverse()
        else:
            try:
                _, path = nx.bidirectional_dijkstra(self.graph, c.src, c.dst, weight=cost)
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                c.blocked_by_fidelity = False
                return None
        pairs = [self.avail[frozenset(e)][-1] for e in zip(path, path[1:])]
        est, delay = self._predict(path, pairs, now)
        c.blocked_by_fidelity = est < c.min_fidelity
        if c.blocked_by_fidelity:  # fresher pairs may do; aging ones will not
            if c.budget is not None:
                c.reach = reach
                reach[c.dst] = math.inf  # look again once a path to it improves
            return None
        c.reach = None
        return path, pairs, est, delay

    def _predict(self, path: list[str], pairs: list[Any], now: float) -> tuple[float, float]:
        """The network's estimate of the delivered fidelity, and the delay until delivery."""
        nodes = self.ctx.network.nodes
        v: list[float] | None = None
        for h, pair in enumerate(pairs):
            lv = self._state_now(pair, now)
            if v is None:
                v = lv
                continue
            v = physics.swap_pauli_order(v, lv)
            ops = nodes[path[h]].device.operations
            if ops.gate_error:
                v = physics.two_qubit_depolarize(v, ops.gate_error)
            if ops.measurement_error:
                e = ops.measurement_error
                v = physics.pauli_channel(v, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
        d = self.ctx.network.path_delays(path)
        delay = max((nodes[path[h]].device.operations.bsm_duration + max(d[h], d[-1] - d[h])
                     for h in range(1, len(path) - 1)), default=0.0)
        v = _age(v, nodes[path[0]].device.memory_model, delay)
        v = _age(v, nodes[path[-1]].device.memory_model, delay)
        return v[0], delay
