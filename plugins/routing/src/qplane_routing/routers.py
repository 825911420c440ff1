"""Path routers.

Both routers work on the controller's view (:meth:`qplane.network.Network.view`): only up
nodes and links, with ``length_km`` and ``expected_pair_time`` on every edge. Ties are
broken deterministically (networkx visits neighbours in insertion order), so the same
scenario gives the same path.
"""

from __future__ import annotations

import networkx as nx
from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShortestPathRouter:
    """Fewest hops (each swap costs fidelity and time, so hops are the first-order cost)."""

    def __init__(self, params: NoParams):
        self.params = params

    def route(self, graph: nx.Graph, src: str, dst: str, request=None) -> list[str] | None:
        try:
            return nx.shortest_path(graph, src, dst)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None


class MinCostRouter:
    """Least total expected link-generation time: edge cost ``(1/p - 1) cycle + herald delay``
    seconds, the mean time for one memory pair to herald a pair (geometric attempts)."""

    def __init__(self, params: NoParams):
        self.params = params

    def route(self, graph: nx.Graph, src: str, dst: str, request=None) -> list[str] | None:
        try:
            return nx.dijkstra_path(graph, src, dst, weight="expected_pair_time")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
