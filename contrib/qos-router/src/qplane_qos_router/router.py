"""The ``fidelity-constrained`` router: the fastest path whose pairs can reach ``min_fidelity``.

Works on the controller's view a router is handed (:meth:`qplane.requests.Router.route`):
edges carry ``link`` (the link model: ``pair_state``, ``herald_delay``) and
``expected_pair_time``; nodes carry ``memory`` (storage noise) and ``operations`` (gate error)
when the runner routes a request — without them the estimate assumes perfect memories and
gates, and each link costs one unit of time. It never modifies the view.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field
from qplane.requests import EntanglementRequest

import qplane_physics as physics

#: -ln w of a link whose pairs are no better than noise (F <= 1/4): usable, never good enough
USELESS = 1.0e6


class FidelityConstrainedParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_hops: int | None = Field(None, ge=1, description="longest path allowed, in links (null: any)")
    max_labels: int = Field(64, ge=1, le=100_000,
                            description="Pareto labels kept per node; the search is exact below this")


def link_werner(graph: nx.Graph, a: str, b: str) -> float:
    """Werner parameter ``w = (4F - 1)/3`` of a pair heralded on link a-b, both memories'
    storage noise during the herald delay applied (what the controller can know)."""
    model = graph.edges[a, b].get("link")
    if model is None:
        return 1.0
    v = physics.to_pauli_order(model.pair_state)
    for node in (a, b):
        memory = graph.nodes[node].get("memory")
        if memory is not None:
            v = physics.pauli_channel(v, memory.pauli_probs(model.herald_delay))
    return physics.werner_parameter(v[0])


def swap_factor(graph: nx.Graph, node: str) -> float:
    """What a swap at ``node`` multiplies ``w`` by: ``1 - gate_error`` (two-qubit depolarizing
    before the Bell measurement, :func:`qplane_physics.two_qubit_depolarize`)."""
    ops = graph.nodes[node].get("operations")
    return 1.0 - float(getattr(ops, "gate_error", 0.0) or 0.0)


def _loss(w: float) -> float:
    return -math.log(w) if w > 0.0 else USELESS


def path_werner(graph: nx.Graph, path: list[str]) -> float:
    """The Werner parameter of a pair over ``path``: the product over its links and repeaters
    (exact for Werner links, since swapping multiplies Werner parameters); ``F = (1 + 3w)/4``."""
    w = 1.0
    for a, b in zip(path, path[1:]):
        w *= link_werner(graph, a, b)
    for node in path[1:-1]:
        w *= swap_factor(graph, node)
    return w


def _time(graph: nx.Graph, a: str, b: str) -> float:
    t = graph.edges[a, b].get("expected_pair_time", 1.0)
    return t if math.isfinite(t) else USELESS


class FidelityConstrainedRouter:
    """The fastest path (least total expected link-generation time) whose estimated fidelity
    reaches the request's ``min_fidelity``; the highest-fidelity path when none does."""

    def __init__(self, params: FidelityConstrainedParams):
        self.params = params

    def route(self, graph: nx.Graph, src: str, dst: str, request: EntanglementRequest | None = None) -> list[str] | None:
        if src not in graph or dst not in graph or not nx.has_path(graph, src, dst):
            return None
        target = float(getattr(request, "min_fidelity", 0.0) or 0.0)
        w_target = physics.werner_parameter(target)
        budget = -math.log(w_target) + 1e-12 if w_target > 0.0 else math.inf
        path = self._search(graph, src, dst, budget, fastest=True)
        # nothing good enough: the most faithful path (the runner then says what it reaches)
        return path if path is not None else self._search(graph, src, dst, math.inf, fastest=False)

    def _search(self, graph: nx.Graph, src: str, dst: str, budget: float, fastest: bool) -> list[str] | None:
        """Bi-criteria label setting over simple paths of at most ``max_hops`` links. A label
        is ``(time, loss, hops)`` with ``loss = -ln w``; labels are expanded in order of time
        (``fastest``) or of loss, dropped when their loss exceeds ``budget`` or another label
        at their node is no worse on every count. Both criteria only grow along a path, so the
        first label popped at ``dst`` is optimal."""
        hop_limited = self.params.max_hops is not None  # only then do fewer hops make a label better
        max_hops = self.params.max_hops or graph.number_of_nodes()
        order = itertools.count()  # deterministic tie-break: insertion order
        heap = [(0.0, 0.0, 0, next(order), src, (src,))]  # (primary, secondary, hops, ...)
        labels: dict[str, list[tuple[float, float, int]]] = {}
        while heap:
            first, second, hops, _, node, path = heapq.heappop(heap)
            if node == dst:
                return list(path)
            kept = labels.setdefault(node, [])
            if len(kept) >= self.params.max_labels or any(
                a <= first and b <= second and (h <= hops or not hop_limited) for a, b, h in kept
            ):
                continue
            kept.append((first, second, hops))
            if hops >= max_hops:
                continue
            time, loss = (first, second) if fastest else (second, first)
            # a repeater's swap is charged when the path leaves it; the source swaps nothing
            swap = _loss(swap_factor(graph, node)) if node != src else 0.0
            for nbr in graph.adj[node]:
                if nbr in path:
                    continue
                new_loss = loss + swap + _loss(link_werner(graph, node, nbr))
                if new_loss > budget:
                    continue
                new_time = time + _time(graph, node, nbr)
                key = (new_time, new_loss) if fastest else (new_loss, new_time)
                heapq.heappush(heap, (*key, hops + 1, next(order), nbr, path + (nbr,)))
        return None
