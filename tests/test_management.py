"""The operator's changes to a running network (qplane.context.Operator): link and node models,
routability, nodes and links added and removed at run time."""

from __future__ import annotations


import networkx as nx
import pytest

import qplane
import qplane_physics as physics
from qplane.errors import QPlaneError
from qplane.hal import Operations
from qplane.requests import EntanglementRequest, RequestStatus
from qplane_devkit.conformance import chain_scenario

C = 2e5  # km/s, the default classical signal speed


def scenario(manager="oracle", **extra):
    sc = chain_scenario(4, pairs=5)  # n0 - n1 - n2 - n3, 10 km links
    sc["requests"] = []
    sc["duration"] = 1.0
    sc["protocols"]["topology_manager"] = manager
    sc.update(extra)
    return sc


def build(sc):
    return qplane.build(qplane.load_scenario(sc))


def link_model(sim, scheme, length_km, **params):
    comp = sim.registry.get("link_model", scheme)
    raw = {**sim.component_params("hardware.link").model_dump(), **params}
    raw.pop("scheme", None)
    return comp.factory(comp.params.model_validate(raw), length_km)


def at(sim, t, fn, *args):
    sim.context.clock.call_at(t, fn, *args)


@pytest.mark.parametrize("manager", ["oracle", {"name": "lldp", "hello_wait": 1e-3}])
def test_a_link_model_change_reaches_the_controllers_view(manager):
    sim = build(scenario(manager))
    link = sim.context.network.link("n1", "n2")
    new = link_model(sim, link.scheme, link.length_km, pair_fidelity=0.8)
    seen = {}

    def change():
        sim.set_link_model("n1", "n2", new)
        seen["now"] = sim.context.network.view()["n1"]["n2"]["link"]

    at(sim, 0.01, change)
    sim.run()
    assert link.model is new
    assert seen["now"] is new  # routing ranks paths with the new model at once
    assert sim.context.network.truth_view()["n1"]["n2"]["link"] is new


def test_an_added_link_is_discovered_by_lldp_hellos_and_used_by_routing():
    sim = build(scenario({"name": "lldp", "hello_wait": 1e-3}))
    t_add, t_req = 0.05, 0.2
    short = 5.0

    def add():
        model = link_model(sim, "mim", short)
        sim.add_link("n0", "n3", short, model, "mim")

    at(sim, t_add, add)
    handle = sim.submit(EntanglementRequest(src="n0", dst="n3", pairs=3, start=t_req))
    res = sim.run()
    assert handle.status == RequestStatus.COMPLETED
    assert list(handle.path) == ["n0", "n3"]
    (added,) = res["topology"]["additions"]
    # closed form: the hello crosses the new fibre, then the end nearest the controller reports
    g = sim.context.network.graph
    controller = res["topology"]["controller"]
    dist = nx.single_source_dijkstra_path_length(g, controller, weight="length_km")
    expected = short / C + min(dist["n0"], dist["n3"]) / C
    assert added["latency_s"] == pytest.approx(expected, rel=1e-9)
    assert added["at_s"] == pytest.approx(t_add)


def test_an_added_node_joins_with_its_first_link():
    sim = build(scenario())
    mem = sim.context.network.nodes["n0"].device.memory_model
    ops = Operations()

    def grow():
        sim.add_node("x", mem, ops)
        sim.add_link("n3", "x", 10.0, link_model(sim, "mim", 10.0), "mim")

    at(sim, 0.01, grow)
    handles = []
    at(sim, 0.02, lambda: handles.append(sim.submit(EntanglementRequest(src="n0", dst="x", pairs=3, start=0.02))))
    sim.run()
    (handle,) = handles
    assert handle.status == RequestStatus.COMPLETED
    assert list(handle.path) == ["n0", "n1", "n2", "n3", "x"]
    sim.check_memory_invariants(final=True)


def ring(manager="oracle"):
    sc = scenario(manager)
    sc["topology"] = {"builder": "ring", "nodes": 6, "spacing_km": 10}
    return sc


def test_a_removed_link_is_a_failure_that_never_ends():
    sim = build(ring())
    handle = sim.submit(EntanglementRequest(src="n0", dst="n2", rate=50.0, end=0.5))
    tries = {}

    def repair():
        try:
            sim.set_link_state("n0", "n1", True)
        except QPlaneError as e:
            tries["error"] = str(e)

    at(sim, 0.1, sim.remove_link, "n0", "n1")
    at(sim, 0.2, repair)
    res = sim.run()
    assert list(handle.paths[-1] if handle.paths else handle.path) == ["n0", "n5", "n4", "n3", "n2"]
    assert handle.reroutes == 1
    assert tries["error"] == "link n0-n1 was removed: it cannot come back"
    assert not sim.context.network.link("n0", "n1").up
    assert res["topology"]["removed_links"] == [["n0", "n1"]]
    sim.check_memory_invariants(final=True)


def test_a_removed_node_takes_its_links_and_never_returns():
    sim = build(ring())
    handle = sim.submit(EntanglementRequest(src="n0", dst="n2", rate=50.0, end=0.5))
    at(sim, 0.1, sim.remove_node, "n1")
    res = sim.run()
    assert handle.reroutes == 1
    assert "n1" not in handle.path
    assert res["topology"]["removed_nodes"] == ["n1"]
    assert res["topology"]["removed_links"] == [["n0", "n1"], ["n1", "n2"]]
    with pytest.raises(QPlaneError, match="was removed"):
        sim.set_node_state("n1", True)
    with pytest.raises(QPlaneError, match="names are not reused"):
        sim.add_node("n1", sim.context.network.nodes["n0"].device.memory_model, Operations())


def test_a_link_out_of_routing_is_avoided_and_taken_again_when_back():
    sim = build(ring())
    first = sim.submit(EntanglementRequest(src="n0", dst="n2", rate=50.0, end=0.5))
    at(sim, 0.1, sim.set_link_routable, "n0", "n1", False)
    later = sim.submit(EntanglementRequest(src="n0", dst="n2", pairs=2, start=0.2))
    at(sim, 0.3, sim.set_link_routable, "n0", "n1", True)
    last = sim.submit(EntanglementRequest(src="n0", dst="n2", pairs=2, start=0.4))
    seen = {}
    at(sim, 0.25, lambda: seen.setdefault("later", list(later.path)))
    res = sim.run()
    assert first.reroutes == 1 and "n1" not in first.path
    assert seen["later"] == ["n0", "n5", "n4", "n3", "n2"]  # routed while the link was out
    assert list(last.path) == ["n0", "n1", "n2"]
    assert sim.context.network.link("n0", "n1").up  # its physics never stopped
    assert "unroutable_links" not in res["topology"]


def test_a_node_model_change_sets_the_estimate_and_the_swaps_gate_error():
    sc = scenario()
    sc["hardware"]["operations"] = {"gate_error": 0.0}
    sim = build(sc)
    path = ["n0", "n1", "n2"]
    before = sim.best_case_fidelity(path)
    sim.set_node_model("n1", operations=Operations(gate_error=0.1))
    link = sim.context.network.link("n0", "n1")
    v = physics.to_pauli_order(link.model.pair_state)
    mem = sim.context.network.nodes["n0"].device.memory_model
    v = physics.pauli_channel(physics.pauli_channel(v, mem.pauli_probs(link.model.herald_delay)),
                              mem.pauli_probs(link.model.herald_delay))
    swapped = physics.two_qubit_depolarize(physics.swap_pauli_order(v, v), 0.1)
    assert sim.best_case_fidelity(path) == pytest.approx(swapped[0], abs=1e-12)
    assert sim.best_case_fidelity(path) < before
    with pytest.raises(QPlaneError, match="number of memories cannot change"):
        sim.set_node_model("n1", memory_model=type("M", (), {"count": mem.count + 1})())
