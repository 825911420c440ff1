"""Path routers.

Every router works on the controller's view (:meth:`qplane.network.Network.view`): only up
nodes and links, with ``length_km``, ``link`` (the link's hardware model) and
``expected_pair_time`` on every edge; when the runner routes a request, nodes also carry
``memory`` (the memory model) and ``operations`` (gate and measurement errors), and the graph
``speed_km_per_s`` (classical signals). Routers never modify the view. Ties are broken
deterministically (networkx visits neighbours in insertion order), so the same scenario gives
the same paths.

* ``shortest-path`` — fewest hops;
* ``min-cost`` — least total expected link-generation time;
* ``max-fidelity`` — the best fidelity the network expects to deliver (:func:`path_fidelity`);
* ``k-shortest`` — up to ``k`` link-disjoint paths (multipath: the request's pairs are spread
  over them).
"""

from __future__ import annotations

import importlib.util
import math
from itertools import islice
from typing import Any, Callable, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field
from qplane.requests import EntanglementRequest

import qplane_physics as physics


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _no_path(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return None


class ShortestPathRouter:
    """Fewest hops (each swap costs fidelity and time, so hops are the first-order cost)."""

    def __init__(self, params: NoParams):
        self.params = params

    def route(self, graph: nx.Graph, src: str, dst: str,
              request: EntanglementRequest | None = None) -> list[str] | None:
        return _no_path(lambda: nx.shortest_path(graph, src, dst))


#: views with at least this many nodes are searched with scipy's compiled Dijkstra when scipy
#: is installed (``pip install qplane-routing[large]``; the density backend brings it too)
LARGE_VIEW = 2000


#: scipy is installed (found without importing it: loading the plugin stays light)
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None


class CompiledView:
    """One view's edge weights as a sparse matrix, for scipy's Dijkstra (C): a least-cost path
    in a large view in milliseconds, where networkx's takes a good part of a second at ten
    thousand nodes. The path has the least cost networkx's would have; between paths of exactly
    equal cost the two may choose differently, so smaller views keep networkx (their results
    stay what they were), and so may a large view's results differ between an install with
    scipy and one without (only where two paths tie exactly)."""

    def __init__(self, graph: nx.Graph, weight: str):
        import numpy as np
        from scipy.sparse import csr_matrix

        self.graph = graph  # kept: the cache is per view object
        self.nodes = list(graph)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        rows, cols, data = [], [], []
        for u, nbrs in graph.adj.items():
            iu = self.index[u]
            for v, e in nbrs.items():
                rows.append(iu)
                cols.append(self.index[v])
                data.append(e[weight])
        n = len(self.nodes)
        self.matrix = csr_matrix((np.asarray(data, dtype=float), (rows, cols)), shape=(n, n))

    def path(self, src: str, dst: str) -> list[str] | None:
        from scipy.sparse.csgraph import dijkstra

        if src not in self.index or dst not in self.index:
            return None
        s, t = self.index[src], self.index[dst]
        dist, pred = dijkstra(self.matrix, directed=True, indices=s, return_predecessors=True)
        if not dist[t] < float("inf"):
            return None
        out = [t]
        while out[-1] != s:
            out.append(int(pred[out[-1]]))
        return [self.nodes[i] for i in reversed(out)]


class MinCostRouter:
    """Least total expected link-generation time: edge cost ``(1/p - 1) cycle + herald delay``
    seconds, the mean time for one memory pair to herald a pair (geometric attempts). Views of
    :data:`LARGE_VIEW` nodes or more are searched with :class:`CompiledView` when scipy is there."""

    def __init__(self, params: NoParams):
        self.params = params
        self._compiled: CompiledView | None = None

    def route(self, graph: nx.Graph, src: str, dst: str,
              request: EntanglementRequest | None = None) -> list[str] | None:
        if HAVE_SCIPY and graph.number_of_nodes() >= LARGE_VIEW:
            if self._compiled is None or self._compiled.graph is not graph:
                self._compiled = CompiledView(graph, "expected_pair_time")
            return self._compiled.path(src, dst)
        return _no_path(lambda: nx.dijkstra_path(graph, src, dst, weight="expected_pair_time"))


# ------------------------------------------------------------------------------ max-fidelity


def _store(v: list[float], memory: Any, dt: float) -> list[float]:
    """Storage noise of ``memory`` for ``dt`` seconds on one qubit of the pair ``v`` (Pauli order)."""
    if memory is None or dt <= 0.0:
        return v
    return physics.pauli_channel(v, memory.pauli_probs(dt))


def link_state(graph: nx.Graph, u: str, v: str) -> list[float]:
    """The pair a link hands over (Pauli order): as heralded, both qubits stored for the herald
    delay (the same estimate admission uses)."""
    model = graph[u][v]["link"]
    state = physics.to_pauli_order(model.pair_state)
    for node in (u, v):
        state = _store(state, graph.nodes[node].get("memory"), model.herald_delay)
    return state


def delivery_wait(graph: nx.Graph, path: list[str]) -> float:
    """The least time the end qubits wait for swap outcomes: the last swap's outcome must reach
    both ends; at best that swap is the one whose farther end is nearest."""
    if len(path) < 3:
        return 0.0
    speed = graph.graph.get("speed_km_per_s", physics.SPEED_OF_LIGHT_FIBER_KM_S)
    d = [0.0]
    for u, v in zip(path, path[1:]):
        d.append(d[-1] + graph[u][v]["length_km"] / speed)
    return min(max(d[i], d[-1] - d[i]) for i in range(1, len(path) - 1))


def path_fidelity(graph: nx.Graph, path: list[str]) -> float:
    """The fidelity the network expects a pair over ``path`` to be delivered with: link pairs as
    heralded (with the herald-wait storage noise), swapped with each repeater's gate error, the
    end qubits stored while the last swap's outcome travels to them (:func:`delivery_wait`).
    No other waiting: a best case, exact for the fidelity backend when links herald together."""
    v: list[float] | None = None
    for u, w in zip(path, path[1:]):
        lv = link_state(graph, u, w)
        if v is None:
            v = lv
            continue
        v = physics.swap_pauli_order(v, lv)
        ops = graph.nodes[u].get("operations")
        if ops is not None and ops.gate_error:
            v = physics.two_qubit_depolarize(v, ops.gate_error)
    if v is None:
        return 0.0
    wait = delivery_wait(graph, path)
    for end in (path[0], path[-1]):
        v = _store(v, graph.nodes[end].get("memory"), wait)
    return v[0]


def fidelity_cost(graph: nx.Graph, src: str, dst: str) -> Callable[[str, str, dict], float]:
    """An additive edge cost whose sum over a path is ``-ln`` of :func:`path_fidelity`'s Werner
    parameter — exact for Werner links, depolarizing memories and gate errors (Werner
    parameters multiply under swapping: ``w = w1 w2``; depolarizing scales them), a ranking
    proxy otherwise. Node costs (gate errors) are split over the node's two path edges."""
    speed = graph.graph.get("speed_km_per_s", physics.SPEED_OF_LIGHT_FIBER_KM_S)
    ends = [graph.nodes[n].get("memory") for n in (src, dst)]
    huge = 1e6  # a link that destroys entanglement is usable (existence) but never preferred

    def gate(node: str) -> float:
        ops = graph.nodes[node].get("operations")
        g = ops.gate_error if ops is not None else 0.0
        return -math.log(1.0 - g) if g < 1.0 else huge

    memo: dict[frozenset[str], float] = {}

    def cost(u: str, v: str, data: dict) -> float:
        key = frozenset((u, v))
        c = memo.get(key)
        if c is not None:
            return c
        w = physics.werner_parameter(link_state(graph, u, v)[0])
        c = -math.log(w) if w > 0.0 else huge
        c += 0.5 * (gate(u) + gate(v))
        wait = data["length_km"] / (2.0 * speed)  # about half the path's delay, edge by edge
        for mem in ends:
            if mem is not None:
                f = physics.werner_parameter(mem.pauli_probs(wait)[0])
                c += -math.log(f) if f > 0.0 else huge
        memo[key] = c
        return c

    return cost


class MaxFidelityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    candidates: int = Field(
        4, ge=1, le=64,
        description="paths ranked by the additive estimate that are then evaluated exactly; the best wins")


class MaxFidelityRouter:
    """The path with the best expected delivered fidelity (:func:`path_fidelity`): link
    fidelities, storage noise during heralding and while swap outcomes travel, swap gate errors.
    The ``candidates`` best paths under the additive Werner-parameter cost are evaluated exactly
    (for Werner links and depolarizing memories the first is already the best)."""

    def __init__(self, params: MaxFidelityParams):
        self.params = params

    def route(self, graph: nx.Graph, src: str, dst: str,
              request: EntanglementRequest | None = None) -> list[str] | None:
        if src not in graph or dst not in graph:
            return None
        cost = fidelity_cost(graph, src, dst)
        if self.params.candidates == 1:
            return _no_path(lambda: nx.dijkstra_path(graph, src, dst, weight=cost))
        paths = _no_path(lambda: list(islice(nx.shortest_simple_paths(graph, src, dst, weight=cost),
                                             self.params.candidates)))
        if not paths:
            return None
        return max(paths, key=lambda p: path_fidelity(graph, p))  # first of equals: least cost


# ------------------------------------------------------------------------------ k-shortest


class KShortestParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    k: int = Field(2, ge=1, description="at most this many link-disjoint paths")
    weight: Literal["hops", "length_km", "expected_pair_time"] = Field(
        "hops", description="what 'shortest' means: hops, fibre length or expected generation time")
    max_stretch: float | None = Field(
        None, ge=1.0, allow_inf_nan=False,
        description="drop a path that costs more than this times the first one (null: keep all)")


class KShortestRouter:
    """Multipath: up to ``k`` link-disjoint paths, shortest first. The first is the shortest
    path; each next one is the shortest path that shares no link with those already chosen
    (successive shortest paths — greedy, so it may find fewer than the most disjoint paths a
    max-flow would; it never returns paths that share a link). Memories are per link, so
    link-disjoint paths share no memories and serve the request in parallel."""

    def __init__(self, params: KShortestParams):
        self.params = params

    def routes(self, graph: nx.Graph, src: str, dst: str,
               request: EntanglementRequest | None = None) -> list[list[str]]:
        if src not in graph or dst not in graph:
            return []
        attr = self.params.weight
        used: set[frozenset[str]] = set()

        def weight(u: str, v: str, data: dict) -> float | None:
            if frozenset((u, v)) in used:
                return None  # hidden: already on a chosen path
            return 1.0 if attr == "hops" else data[attr]

        paths: list[list[str]] = []
        first_cost = None
        while len(paths) < self.params.k:
            try:
                cost, path = nx.single_source_dijkstra(graph, src, dst, weight=weight)
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                break
            if first_cost is None:
                first_cost = cost
            elif self.params.max_stretch is not None and cost > self.params.max_stretch * first_cost * (1 + 1e-12):
                break
            paths.append(path)
            used.update(frozenset(e) for e in zip(path, path[1:]))
        return paths

    def route(self, graph: nx.Graph, src: str, dst: str,
              request: EntanglementRequest | None = None) -> list[str] | None:
        """The first of :meth:`routes` (for callers that want one path, e.g. re-routing)."""
        paths = self.routes(graph, src, dst, request)
        return paths[0] if paths else None
