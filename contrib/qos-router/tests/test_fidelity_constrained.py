"""qplane-qos-router's own tests: the router contract (qplane's conformance kit) and what the
router is for — the fastest path good enough, where min-cost fails and max-fidelity is slow.

Run with ``pytest`` once the package is installed (``pip install -e ".[test]"``).
"""

from __future__ import annotations

import networkx as nx
import pytest

import qplane_physics as physics
from qplane.requests import EntanglementRequest
from qplane_devkit.conformance import RouterConformance, network_view, run_scenario, scenario

from qplane_qos_router import plugin
from qplane_qos_router.router import FidelityConstrainedParams, FidelityConstrainedRouter, path_werner


class TestRouterContract(RouterConformance):
    router_name = "fidelity-constrained"
    plugin = plugin  # found by its entry point when installed; registered by hand otherwise


class TestRouterContractWithHopLimit(RouterConformance):
    router_name = "fidelity-constrained"
    params = {"max_hops": 30}
    plugin = plugin


def ring(routing, min_fidelity: float) -> dict:
    """A 6-node ring, every link F = 0.98 except n0-n1 (F = 0.8): from n0 to n2 the direct
    2-link path is fast but poor (F = 0.785), the 4-link detour slower and good (F = 0.923)."""
    data = scenario({"builder": "ring", "nodes": 6, "spacing_km": 10},
                    [{"src": "n0", "dst": "n2", "pairs": 100, "min_fidelity": min_fidelity}],
                    pair_fidelity=0.98, protocols={"routing": routing})
    data["hardware"]["links"] = [{"between": ["n0", "n1"], "pair_fidelity": 0.8}]
    _, results = run_scenario(data, plugin)
    return results["requests"][0]


def test_reaches_a_target_min_cost_cannot():
    assert ring("min-cost", 0.85)["status"] == "fidelity_unreachable"
    r = ring("fidelity-constrained", 0.85)
    assert r["status"] == "completed" and r["paths"] == [["n0", "n5", "n4", "n3", "n2"]]
    assert r["fidelity_mean"] >= 0.85


def test_takes_the_fast_path_when_it_is_good_enough():
    r = ring("fidelity-constrained", 0.7)
    assert r["status"] == "completed" and r["paths"] == [["n0", "n1", "n2"]]
    detour = ring({"name": "fidelity-constrained", "max_hops": 6}, 0.9)
    assert r["rate_hz"] > detour["rate_hz"]  # the detour it avoided is slower


def test_unreachable_target_names_the_best_path():
    r = ring("fidelity-constrained", 0.95)
    assert r["status"] == "fidelity_unreachable"
    assert "0.9231 over 4 links" in r["reason"]  # it offered the best path, which is not enough


def test_werner_estimate_is_the_swap_formula():
    g = nx.Graph()
    g.add_edge("a", "b", length_km=10.0, pair_fidelity=0.9)
    g.add_edge("b", "c", length_km=10.0, pair_fidelity=0.8)
    view = network_view(g, coherence_time=None)
    f = (1 + 3 * path_werner(view, ["a", "b", "c"])) / 4
    assert f == pytest.approx(physics.werner_swap_fidelity(0.9, 0.8), abs=1e-12)


def test_hop_limit_is_respected():
    g = nx.cycle_graph(8)
    g = nx.relabel_nodes(g, lambda i: f"n{i}")
    for a, b in g.edges:
        g.edges[a, b]["pair_fidelity"] = 0.99
    g.edges["n0", "n1"]["pair_fidelity"] = 0.6
    view = network_view(g, coherence_time=None)
    request = EntanglementRequest(src="n0", dst="n2", pairs=1, min_fidelity=0.9)
    free = FidelityConstrainedRouter(FidelityConstrainedParams()).route(view, "n0", "n2", request)
    assert free == ["n0", "n7", "n6", "n5", "n4", "n3", "n2"]
    limited = FidelityConstrainedRouter(FidelityConstrainedParams(max_hops=3)).route(view, "n0", "n2", request)
    assert limited == ["n0", "n1", "n2"]  # nothing within 3 hops is good enough: the best one there is
