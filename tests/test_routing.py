"""Routers pick the paths they should on hand-built graphs: shortest-path (hops), min-cost
(expected generation time), max-fidelity (link fidelity, storage and swap noise), k-shortest
(link-disjoint multipath), and reactive (entanglement-graph) routing; requests with no path, or
none good enough, end saying so. Every run ends with the memory inventory checked."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

import qplane
import qplane_physics as physics
from inventory_checks import run_checked
from qplane.errors import ScenarioError
from qplane_engine.sim import build
from qplane_devkit.conformance import chain_scenario
from qplane_routing import KShortestParams, KShortestRouter, path_fidelity
from qplane_routing.reactive import POOL


def gml(tmp_path: Path, edges: list[tuple[str, str, float]], name: str = "net.gml", nodes: tuple = ()) -> str:
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for a, b, km in edges:
        g.add_edge(a, b, length_km=km)
    path = tmp_path / name
    nx.write_gml(g, path)
    return str(path)


def scenario(topology: str, requests: list[dict], *, links: list[dict] = (), nodes: dict | None = None,
             coherence_time: float | None = None, routing: str | dict = "shortest-path", count: int = 2,
             duration: float = 1.0, seed: int = 1, **protocols) -> dict:
    return {
        "name": "routing", "seed": seed, "duration": duration,
        "topology": {"builder": "file", "path": topology},
        "hardware": {"memory": {"count": count, "coherence_time": coherence_time},
                     "link": {"scheme": "mim", "pair_fidelity": 0.98},
                     "links": list(links), "nodes": nodes or {}},
        "protocols": {"routing": routing, **protocols},
        "requests": requests,
    }


# ----------------------------------------------------------------------- three kinds of path

# A to B three ways: P1 two long low-fidelity links, P2 three short links (fast generation),
# P3 four 20 km links of very high fidelity.
P1, P2, P3 = ["A", "X", "B"], ["A", "Y1", "Y2", "B"], ["A", "Z1", "Z2", "Z3", "B"]


@pytest.fixture
def three_ways(tmp_path):
    edges = [("A", "X", 50), ("X", "B", 50),
             ("A", "Y1", 5), ("Y1", "Y2", 5), ("Y2", "B", 5),
             ("A", "Z1", 20), ("Z1", "Z2", 20), ("Z2", "Z3", 20), ("Z3", "B", 20)]
    links = ([{"between": list(e), "pair_fidelity": 0.85} for e in zip(P1, P1[1:])]
             + [{"between": list(e), "pair_fidelity": 0.95} for e in zip(P2, P2[1:])]
             + [{"between": list(e), "pair_fidelity": 0.999} for e in zip(P3, P3[1:])])
    return gml(tmp_path, edges), links


def test_each_router_picks_its_path(three_ways):
    topo, links = three_ways
    routers = ["shortest-path", "min-cost", "max-fidelity"]
    reqs = [{"src": "A", "dst": "B", "pairs": 3, "protocols": {"routing": r}} for r in routers]
    sim, res = run_checked(scenario(topo, reqs, links=links, count=1))
    got = {r["protocols"]["router"]: r["paths"][0] for r in res["requests"]}
    assert got == {"shortest-path": P1, "min-cost": P2, "max-fidelity": P3}
    assert all(r["status"] == "completed" for r in res["requests"])
    # max-fidelity really delivers the best fidelity: Werner links compose w = w1 w2 ...
    f = {r["protocols"]["router"]: r["fidelity_mean"] for r in res["requests"]}
    w = {"shortest-path": 0.8 ** 2, "min-cost": (14 / 15) ** 3, "max-fidelity": ((4 * 0.999 - 1) / 3) ** 4}
    for name, wp in w.items():
        assert f[name] == pytest.approx((3 * wp + 1) / 4, abs=1e-12)
    assert f["max-fidelity"] > f["min-cost"] > f["shortest-path"]


def test_min_cost_follows_the_expected_generation_time(three_ways):
    topo, links = three_ways
    sim = build(qplane.load_scenario(scenario(topo, [], links=links)))
    view = sim.network.view()
    cost = {tuple(p): sum(view[u][v]["expected_pair_time"] for u, v in zip(p, p[1:])) for p in (P1, P2, P3)}
    assert min(cost, key=cost.get) == tuple(P2)


def test_max_fidelity_weighs_swap_gate_errors(tmp_path):
    # two equal two-hop routes; the repeater on the first has a noisy Bell measurement
    topo = gml(tmp_path, [("A", "X", 10), ("X", "B", 10), ("A", "Y", 10), ("Y", "B", 10)])
    reqs = [{"src": "A", "dst": "B", "pairs": 2, "protocols": {"routing": r}} for r in ("shortest-path", "max-fidelity")]
    nodes = {"X": {"operations": {"gate_error": 0.1}}}
    _, res = run_checked(scenario(topo, reqs, nodes=nodes))
    assert [r["paths"] for r in res["requests"]] == [[["A", "X", "B"]], [["A", "Y", "B"]]]
    assert res["requests"][1]["fidelity_mean"] > res["requests"][0]["fidelity_mean"]


def test_max_fidelity_weighs_storage_while_outcomes_travel(tmp_path):
    # same links, same hops; the long route keeps the end qubits waiting longer for the outcome
    topo = gml(tmp_path, [("A", "X", 10), ("X", "B", 60), ("A", "Y", 10), ("Y", "B", 10)])
    sc = scenario(topo, [{"src": "A", "dst": "B", "pairs": 2}], routing="max-fidelity", coherence_time=1e-3)
    sim = build(qplane.load_scenario(sc))
    sim.run()
    assert sim.handles[0].path == ["A", "Y", "B"]
    view = sim.network.view()
    for name, data in view.nodes(data=True):
        data["memory"] = sim.network.nodes[name].device.memory_model
    assert path_fidelity(view, ["A", "Y", "B"]) > path_fidelity(view, ["A", "X", "B"])


def test_path_fidelity_is_the_delivered_fidelity_without_decoherence(three_ways):
    topo, links = three_ways
    sim, res = run_checked(scenario(topo, [{"src": "A", "dst": "B", "pairs": 5}], links=links, routing="max-fidelity"))
    view = sim.network.view()
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(path_fidelity(view, P3), abs=1e-12)


# ----------------------------------------------------------------------- k-shortest

@pytest.fixture
def trap(tmp_path):
    # the second-shortest simple path A-C-D-B shares link A-C with the shortest A-C-B; the
    # second link-disjoint path is the long way round
    return gml(tmp_path, [("A", "C", 10), ("C", "B", 10), ("C", "D", 10), ("D", "B", 10),
                          ("A", "E", 10), ("E", "F", 10), ("F", "G", 10), ("G", "B", 10)])


def links_of(path):
    return {frozenset(e) for e in zip(path, path[1:])}


def test_k_shortest_paths_are_link_disjoint(trap):
    sim = build(qplane.load_scenario(scenario(trap, [])))
    view = sim.network.view()
    paths = KShortestRouter(KShortestParams(k=3)).routes(view, "A", "B")
    assert paths == [["A", "C", "B"], ["A", "E", "F", "G", "B"]]  # no third disjoint path
    assert not links_of(paths[0]) & links_of(paths[1])
    assert KShortestRouter(KShortestParams(k=1)).routes(view, "A", "B") == [["A", "C", "B"]]
    assert KShortestRouter(KShortestParams(k=3, max_stretch=1.5)).routes(view, "A", "B") == [["A", "C", "B"]]


def test_k_shortest_on_random_meshes_never_shares_a_link():
    g = nx.connected_watts_strogatz_graph(40, 4, 0.3, seed=5)
    view = nx.Graph()
    for a, b in g.edges:
        view.add_edge(f"n{a}", f"n{b}", length_km=10.0)
    router = KShortestRouter(KShortestParams(k=4))
    for s, t in [("n0", "n20"), ("n3", "n31"), ("n7", "n8")]:
        paths = router.routes(view, s, t)
        assert 1 <= len(paths) <= 4
        used = [links_of(p) for p in paths]
        assert all(not used[i] & used[j] for i in range(len(used)) for j in range(i))
        assert all(p[0] == s and p[-1] == t and len(set(p)) == len(p) for p in paths)
        assert len(paths[0]) - 1 == nx.shortest_path_length(view, s, t)


def test_multipath_request_spreads_its_pairs_and_completes_at_the_total(trap):
    sc = scenario(trap, [{"src": "A", "dst": "B", "pairs": 400}], routing={"name": "k-shortest", "k": 2})
    sim, res = run_checked(sc)
    req = res["requests"][0]
    assert req["status"] == "completed" and req["delivered"] == 400
    assert req["paths"] == [["A", "C", "B"], ["A", "E", "F", "G", "B"]]
    generated = {frozenset((l["a"], l["b"])): l["pairs_generated"] for l in res["links"]}
    for path in req["paths"]:  # both paths worked for it
        assert all(generated[e] > 0 for e in links_of(path))
    assert generated[frozenset(("C", "D"))] == 0
    # in parallel: faster than the shortest path alone
    alone = run_checked(scenario(trap, [{"src": "A", "dst": "B", "pairs": 400}]), every=None)[1]["requests"][0]
    assert req["completion_time_s"] < alone["completion_time_s"]


# ----------------------------------------------------------------------- statuses

def test_no_path_and_fidelity_unreachable(tmp_path):
    topo = gml(tmp_path, [("A", "B", 10), ("B", "C", 10), ("D", "E", 10)])
    reqs = [
        {"src": "A", "dst": "E", "pairs": 1},  # other component
        {"src": "A", "dst": "C", "pairs": 1, "min_fidelity": 0.99},  # two 0.98 links cannot
        {"src": "A", "dst": "E", "pairs": 1, "protocols": {"routing": "reactive"}},
        {"src": "A", "dst": "C", "pairs": 1, "min_fidelity": 0.99, "protocols": {"routing": "max-fidelity"}},
        {"src": "A", "dst": "C", "pairs": 1, "min_fidelity": 0.99, "protocols": {"routing": "reactive"}},
        {"src": "A", "dst": "E", "pairs": 1, "protocols": {"routing": "k-shortest"}},
        {"src": "A", "dst": "C", "pairs": 2, "min_fidelity": 0.95},
    ]
    _, res = run_checked(scenario(topo, reqs))
    statuses = [r["status"] for r in res["requests"]]
    assert statuses == ["no_path", "fidelity_unreachable", "no_path", "fidelity_unreachable",
                        "fidelity_unreachable", "no_path", "completed"]
    assert "no path from A to E" in res["requests"][0]["reason"]
    assert "below min_fidelity 0.99" in res["requests"][1]["reason"]


# ----------------------------------------------------------------------- reactive

def test_reactive_on_a_chain_gives_the_werner_swap_fidelity(tmp_path):
    f = 0.9
    sc = chain_scenario(3, 20.0, pairs=200, count=3, pair_fidelity=f, seed=5)
    sc["protocols"]["routing"] = "reactive"
    sim, res = run_checked(sc, every=1e-3)
    req = res["requests"][0]
    assert req["status"] == "completed" and req["delivered"] == 200
    assert req["protocols"]["swapping"] == "reactive" and req["paths"] is None
    expected = physics.werner_swap_fidelity(f, f)
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(expected, abs=1e-12)
        assert pair.fidelity_estimated == pytest.approx(expected, abs=1e-12)
    assert res["extra"]["reactive"]["paths"] == {"0": {"n0-n1-n2": 200}}


def test_reactive_swaps_over_whatever_links_are_entangled(tmp_path):
    # a ring of four: n0 to n2 through n1 or n3, whichever side has its pairs first
    topo = gml(tmp_path, [("n0", "n1", 20), ("n1", "n2", 20), ("n2", "n3", 20), ("n3", "n0", 20)])
    sc = scenario(topo, [{"src": "n0", "dst": "n2", "pairs": 300, "min_fidelity": 0.8}], routing="reactive",
                  count=1, coherence_time=0.05)
    sim, res = run_checked(sc)
    req = res["requests"][0]
    assert req["status"] == "completed"
    used = res["extra"]["reactive"]["paths"]["0"]
    assert set(used) == {"n0-n1-n2", "n0-n3-n2"} and sum(used.values()) == 300
    assert min(used.values()) > 50
    # the estimate the decisions were made on is what the fidelity backend measured
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(pair.fidelity_estimated, abs=1e-9)
        assert pair.fidelity_estimated >= 0.8


def test_reactive_beats_a_fixed_path_when_one_side_is_slow(tmp_path):
    # one side of the ring has a long (slow) link: a fixed path through it is stuck with it,
    # the reactive request takes pairs wherever they are
    topo = gml(tmp_path, [("n0", "n1", 20), ("n1", "n2", 50), ("n2", "n3", 20), ("n3", "n0", 20)])
    out = {}
    for routing in ("shortest-path", "reactive"):
        sc = scenario(topo, [{"src": "n0", "dst": "n2", "pairs": 50}], routing=routing, count=1)
        out[routing] = run_checked(sc, every=None)[1]["requests"][0]
    assert out["shortest-path"]["paths"] == [["n0", "n1", "n2"]]  # the first shortest: via the slow link
    assert out["reactive"]["completion_time_s"] < out["shortest-path"]["completion_time_s"]


def test_reactive_shares_the_network_with_path_based_requests(tmp_path):
    topo = gml(tmp_path, [("n0", "n1", 10), ("n1", "n2", 10), ("n2", "n3", 10), ("n3", "n0", 10), ("n0", "n2", 14)])
    reqs = [
        {"src": "n1", "dst": "n3", "pairs": 100},
        {"src": "n0", "dst": "n2", "pairs": 100, "protocols": {"routing": "reactive"}},
        {"src": "n1", "dst": "n3", "pairs": 100, "start": 0.002, "protocols": {"routing": "reactive"}},
        {"src": "n3", "dst": "n1", "pairs": 50, "start": 0.003, "end": 0.004},
    ]
    sc = scenario(topo, reqs, count=3, coherence_time=0.02, cutoff={"max_age": 2e-3})
    sim, res = run_checked(sc)
    assert [r["status"] for r in res["requests"]][:3] == ["completed"] * 3
    assert sim.context.services.get(POOL) is None  # the pool let its memories go


def test_reactive_needs_its_own_session_model(tmp_path):
    topo = gml(tmp_path, [("A", "B", 10)])
    req = [{"src": "A", "dst": "B", "pairs": 1}]
    with pytest.raises(ScenarioError, match="needs a path-free swapping policy"):
        qplane.build(qplane.load_scenario(scenario(topo, req, routing="reactive", swapping="asap")))
    with pytest.raises(ScenarioError, match="needs a path-free router"):
        qplane.build(qplane.load_scenario(scenario(topo, req, swapping="reactive")))
    with pytest.raises(ScenarioError, match="does not purify") as exc:
        qplane.build(qplane.load_scenario(scenario(topo, req, routing="reactive", purification="bbpssw")))
    assert exc.value.field == "protocols.swapping"


def test_large_views_take_a_least_cost_path_with_the_compiled_search():
    import math
    import random

    from qplane_routing.routers import LARGE_VIEW, CompiledView, MinCostRouter, NoParams
    from qplane_topology.random_graphs import waxman_graph

    graph, pos = waxman_graph(LARGE_VIEW, 0.4, 0.1, 300.0, 5, 40.0)
    for u, v in graph.edges:
        graph[u][v]["expected_pair_time"] = 1e-4 * math.exp(math.dist(pos[u], pos[v]) / 15.0)
    router, rng = MinCostRouter(NoParams()), random.Random(2)

    def cost(path):
        return sum(graph[u][v]["expected_pair_time"] for u, v in zip(path, path[1:]))

    for _ in range(20):
        a, b = rng.randrange(LARGE_VIEW), rng.randrange(LARGE_VIEW)
        try:
            best = nx.dijkstra_path_length(graph, a, b, weight="expected_pair_time")
        except nx.NetworkXNoPath:
            assert router.route(graph, a, b) is None
            continue
        path = router.route(graph, a, b)
        assert path[0] == a and path[-1] == b and all(graph.has_edge(u, v) for u, v in zip(path, path[1:]))
        assert cost(path) == pytest.approx(best, rel=1e-12)  # the least cost, as networkx finds it
    assert isinstance(router._compiled, CompiledView) and router._compiled.graph is graph  # built once per view
