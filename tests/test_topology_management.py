"""Topology management: discovery, probing, failures, detection, re-routing and recovery."""

from __future__ import annotations

import math

import networkx as nx
import pytest

import qplane
from qplane.hookspecs import hookimpl
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry
from qplane_devkit.conformance import chain_scenario
from qplane_entanglement import swapping

C = 2e5  # km/s


def build(sc, registry=None):
    return qplane.build(qplane.load_scenario(sc), registry)


def lldp(**params):
    return {"name": "lldp", **params}


# ------------------------------------------------------------------------------ discovery


def _mesh_file(tmp_path, n=30, seed=3):
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=seed)
    rng = __import__("random").Random(seed)
    h = nx.Graph()
    for u, v in g.edges:
        h.add_edge(f"m{u}", f"m{v}", length_km=round(rng.uniform(5, 60), 3))
    path = tmp_path / "mesh.graphml"
    nx.write_graphml(h, path)
    return {"builder": "file", "path": str(path)}


@pytest.mark.parametrize("topology", [
    {"builder": "chain", "nodes": 7, "spacing_km": 25},
    {"builder": "grid", "rows": 4, "cols": 5, "spacing_km": 15},
    "mesh",
])
def test_discovery_converges_to_the_truth_within_the_classical_bound(topology, tmp_path):
    if topology == "mesh":
        topology = _mesh_file(tmp_path)
    sc = chain_scenario(2, pairs=5)
    sc["topology"] = topology
    sc["requests"] = []
    sim = build(sc)
    first = next(iter(sim.network.nodes))
    sc["requests"] = [{"src": first, "dst": list(sim.network.graph[first])[0], "pairs": 5}]
    sc["protocols"]["topology_manager"] = lldp(hello_wait=1e-3)
    sim = build(sc)
    res = sim.run()
    topo = res["topology"]
    assert topo["discovery_complete"] is True
    controller = topo["controller"]
    # reports leave at hello_wait and travel the shortest fibre route to the controller
    bound = 1e-3 + max(sim.network.classical_delay(n, controller) for n in sim.network.nodes)
    assert 1e-3 < topo["discovery_converged_s"] <= bound + 1e-12
    # routing waited for discovery: the first pair cannot come before convergence
    assert res["requests"][0]["status"] == "completed"
    assert sim.handles[0].delivered[0].time > topo["discovery_converged_s"]


def test_a_hello_wait_shorter_than_a_link_misses_it():
    sc = chain_scenario(3, 100.0, pairs=5)  # 100 km: hellos take 0.5 ms
    sc["protocols"]["topology_manager"] = lldp(hello_wait=2e-4)
    res = build(sc).run()
    assert res["topology"]["discovery_complete"] is False
    assert res["requests"][0]["status"] == "no_path"


# ---------------------------------------------------------------------------------- probing


def test_probe_estimates_fidelity_and_success_rate_within_statistical_error():
    n, f = 3000, 0.9
    sc = chain_scenario(2, 20.0, pairs=5, pair_fidelity=f)
    sc["protocols"]["topology_manager"] = lldp(probe_pairs=n)
    sim = build(sc)
    res = sim.run()
    probe = res["topology"]["probes"]["n0-n1"]
    p = sim.network.link("n0", "n1").model.success_probability
    assert probe["success_probability"] == pytest.approx(p, rel=4 * math.sqrt((1 - p) / n))
    # each basis gets n/3 pairs; <PP> has variance 1 - E^2 with |E| = (4F-1)/3
    e = (4 * f - 1) / 3
    se_f = math.sqrt(3 * (1 - e * e) / (n / 3)) / 4
    assert probe["fidelity"] == pytest.approx(f, abs=4 * se_f)
    # the controller's view uses the estimates
    edge = sim.network.view()["n0"]["n1"]
    assert edge["link"].pair_state[0] == pytest.approx(probe["fidelity"])


# ---------------------------------------------------------------- failures and detection


def ring_scenario(**kw):
    sc = chain_scenario(4, 20.0, **kw)
    sc["topology"] = {"builder": "ring", "nodes": 4, "spacing_km": 20.0}
    sc["requests"][0]["dst"] = "n1"
    return sc


def test_link_failure_is_detected_within_the_heartbeat_bound_and_the_request_is_rerouted():
    interval, misses = 2e-3, 3
    sc = ring_scenario(pairs=4000, count=2)
    sc["events"] = [{"at": 0.05, "link": ["n0", "n1"]}]
    sc["protocols"]["topology_manager"] = lldp(heartbeat_interval=interval, misses=misses, controller="n0")
    sim = build(sc)
    res = sim.run()
    req = res["requests"][0]
    assert req["status"] == "completed" and req["reroutes"] == 1
    assert req["paths"] == [["n0", "n3", "n2", "n1"]]
    det = res["topology"]["events"][0]
    d = 20.0 / C
    report = max(sim.network.classical_delay(e, "n0") for e in ("n0", "n1"))
    assert 0 < det["latency_s"] <= interval * misses + d + report + 1e-12
    # pairs kept coming after the re-route
    assert sim.handles[0].delivered[-1].time > det["learned_s"]


def test_a_request_whose_only_path_fails_ends_failed_saying_why():
    sc = chain_scenario(4, 20.0, pairs=10**6, count=2)
    sc["events"] = [{"at": 0.02, "link": ["n1", "n2"]}]
    sc["protocols"]["topology_manager"] = lldp(heartbeat_interval=1e-3)
    res = build(sc).run()
    req = res["requests"][0]
    assert req["status"] == "failed"
    assert req["reason"].startswith("link n1-n2 down")
    assert res["topology"]["requests_failed"] == 1
    assert res["sim_time_s"] < 0.1  # ended, did not hang until the run's end


def _record_heralds(monkeypatch):
    seen = []
    original = swapping._PathState._heralded

    def spy(self, h, ma, mb, t0):
        seen.append((self.links[h], self.clock.now))
        return original(self, h, ma, mb, t0)

    monkeypatch.setattr(swapping._PathState, "_heralded", spy)
    return seen


def _assert_no_herald_in_outages(seen):
    assert seen
    for link, t in seen:
        for start, end in link.outages:
            assert not (start <= t < (end if end is not None else math.inf)), (link.a, link.b, t, start, end)


def _assert_no_leak(sim):
    for node in sim.network.nodes.values():
        for m in node.device.all_memories():
            assert m.owner is None and m.qubit is None and m.record is None


def test_no_pair_is_made_over_a_link_while_it_is_down_and_recovery_is_used(monkeypatch):
    seen = _record_heralds(monkeypatch)
    sc = chain_scenario(3, 20.0, pairs=3000, count=2)
    sc["events"] = [{"at": 0.02, "link": ["n0", "n1"], "down_for": 0.03},
                    {"at": 0.08, "node": "n1", "down_for": 0.02}]
    sim = build(sc)  # oracle manager: the controller knows at once
    res = sim.run()
    _assert_no_herald_in_outages(seen)
    req = res["requests"][0]
    # the only path was down twice; with the oracle the request fails on the first outage
    assert req["status"] == "failed" and "link n0-n1 down" in req["reason"]
    _assert_no_leak(sim)


def test_outages_shorter_than_detection_are_ridden_out(monkeypatch):
    seen = _record_heralds(monkeypatch)
    sc = chain_scenario(3, 20.0, pairs=3000, count=2)
    sc["events"] = [{"at": 0.02, "link": ["n0", "n1"], "down_for": 0.003},
                    {"at": 0.05, "node": "n1", "down_for": 0.004}]
    sc["protocols"]["topology_manager"] = lldp(heartbeat_interval=0.01, misses=3)
    sim = build(sc)
    res = sim.run()
    req = res["requests"][0]
    assert req["status"] == "completed" and req["reroutes"] == 0
    assert res["topology"]["detections"] == 0
    assert req["losses"].get("node_failed", 0) > 0  # the node's stored qubits were lost
    _assert_no_herald_in_outages(seen)
    _assert_no_leak(sim)


def test_recovered_link_is_detected_and_used_again():
    sc = ring_scenario(pairs=10, count=1)
    sc["events"] = [{"at": 0.01, "link": ["n0", "n1"], "down_for": 0.05}]
    sc["requests"].append({"src": "n0", "dst": "n1", "pairs": 10, "start": 0.2})
    sc["protocols"]["topology_manager"] = lldp(heartbeat_interval=2e-3)
    res = build(sc).run()
    topo = res["topology"]
    assert topo["detections"] == 1 and topo["recovery_latency_mean_s"] > 0
    assert res["requests"][1]["paths"] == [["n0", "n1"]]  # the repaired link is the shortest again


def test_state_change_hooks_fire_for_every_change_and_random_failures_are_seeded():
    changes = []

    class Recorder:
        @hookimpl
        def qplane_link_state_changed(self, context, link, up):
            changes.append(("link", link.a, link.b, up, context.clock.now))

        @hookimpl
        def qplane_node_state_changed(self, context, node, up):
            changes.append(("node", node.name, up, context.clock.now))

    def once(seed):
        changes.clear()
        sc = ring_scenario(pairs=10**6, count=2, seed=seed, duration=2.0)
        sc["failures"] = {"links": {"mtbf": 0.5, "mttr": 0.05}, "nodes": {"mtbf": 2.0, "mttr": 0.1}}
        sim = build(sc, Registry(make_plugin_manager(extra_plugins=[Recorder()])))
        res = sim.run()
        _assert_no_leak(sim)
        return list(changes), res

    a, res = once(4)
    b, _ = once(4)
    assert a == b and len(a) > 4
    assert res["topology"]["failures"] == sum(1 for c in a if c[-2] is False)
    assert once(5)[0] != a
    # about duration / (mtbf + mttr) failures per link: 4 links * 2 s / 0.55 s
    link_failures = sum(1 for c in a if c[0] == "link" and c[3] is False)
    assert 4 <= link_failures <= 30


def test_failure_events_are_validated():
    sc = chain_scenario(3, pairs=5)
    sc["events"] = [{"at": 0.1, "link": ["n0", "n2"]}]
    with pytest.raises(qplane.ScenarioError, match="events.0.link"):
        build(sc)
    sc["events"] = [{"at": 0.1, "node": "n0", "link": ["n0", "n1"]}]
    with pytest.raises(qplane.ScenarioError, match="exactly one of"):
        build(sc)


def test_a_failure_on_any_path_of_a_multipath_request_reroutes_it(monkeypatch):
    seen = _record_heralds(monkeypatch)
    sc = ring_scenario(pairs=3000, count=2)
    sc["requests"][0]["dst"] = "n2"
    sc["protocols"]["routing"] = {"name": "k-shortest", "k": 2}
    sc["events"] = [{"at": 0.02, "link": ["n3", "n2"]}]  # the second of its two paths
    sim = build(sc)
    res = sim.run()
    req = res["requests"][0]
    assert req["status"] == "completed" and req["reroutes"] == 1
    assert req["paths"] == [["n0", "n1", "n2"]]
    _assert_no_herald_in_outages(seen)
    _assert_no_leak(sim)
