"""The management plane's node and topology calls: PATCH /nodes, POST/DELETE /nodes and /links.

Closed form (PATCH /nodes): on the fidelity backend with noiseless memories, a pair delivered
over two MIM links of Werner fidelity F, swapped at a repeater whose Bell measurement has a
two-qubit depolarizing gate error g, is the Bell-diagonal state of
``two_qubit_depolarize(swap(W(F), W(F)), g)``; every pair swapped after a change of g has that
value exactly.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from polling import until
import qplane_physics as physics
from qplane.scenario import load_scenario

from qplane_northbound.client import ApiError, Client

TOKEN = "topology-token"
F = 0.95


def scenario(nodes: int, manager: Any = "oracle") -> Any:
    return load_scenario({
        "name": "ops", "seed": 5, "duration": 1.0, "backend": "fidelity",
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": 20},
        "hardware": {"memory": {"count": 2}, "link": {"scheme": "mim", "pair_fidelity": F}},
        "protocols": {"topology_manager": manager},
        "requests": [],
    })


def swapped(gate_error: float) -> float:
    w = physics.to_pauli_order(physics.werner(F))
    return physics.two_qubit_depolarize(physics.swap_pauli_order(w, w), gate_error)[0]


def recent(c: Client, rid: int, since_s: float, n: int = 20) -> list[dict[str, Any]]:
    def late() -> list[dict[str, Any]]:
        page = c.pairs(rid, after=-1, limit=1000)
        got = page["pairs"]
        while page["pairs"]:
            page = c.pairs(rid, after=page["next_after"], limit=1000)
            got += page["pairs"]
        got = [p for p in got if p["sim_time_s"] > since_s]
        return got if len(got) >= n else []
    return until(late)


def test_patch_node_changes_the_swaps_gate_error_to_the_closed_form_and_rollback_restores_it(make_service: Any) -> None:
    svc = make_service(scenario(3), token=TOKEN, keep_pairs=100_000)
    with Client(svc.url, token=TOKEN) as c:
        rid = c.submit(src="n0", dst="n2", pairs=1_000_000)["id"]
        before = recent(c, rid, 0.0)
        assert all(p["fidelity"] == pytest.approx(swapped(0.0), abs=1e-12) for p in before)
        v1 = c.patch_node("n1", operations={"gate_error": 0.1})
        assert v1["changes"] == [{"target": "node", "action": "patch", "a": None, "b": None, "name": "n1",
                                  "set": {"operations.gate_error": 0.1}, "unset": []}]
        assert c.config()["nodes"] == [{"name": "n1", "memory": {}, "operations": {"gate_error": 0.1}}]
        after = recent(c, rid, v1["sim_time_s"] + 0.01)
        assert all(p["fidelity"] == pytest.approx(swapped(0.1), abs=1e-12) for p in after)
        v2 = c.rollback(0)
        back = recent(c, rid, v2["sim_time_s"] + 0.01)
        assert all(p["fidelity"] == pytest.approx(swapped(0.0), abs=1e-12) for p in back)
        assert c.config()["nodes"] == []
        c.cancel(rid)


def test_patch_node_refuses_bad_values_naming_the_field(make_service: Any) -> None:
    svc = make_service(scenario(3), token=TOKEN)
    with Client(svc.url, token=TOKEN) as c:
        for body, loc in (({"operations": {"gate_error": 2}}, ["body", "operations", "gate_error"]),
                          ({"operations": {"nope": 1}}, ["body", "operations", "nope"]),
                          ({"memory": {"count": 3}}, ["body", "memory", "count"]),
                          ({"memory": {"model": "other"}}, ["body", "memory", "model"]),
                          ({"memory": {"coherence_time": -1}}, ["body", "memory", "coherence_time"]),
                          ({"cpu": {}}, ["body", "cpu"])):
            with pytest.raises(ApiError) as e:
                c._json(c.http.patch("/nodes/n1", json=body))
            assert e.value.status == 422, body
            assert e.value.detail[0]["loc"] == loc, body
        with pytest.raises(ApiError) as e:
            c.patch_node("n9", operations={"gate_error": 0.1})
        assert e.value.status == 404
        assert c.config()["version"] == 0


def path_of(c: Client, rid: int) -> list[str] | None:
    return c.get(rid)["path"]


def test_added_links_and_nodes_are_discovered_and_used_removed_ones_never_return(make_service: Any) -> None:
    svc = make_service(scenario(4, {"name": "lldp", "hello_wait": 1e-3}), token=TOKEN)
    with Client(svc.url, token=TOKEN) as c:
        v = c.add_link("n0", "n3", 5.0)
        assert v["kind"] == "topology" and v["changes"][0]["action"] == "add"
        # lldp: the hellos over the new fibre, then the ends' reports to the controller
        assert until(lambda: any(l["in_view"] for l in c.topology()["links"] if {l["a"], l["b"]} == {"n0", "n3"}))
        rid = c.submit(src="n0", dst="n3", rate=100.0, end=100.0)["id"]
        assert until(lambda: path_of(c, rid) == ["n0", "n3"])
        with pytest.raises(ApiError) as e:
            c.add_link("n3", "n0", 5.0)
        assert e.value.status == 409 and "already in the topology" in e.value.detail

        c.remove_link("n0", "n3")  # a failure that never ends: lldp detects it, the request re-routes
        assert until(lambda: path_of(c, rid) == ["n0", "n1", "n2", "n3"])
        link = next(l for l in c.topology()["links"] if {l["a"], l["b"]} == {"n0", "n3"})
        assert link["removed"] and not link["up"] and not link["in_view"]
        with pytest.raises(ApiError) as e:
            c._json(c.http.post("/links/n0/n3/up"))
        assert e.value.status == 409 and "removed" in e.value.detail
        with pytest.raises(ApiError) as e:
            c.add_link("n0", "n3", 5.0)
        assert e.value.status == 409 and "removed" in e.value.detail
        c.cancel(rid)

        c.add_node("x", operations={"gate_error": 0.0})
        c.add_link("n3", "x", 10.0, pair_fidelity=0.9)
        r2 = c.submit(src="n0", dst="x", pairs=5)["id"]
        final = c.wait(r2)
        assert final["status"] == "completed" and final["path"] == ["n0", "n1", "n2", "n3", "x"]
        c.remove_node("x")
        node = next(n for n in c.topology()["nodes"] if n["name"] == "x")
        assert node["removed"] and not node["up"]
        with pytest.raises(ApiError) as e:
            c.add_node("x")
        assert e.value.status == 422 and "not reused" in e.value.detail[0]["msg"]
        kinds = [(h["kind"], [(ch["target"], ch["action"]) for ch in h["changes"]]) for h in c.config_history()]
        assert kinds[1:] == [("topology", [("link", "add")]), ("topology", [("link", "remove")]),
                             ("topology", [("node", "add")]), ("topology", [("link", "add")]),
                             ("topology", [("node", "remove")])]


def test_bad_additions_answer_422_naming_the_field_and_need_the_token(make_service: Any) -> None:
    svc = make_service(scenario(3), token=TOKEN)
    with Client(svc.url, token=TOKEN) as c:
        for body, loc in (({"a": "n0", "b": "zz", "length_km": 5}, ["body", "b"]),
                          ({"a": "n0", "b": "n2", "length_km": -5}, ["body", "length_km"]),
                          ({"a": "n0", "b": "n2", "length_km": 5, "link": {"pair_fidelity": 3}},
                           ["body", "link", "pair_fidelity"]),
                          ({"a": "n0", "b": "n2", "length_km": 5, "link": {"scheme": "no-such"}},
                           ["body", "link", "scheme"])):
            with pytest.raises(ApiError) as e:
                c._json(c.http.post("/links", json=body))
            assert e.value.status == 422, body
            assert e.value.detail[0]["loc"] == loc, body
        with pytest.raises(ApiError) as e:
            c.add_node("n1")
        assert e.value.status == 422 and e.value.detail[0]["loc"] == ["body", "name"]
        with pytest.raises(ApiError) as e:
            c.add_node("y", memory={"coherence_time": "long"})
        assert e.value.detail[0]["loc"] == ["body", "memory", "coherence_time"]
        assert c.config()["version"] == 0
    with httpx.Client(base_url=svc.url) as http:
        assert http.post("/nodes", json={"name": "y"}).status_code == 401
        assert http.post("/links", json={"a": "n0", "b": "n2", "length_km": 5}).status_code == 401
        assert http.delete("/links/n0/n1").status_code == 401
        assert http.delete("/nodes/n1").status_code == 401
        assert http.patch("/nodes/n1", json={"operations": {"gate_error": 0.1}}).status_code == 401
