"""Random mesh topologies: Waxman and random geometric graphs, seeded, with lengths in km.

Nodes ``n0 … n{N-1}`` are placed uniformly at random in a square of side ``region_km``; a
link's length is the straight-line distance between its ends (at least ``MIN_LENGTH_KM``, so
two nodes drawn on the same spot still make a valid link). Node positions are kept as node
attributes ``x_km`` and ``y_km``.

* ``waxman`` (Waxman, IEEE JSAC 6, 1617 (1988), as in :func:`networkx.waxman_graph`): nodes
  ``u``, ``v`` at distance ``d`` are linked with probability ``beta * exp(-d / (alpha * L))``,
  ``L`` the largest distance between two nodes. ``beta`` sets the density, ``alpha`` the share
  of long links; ``max_length_km`` drops links longer than the hardware can serve.
* ``random-geometric`` (:func:`networkx.random_geometric_graph`): nodes closer than
  ``radius_km`` are linked.

The graph has its own ``seed`` (not the scenario's): the network stays the same while the
simulation's seed varies, so runs over several seeds compare protocols on one network.

A random graph may come out disconnected. ``connect`` says what then happens: ``join`` (the
default) adds, for each component other than the largest, the shortest link from it to the
nodes joined so far (components taken largest first) — the fewest, shortest extra links that
make the graph connected, reported in the graph attribute ``joined_links``; ``largest`` keeps
only the largest component (the node count drops; names keep their numbers); ``error`` refuses,
naming the components, so the parameters can be changed instead.

This module only builds graphs (see :mod:`qplane_topology.plugin`).
"""

from __future__ import annotations

import math
import random
from typing import Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from qplane.errors import ScenarioError
from qplane.registry import BuildContext

#: the shortest link a random graph makes, km
MIN_LENGTH_KM = 1e-3


class _RandomParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    nodes: int = Field(ge=2, le=100_000, description="number of nodes")
    region_km: float = Field(gt=0.0, allow_inf_nan=False, description="side of the square the nodes are placed in, km")
    seed: int = Field(0, ge=0, description="the graph's own random seed (not the scenario's)")
    connect: Literal["join", "largest", "error"] = Field(
        "join", description="if disconnected: join (add the shortest links that connect it), "
        "largest (keep the largest component) or error")


class WaxmanParams(_RandomParams):
    """``topology: {builder: waxman, nodes, region_km, beta, alpha, seed, connect}``."""

    beta: float = Field(0.4, gt=0.0, le=1.0, description="link probability of two nodes at distance 0")
    alpha: float = Field(0.1, gt=0.0, le=1.0, allow_inf_nan=False,
                         description="distance scale, as a fraction of the largest distance")
    max_length_km: float | None = Field(
        None, gt=0.0, allow_inf_nan=False,
        description="no link longer than this (before connecting; null: any length)")

    def expected_size(self, context: BuildContext) -> dict[str, float]:
        """At most the expected links before ``max_length_km`` (the raw graph is made first):
        with ``L <= region sqrt(2)`` and a pair's distance density at most ``2 pi d / region^2``,
        ``E[exp(-d / (alpha L))] <= 4 pi alpha^2``."""
        pairs = self.nodes * (self.nodes - 1) / 2
        return {"nodes": self.nodes, "links": self.beta * pairs * min(1.0, 4 * math.pi * self.alpha ** 2)}


class RandomGeometricParams(_RandomParams):
    """``topology: {builder: random-geometric, nodes, region_km, radius_km, seed, connect}``."""

    radius_km: float = Field(gt=0.0, allow_inf_nan=False, description="nodes closer than this are linked")

    def expected_size(self, context: BuildContext) -> dict[str, float]:
        """At most the expected links: a pair's distance has density at most ``2 pi d / region^2``."""
        pairs = self.nodes * (self.nodes - 1) / 2
        return {"nodes": self.nodes, "links": pairs * min(1.0, math.pi * (self.radius_km / self.region_km) ** 2)}


def _positions(n: int, region_km: float, seed: int) -> dict[int, tuple[float, float]]:
    rng = random.Random(seed)
    return {i: (rng.uniform(0.0, region_km), rng.uniform(0.0, region_km)) for i in range(n)}


def _finish(raw: nx.Graph, pos: dict[int, tuple[float, float]], connect: str, builder: str) -> nx.Graph:
    """Name nodes, set lengths and positions, apply the ``connect`` policy."""

    def dist(a: int, b: int) -> float:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        return max(math.hypot(x1 - x2, y1 - y2), MIN_LENGTH_KM)

    graph = nx.Graph()
    for i in sorted(raw.nodes):
        graph.add_node(f"n{i}", x_km=pos[i][0], y_km=pos[i][1])
    for a, b in sorted(tuple(sorted(e)) for e in raw.edges):
        graph.add_edge(f"n{a}", f"n{b}", length_km=dist(a, b))
    components = sorted((sorted(c, key=lambda s: int(s[1:])) for c in nx.connected_components(graph)),
                        key=lambda c: (-len(c), int(c[0][1:])))
    graph.graph["joined_links"] = 0
    if len(components) == 1:
        return graph
    if connect == "error":
        sizes = ", ".join(str(len(c)) for c in components[:8]) + (", ..." if len(components) > 8 else "")
        raise ScenarioError(
            f"the {builder} graph is disconnected: {len(components)} components of {sizes} nodes "
            f"(the smallest holds {', '.join(components[-1][:4])}); change seed or the density "
            "parameters, or set connect: join or largest", field="topology")
    if connect == "largest":
        return graph.subgraph(components[0]).copy()
    joined = list(components[0])
    for comp in components[1:]:  # the shortest link from this component to those joined so far
        a, b = min(((u, v) for u in comp for v in joined),
                   key=lambda e: (dist(int(e[0][1:]), int(e[1][1:])), e))
        graph.add_edge(a, b, length_km=dist(int(a[1:]), int(b[1:])))
        graph.graph["joined_links"] += 1
        joined.extend(comp)
    return graph


def waxman_graph(n: int, beta: float, alpha: float, region_km: float, seed: int,
                 max_length_km: float | None = None) -> tuple[nx.Graph, dict[int, tuple[float, float]]]:
    """The graph :func:`networkx.waxman_graph` draws for ``seed`` (nodes ``0..n-1`` in a
    ``region_km`` square), without its links longer than ``max_length_km``, and the positions.

    The same graph, edge for edge and in the same order, drawn in vectorised form: networkx
    decides each of the n(n-1)/2 pairs in turn with one ``random()`` of a ``random.Random(seed)``
    (after the 2n of the positions), ``join = random() < beta exp(-d / (alpha L))``, ``L`` the
    largest distance between two nodes. Here the positions come from that stream as there, its
    state then seeds a numpy Mersenne Twister whose ``random_sample`` gives the same doubles
    (both are the 53-bit ``genrand_res53``), and each node's row of pairs is decided at once.
    Distances and exponentials are numpy's; a pair whose draw lies within 1e-9 (relative) of
    its threshold is decided again with networkx's own ``math.dist`` and ``math.exp``, so a
    rounding difference in the last bit cannot flip it. A pair beyond ``max_length_km`` is
    drawn for (the stream stays networkx's) but never added. networkx builds every joined pair
    first, millions at ten thousand nodes; this keeps only the links the network will have."""
    import numpy as np

    rng = random.Random(seed)
    pos = {v: (rng.uniform(0.0, region_km), rng.uniform(0.0, region_km)) for v in range(n)}
    xy = np.array([pos[v] for v in range(n)], dtype=float).reshape(n, 2)
    length = 0.0  # L: the largest distance between two nodes (the pair found with numpy, measured as networkx does)
    far = (0, 1)
    for i in range(n - 1):
        d = np.hypot(xy[i + 1:, 0] - xy[i, 0], xy[i + 1:, 1] - xy[i, 1])
        j = int(d.argmax())
        if d[j] > length:
            length, far = float(d[j]), (i, i + 1 + j)
    length = math.dist(pos[far[0]], pos[far[1]]) if n > 1 else 0.0
    mt = np.random.RandomState()
    state = rng.getstate()[1]
    mt.set_state(("MT19937", np.array(state[:624], dtype=np.uint32), state[624]))
    graph = nx.empty_graph(n)
    scale = alpha * length
    for i in range(n - 1):
        draws = mt.random_sample(n - 1 - i)
        d = np.hypot(xy[i + 1:, 0] - xy[i, 0], xy[i + 1:, 1] - xy[i, 1])
        p = beta * np.exp(-d / scale)
        join = draws < p
        close = np.flatnonzero(np.abs(draws - p) <= 1e-9 * p)
        for k in close:  # decided again exactly as networkx does
            join[k] = draws[k] < beta * math.exp(-math.dist(pos[i], pos[i + 1 + int(k)]) / scale)
        if max_length_km is not None:
            join &= d <= max_length_km * (1 + 1e-12)
        for k in np.flatnonzero(join):
            j = i + 1 + int(k)
            if max_length_km is None or math.dist(pos[i], pos[j]) <= max_length_km:
                graph.add_edge(i, j)
    return graph, pos


def build_waxman(params: WaxmanParams, context: BuildContext) -> nx.Graph:
    """A Waxman random graph in a ``region_km`` square (see the module)."""
    raw, pos = waxman_graph(params.nodes, params.beta, params.alpha, params.region_km, params.seed,
                            params.max_length_km)
    return _finish(raw, pos, params.connect, "waxman")


def build_random_geometric(params: RandomGeometricParams, context: BuildContext) -> nx.Graph:
    """A random geometric graph in a ``region_km`` square (see the module)."""
    pos = _positions(params.nodes, params.region_km, params.seed)
    raw = nx.random_geometric_graph(params.nodes, params.radius_km, pos=pos)
    return _finish(raw, pos, params.connect, "random-geometric")
