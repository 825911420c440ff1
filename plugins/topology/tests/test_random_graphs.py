"""Waxman and random-geometric builders: seeded, lengths from positions, connected (or told)."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from qplane.errors import ScenarioError
from qplane.registry import BuildContext, Registry

from qplane_topology.random_graphs import (
    MIN_LENGTH_KM,
    RandomGeometricParams,
    WaxmanParams,
    build_random_geometric,
    build_waxman,
)

CTX = BuildContext()


def check_contract(g: nx.Graph, region_km: float) -> None:
    assert type(g) is nx.Graph and all(isinstance(n, str) for n in g.nodes)
    for a, b, d in g.edges(data=True):
        pa, pb = (g.nodes[a]["x_km"], g.nodes[a]["y_km"]), (g.nodes[b]["x_km"], g.nodes[b]["y_km"])
        assert d["length_km"] == pytest.approx(max(math.dist(pa, pb), MIN_LENGTH_KM), rel=1e-12)
    for _, d in g.nodes(data=True):
        assert 0 <= d["x_km"] <= region_km and 0 <= d["y_km"] <= region_km


@pytest.mark.parametrize("build,params", [
    (build_waxman, WaxmanParams(nodes=60, region_km=150, beta=0.5, alpha=0.15, seed=3)),
    (build_random_geometric, RandomGeometricParams(nodes=60, region_km=150, radius_km=30, seed=3)),
])
def test_seeded_connected_and_lengths_from_positions(build, params):
    g = build(params, CTX)
    assert g.number_of_nodes() == 60 and nx.is_connected(g)
    check_contract(g, 150)
    again = build(params, CTX)
    assert nx.utils.graphs_equal(g, again)
    other = build(params.model_copy(update={"seed": 4}), CTX)
    assert set(other.edges) != set(g.edges)


def test_random_geometric_links_exactly_the_close_pairs():
    p = RandomGeometricParams(nodes=80, region_km=100, radius_km=18, seed=1, connect="largest")
    g = build_random_geometric(p, CTX)
    pos = {n: (d["x_km"], d["y_km"]) for n, d in g.nodes(data=True)}
    for a in g:
        for b in g:
            if a < b:
                assert g.has_edge(a, b) == (math.dist(pos[a], pos[b]) <= 18)


def test_waxman_max_length_and_link_probability_falls_with_distance():
    g = build_waxman(WaxmanParams(nodes=200, region_km=100, beta=0.9, alpha=0.2, seed=7, max_length_km=30), CTX)
    lengths = [d["length_km"] for *_, d in g.edges(data=True)]
    joined = g.graph["joined_links"]
    assert sum(length > 30 for length in lengths) <= joined
    pos = {n: (d["x_km"], d["y_km"]) for n, d in g.nodes(data=True)}
    nodes = sorted(g)

    def linked_fraction(lo: float, hi: float) -> float:
        pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:] if lo <= math.dist(pos[a], pos[b]) < hi]
        return sum(g.has_edge(a, b) for a, b in pairs) / len(pairs)

    near, far = linked_fraction(0, 10), linked_fraction(20, 30)
    assert near > 1.5 * far  # beta exp(-d / (alpha L)): about 0.9 x 0.84 against 0.9 x 0.41


def test_disconnected_graphs_join_keep_the_largest_or_say_so():
    sparse = dict(nodes=40, region_km=200, beta=0.3, alpha=0.05, seed=1)
    joined = build_waxman(WaxmanParams(**sparse), CTX)
    assert nx.is_connected(joined) and joined.number_of_nodes() == 40 and joined.graph["joined_links"] > 0
    raw_edges = build_waxman(WaxmanParams(**sparse, connect="largest"), CTX)
    assert nx.is_connected(raw_edges) and raw_edges.number_of_nodes() < 40
    with pytest.raises(ScenarioError) as exc:
        build_waxman(WaxmanParams(**sparse, connect="error"), CTX)
    assert exc.value.field == "topology"
    assert "disconnected" in exc.value.message and "components" in exc.value.message
    assert "connect: join" in exc.value.message
    # joining adds only links between components: every link of the graph without joining is kept
    n_components = joined.graph["joined_links"] + 1
    assert joined.number_of_edges() >= n_components - 1


def test_registered_and_usable_in_a_scenario():
    registry = Registry()
    assert {"waxman", "random-geometric"} <= set(registry.names("topology"))
    import qplane

    sc = {"name": "w", "duration": 0.01, "topology": {"builder": "waxman", "nodes": 12, "region_km": 40, "seed": 2},
          "requests": [{"src": "n0", "dst": "n11", "pairs": 1}]}
    res = qplane.run(sc)
    assert res["requests"][0]["status"] in ("completed", "timed_out")
    with pytest.raises(ScenarioError) as exc:
        qplane.run({**sc, "topology": {"builder": "waxman", "nodes": 12, "region_km": -1}})
    assert exc.value.field == "topology.region_km"


@pytest.mark.parametrize("n, seed, beta, alpha, region, max_length", [
    (40, 1, 0.8, 0.2, 100.0, 40.0), (600, 7, 0.4, 0.05, 500.0, 60.0), (900, 3, 0.6, 0.1, 300.0, None)])
def test_the_vectorised_waxman_draw_is_networkx_graph_edge_for_edge(n, seed, beta, alpha, region, max_length):
    import math

    from qplane_topology.random_graphs import waxman_graph

    ref = nx.waxman_graph(n, beta=beta, alpha=alpha, domain=(0.0, 0.0, region, region), seed=seed)
    pos = {v: tuple(p) for v, p in ref.nodes(data="pos")}
    if max_length is not None:
        ref.remove_edges_from([(a, b) for a, b in ref.edges if math.dist(pos[a], pos[b]) > max_length])
    graph, ours = waxman_graph(n, beta, alpha, region, seed, max_length)
    assert ours == pos
    assert list(graph.edges) == list(ref.edges)  # the same edges, in the same order
    assert all(list(graph[v]) == list(ref[v]) for v in ref)  # the same neighbour order (routing ties)
