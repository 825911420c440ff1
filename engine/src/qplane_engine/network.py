"""The network model of one run: nodes, links and classical channels (implements
:class:`qplane.context.NetworkView`).

Built once per run from the topology graph and the hardware section. Classical messages
travel over the fibre graph with delay = shortest fibre distance / signal speed; delays are
computed per source on first use and cached, so nothing here is quadratic in the number of
nodes unless every pair of nodes talks.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import networkx as nx

from qplane.network import Node, QuantumLink


class Network:
    """Nodes, links and classical channels of one run."""

    def __init__(self, graph: nx.Graph, speed_km_per_s: float, clock: Any = None):
        self.graph = graph
        self._clock = clock
        self.speed = speed_km_per_s
        self.nodes: dict[str, Node] = {}
        self.links: dict[frozenset[str], QuantumLink] = {}
        self._dist_cache: dict[str, dict[str, float]] = {}
        self.unroutable = set()
        self.messages_sent = 0

    def link(self, a: str, b: str) -> QuantumLink:
        return self.links[frozenset((a, b))]

    def _distances(self, a: str) -> dict[str, float]:
        """Shortest fibre distances from ``a`` (km), computed on first use and cached."""
        dist = self._dist_cache.get(a)
        if dist is None:
            dist = self._dist_cache[a] = nx.single_source_dijkstra_path_length(self.graph, a, weight="length_km")
        return dist

    def classical_delay(self, a: str, b: str) -> float:
        """Seconds for a classical message from ``a`` to ``b`` over the shortest fibre route."""
        if a == b:
            return 0.0
        return self._distances(a)[b] / self.speed

    def distance_km(self, a: str, b: str) -> float:
        """Length of the shortest fibre route from ``a`` to ``b`` (``inf`` when none joins them)."""
        return 0.0 if a == b else self._distances(a).get(b, math.inf)

    def path_delays(self, path: Sequence[str]) -> list[float]:
        """Delay along ``path`` from ``path[0]`` to each node of it (messages follow the path)."""
        out = [0.0]
        for u, v in zip(path, path[1:]):
            out.append(out[-1] + self.graph[u][v]["length_km"] / self.speed)
        return out

    def send(self, delay: float, handler: Callable[..., None], *payload: Any) -> None:
        """Send a classical message: ``handler(*payload)`` runs after ``delay`` seconds."""
        self.messages_sent += 1
        self._clock.call_at(delay, handler, *payload)

    def count_messages(self, n: int) -> None:
        """Count ``n`` classical messages whose effect a plugin applies in one event."""
        self.messages_sent += n

    #: the topology manager whose view routing uses (None: the ground truth)
    controller: Any = None
    #: links the operator took out of routing (:meth:`qplane.context.Operator.set_link_routable`)
    unroutable: set[frozenset[str]]
    #: (the manager's view, that view without the unroutable links)
    _routable_cache: tuple[Any, nx.Graph] | None = None

    def view(self) -> nx.Graph:
        """The controller's view of the topology (routing uses it): the topology manager's
        when one is set, otherwise the ground truth (up nodes and links) with link costs;
        without the links taken out of routing."""
        g = self.controller.view() if self.controller is not None else self.truth_view()
        if not self.unroutable:
            return g
        cached = self._routable_cache
        if cached is None or cached[0] is not g:
            h = g.copy()
            h.remove_edges_from([tuple(k) for k in self.unroutable if h.has_edge(*k)])
            cached = self._routable_cache = (g, h)
        return cached[1]

    def view_changed(self) -> None:
        """The set of unroutable links changed."""
        self._routable_cache = None

    def fibre_changed(self) -> None:
        """The fibre graph gained an edge: cached classical delays are stale."""
        self._dist_cache.clear()

    def topology_changed(self) -> None:
        """A node or link changed state or model: the cached ground-truth view is stale."""
        self._truth_cache = None

    def truth_view(self) -> nx.Graph:
        """The ground truth: up nodes and up links, with link costs. Built once per topology
        state and shared: callers must not modify it."""
        cached = getattr(self, "_truth_cache", None)
        if cached is not None:
            return cached
        self._truth_cache = g = self._build_truth_view()
        return g

    def _build_truth_view(self) -> nx.Graph:
        g = nx.Graph()
        for name, node in self.nodes.items():
            if node.up:
                g.add_node(name)
        for link in self.links.values():
            if link.up and self.nodes[link.a].up and self.nodes[link.b].up:
                m = link.model
                p = m.success_probability
                g.add_edge(
                    link.a,
                    link.b,
                    length_km=link.length_km,
                    link=m,
                    # mean time from the first attempt to the herald: (k - 1) cycles + herald delay
                    expected_pair_time=((1.0 / p - 1.0) * m.cycle_time + m.herald_delay) if p > 0 else float("inf"),
                )
        return g
