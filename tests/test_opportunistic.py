"""Opportunistic routing (``routing: opportunistic``): every node swaps the request's growing pair
towards its neighbour closest to the destination, over the reactive link-level pool. On a grid
the pairs arrive over monotone paths with the Werner chain's fidelity for the swaps they made;
the km metric follows fibre length, not hops; growing pairs past ``max_age`` are given up and
counted; every run ends with the memory inventory checked."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import pytest

import qplane
import qplane_physics as physics
from inventory_checks import run_checked
from qplane.errors import ScenarioError
from qplane_experiment import compare
from qplane_routing.opportunistic import OPP_POOL


def grid(rows: int = 3, cols: int = 3, *, pairs: int = 200, f: float = 0.95, count: int = 2,
         coherence_time: float | None = None, operations: dict | None = None, seed: int = 4,
         **protocols) -> dict:
    return {
        "name": "opportunistic", "seed": seed, "duration": 1.0,
        "topology": {"builder": "grid", "rows": rows, "cols": cols, "spacing_km": 10},
        "hardware": {"memory": {"count": count, "coherence_time": coherence_time},
                     "link": {"scheme": "mim", "pair_fidelity": f},
                     "operations": operations or {}},
        "protocols": {"routing": "opportunistic", **protocols},
        "requests": [{"src": "n0_0", "dst": f"n{rows - 1}_{cols - 1}", "pairs": pairs, "min_fidelity": 0.0}],
    }


def monotone(path: list[str], graph: nx.Graph, dst: str) -> bool:
    dist = nx.single_source_shortest_path_length(graph, dst)
    return all(dist[b] < dist[a] for a, b in zip(path, path[1:])) and path[-1] == dst


def test_on_a_grid_pairs_take_monotone_paths_with_the_werner_chain_fidelity():
    # 3x3 grid, corner to corner: every monotone path has 4 links, 3 swaps. Links are Werner
    # (w = (4f-1)/3), memories perfect, gates depolarize (w -> w (1-g) per swap), and each
    # swap's reported outcome is wrong in X and in Z independently with probability e: the pair
    # is Phi+ (up to the depolarized part) iff both parities come out even.
    f, g, e, n = 0.95, 0.02, 0.03, 1500
    sc = grid(pairs=n, f=f, operations={"gate_error": g, "measurement_error": e})
    sim, res = run_checked(sc, every=1e-3)
    req = res["requests"][0]
    assert req["status"] == "completed" and req["delivered"] == n
    assert req["protocols"]["swapping"] == "opportunistic" and req["paths"] is None
    extra = res["extra"]["opportunistic"]
    assert extra["swaps"] == {"0": {"3": n}}
    used = extra["paths"]["0"]
    assert sum(used.values()) == n and len(used) >= 4  # it goes wherever pairs are
    view = sim.context.network.graph
    assert all(monotone(p.split("-"), view, "n2_2") for p in used)
    swaps = 3
    w = physics.werner_parameter(f) ** (swaps + 1) * (1 - g) ** swaps
    right = ((1 + (1 - 2 * e) ** swaps) / 2) ** 2  # both frame parities even
    expected = w * right + (1 - w) / 4
    fids = [p.fidelity for p in sim.handles[0].delivered]
    mean = sum(fids) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in fids) / (n - 1) / n)
    assert se > 0.0
    assert mean == pytest.approx(expected, abs=4 * se)  # 4 standard errors
    assert sim.context.services.get(OPP_POOL) is None  # the pool let its memories go


def test_without_noise_every_pair_has_the_exact_chain_fidelity():
    f = 0.97
    sim, res = run_checked(grid(rows=2, cols=4, pairs=100, f=f))
    assert res["extra"]["opportunistic"]["swaps"] == {"0": {"3": 100}}
    assert res["classical_messages"] == 2 * 3 * 100  # each swap's outcome: to the next node and to the source
    expected = physics.werner_fidelity(physics.werner_parameter(f) ** 4)
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(expected, abs=1e-12)
        assert pair.fidelity_estimated == pytest.approx(expected, abs=1e-12)


def gml(tmp_path: Path, edges: list[tuple[str, str, float]]) -> str:
    g = nx.Graph()
    for a, b, km in edges:
        g.add_edge(a, b, length_km=km)
    path = tmp_path / "net.gml"
    nx.write_gml(g, path)
    return str(path)


@pytest.mark.parametrize("metric,path", [("hops", "A-B-D"), ("km", "A-C-E-D")])
def test_the_metric_decides_which_neighbour_is_closer(tmp_path, metric, path):
    # A to D: two hops over 20 km (via B) or three over 3 km (via C, E)
    topo = gml(tmp_path, [("A", "B", 10), ("B", "D", 10), ("A", "C", 1), ("C", "E", 1), ("E", "D", 1)])
    sc = {"name": "metric", "seed": 2, "duration": 1.0, "topology": {"builder": "file", "path": topo},
          "hardware": {"memory": {"count": 1}, "link": {"scheme": "mim", "pair_fidelity": 0.99}},
          "protocols": {"routing": "opportunistic", "swapping": {"name": "opportunistic", "metric": metric}},
          "requests": [{"src": "A", "dst": "D", "pairs": 50}]}
    _, res = run_checked(sc)
    assert res["requests"][0]["status"] == "completed"
    assert res["extra"]["opportunistic"]["paths"] == {"0": {path: 50}}


def test_old_growing_pairs_are_given_up_and_fidelity_is_what_the_network_estimates():
    # noisy memories and a tight max_age: some growing pairs wait too long at a node and are
    # discarded (losses.cutoff); two pairs grow at once
    sc = grid(pairs=300, count=2, coherence_time=0.01,
              swapping={"name": "opportunistic", "max_age": 4e-4, "parallel": 2})
    sim, res = run_checked(sc)
    req = res["requests"][0]
    assert req["status"] == "completed" and req["delivered"] == 300
    assert sim.handles[0].losses.get("cutoff", 0) > 0
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(pair.fidelity_estimated, abs=1e-9)
        # w decays as exp(-dt/T) per stored qubit: a pair no older than its age is at least this good
        floor = physics.werner_fidelity(physics.werner_parameter(0.95) ** 4 * math.exp(-2 * 4 * pair.age / 0.01))
        assert pair.fidelity >= floor - 1e-12


def test_failed_swaps_and_min_fidelity_are_counted_and_the_request_still_completes():
    sc = grid(pairs=100, operations={"bsm_success": 0.7})
    sc["requests"][0]["min_fidelity"] = 0.7
    sim, res = run_checked(sc)
    req = res["requests"][0]
    assert req["status"] == "completed"
    assert sim.handles[0].losses.get("swap_failed", 0) > 0
    assert all(p.fidelity_estimated >= 0.7 for p in sim.handles[0].delivered)


def test_opportunistic_needs_its_own_session_model(tmp_path):
    topo = gml(tmp_path, [("A", "B", 10)])
    sc = {"name": "x", "seed": 1, "duration": 1.0, "topology": {"builder": "file", "path": topo},
          "hardware": {"memory": {"count": 1}, "link": {"scheme": "mim"}},
          "protocols": {"routing": "opportunistic", "purification": "bbpssw"},
          "requests": [{"src": "A", "dst": "B", "pairs": 1}]}
    with pytest.raises(ScenarioError, match="does not purify"):
        qplane.build(qplane.load_scenario(sc))
    sc["protocols"] = {"routing": "opportunistic", "swapping": "asap"}
    with pytest.raises(ScenarioError, match="needs a path-free swapping policy"):
        qplane.build(qplane.load_scenario(sc))
    sc["protocols"] = {"swapping": {"name": "opportunistic", "metric": "miles"}}
    with pytest.raises(ScenarioError, match="metric"):
        qplane.build(qplane.load_scenario(sc))


def test_compare_runs_the_three_routings_on_a_grid():
    sc = grid(pairs=40, coherence_time=0.05)
    study = compare(sc, ["protocols.routing=shortest-path,reactive,opportunistic"], seeds=1,
                    executor="serial", progress=False)
    assert not study.failures and len(study.runs) == 3
    assert [r["results"]["requests"][0]["status"] for r in study.runs] == ["completed"] * 3
    assert "opportunistic" in study.runs[2]["results"]["extra"]


def test_per_request_choice_shares_the_network_with_path_based_requests():
    # the path-based request holds the bottom row's memories when the pool starts (the pool
    # takes the memories free at that moment): the opportunistic ones stay in the rows above
    sc = grid(pairs=50, count=3, coherence_time=0.02, cutoff={"max_age": 2e-3}, routing="shortest-path")
    sc["requests"] = [
        {"src": "n2_0", "dst": "n2_2", "pairs": 50},
        {"src": "n0_0", "dst": "n1_2", "pairs": 50, "protocols": {"routing": "opportunistic"}},
        {"src": "n0_2", "dst": "n1_0", "pairs": 50, "start": 0.001, "protocols": {"routing": "opportunistic"}},
    ]
    sim, res = run_checked(sc)
    assert [r["status"] for r in res["requests"]] == ["completed"] * 3
    assert [r["protocols"]["swapping"] for r in res["requests"]] == ["asap", "opportunistic", "opportunistic"]
    view = sim.context.network.graph
    paths = res["extra"]["opportunistic"]["paths"]
    assert all(monotone(p.split("-"), view, "n1_2") for p in paths["1"])
    assert all(monotone(p.split("-"), view, "n1_0") for p in paths["2"])
    assert sim.context.services.get(OPP_POOL) is None


def test_links_and_nodes_failing_at_random_leave_the_inventory_sound():
    # growing pairs lose qubits on failed nodes (losses.node_failed), distances follow the
    # controller's view, and no memory is double-booked or leaked
    sc = grid(pairs=10**6, coherence_time=0.05, swapping={"name": "opportunistic", "max_age": 1e-3})
    sc["duration"] = 0.3
    sc["failures"] = {"links": {"mtbf": 0.05, "mttr": 0.01}, "nodes": {"mtbf": 0.2, "mttr": 0.01}}
    sim, res = run_checked(sc, every=1e-3)
    assert res["topology"]["failures"] > 5
    assert res["requests"][0]["delivered"] > 300
    assert sim.handles[0].delivered[-1].time > 0.25  # still delivering at the end: never stuck
    paths = res["extra"]["opportunistic"]["paths"]["0"]
    assert all(len(set(p.split("-"))) == len(p.split("-")) for p in paths)  # no node twice
