"""The northbound API, driven over HTTP on loopback against real services (uvicorn)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from qplane.errors import QPlaneError
from qplane.hookspecs import hookimpl
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry

from qplane_northbound.client import Client
from qplane_northbound.service import Service, is_loopback
from qplane_northbound.spec import openapi_text
from qplane_northbound.twin import DigitalTwin

COMMITTED_OPENAPI = Path(__file__).resolve().parents[1] / "openapi.json"


def test_submit_then_follow_the_stream_to_completion(client: Client, service: Service) -> None:
    r = client.http.post("/requests", json={"src": "n0", "dst": "n4", "pairs": 12, "min_fidelity": 0.5})
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/requests/{body['id']}"
    assert body["origin"] == "api" and body["status"] in ("pending", "waiting", "active")
    assert body["start_s"] == pytest.approx(body["accepted_at_s"])

    events = list(client.events(body["id"], timeout=20))
    kinds = [e for e, _ in events]
    assert kinds[0] == "status" and events[0][1]["status"] == "pending"
    pairs = [d for e, d in events if e == "pair"]
    assert [p["index"] for p in pairs] == list(range(12))
    assert all(0.5 < p["fidelity"] <= 1.0 for p in pairs)
    last_event, last = events[-1]
    assert last_event == "status" and last["final"] and last["status"] == "completed"
    assert last["reason"] == "12 pairs delivered" and last["delivered"] == 12

    state = client.get(body["id"])
    assert state["status"] == "completed" and state["final"]
    assert state["delivered"] == 12 and state["stats"]["count"] == 12
    fids = [p["fidelity"] for p in pairs]
    assert state["fidelity_mean"] == pytest.approx(sum(fids) / 12)
    assert state["stats"]["fidelity"]["min"] == min(fids) and state["stats"]["fidelity"]["max"] == max(fids)
    assert state["stats"]["first_at_s"] == pairs[0]["sim_time_s"] and state["stats"]["last_at_s"] == pairs[-1]["sim_time_s"]
    assert state["window"] == {"capacity": 1000, "first": 0, "size": 12}
    assert state["path"] == ["n0", "n1", "n2", "n3", "n4"]
    assert state["finished_at_s"] >= state["start_s"]
    assert any(s["id"] == body["id"] and s["status"] == "completed" for s in client.list(status="completed"))


def test_the_stream_resumes_after_last_event_id(client: Client) -> None:
    rid = client.submit(src="n0", dst="n2", pairs=3)["id"]
    whole = list(client.events(rid, timeout=20))
    with client.http.stream("GET", f"/requests/{rid}/events", headers={"Last-Event-ID": "1"}) as resp:
        text = resp.read().decode()
    assert text.startswith("id: 2\n")  # events 0 and 1 are not sent again
    assert text.count("event: ") == len(whole) - 2


def test_cancel_ends_the_request_and_its_stream(client: Client) -> None:
    rid = client.submit(src="n0", dst="n4", rate=10.0, end=500.0)["id"]
    got: list[tuple[str, dict]] = []
    reader = threading.Thread(target=lambda: got.extend(client.events(rid, timeout=20)))
    reader.start()
    time.sleep(0.1)
    r = client.http.delete(f"/requests/{rid}")
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert r.json()["reason"] == f"cancelled by the application (DELETE /requests/{rid})"
    reader.join(10)
    assert got[-1][0] == "status" and got[-1][1]["status"] == "cancelled" and got[-1][1]["final"]
    again = client.http.delete(f"/requests/{rid}")
    assert again.status_code == 409 and "already ended cancelled" in again.json()["detail"]


def test_unknown_request_ids_answer_404(client: Client) -> None:
    for method, path in (("GET", "/requests/99999"), ("DELETE", "/requests/99999"),
                         ("GET", "/requests/99999/events")):
        r = client.http.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.json()["detail"] == "no request 99999"


GOOD = {"src": "n0", "dst": "n4", "pairs": 5}


@pytest.mark.parametrize("change, loc, words", [
    ({"min_fidelity": 1.5}, ["body", "min_fidelity"], "less than or equal to 1"),
    ({"min_fidelity": -0.1}, ["body", "min_fidelity"], "greater than or equal to 0"),
    ({"pairs": 0}, ["body", "pairs"], "greater than or equal to 1"),
    ({"pairs": 10**9}, ["body", "pairs"], "less than or equal to 1000000"),
    ({"pairs": "many"}, ["body", "pairs"], "valid integer"),
    ({"pairs": None, "rate": 1e12, "end": 1.0}, ["body", "rate"], "less than or equal to"),
    ({"pairs": None, "rate": 5.0}, ["body", "end"], "needs an 'end'"),
    ({"rate": 5.0, "end": 1.0}, ["body", "rate"], "exactly one of 'pairs' and 'rate'"),
    ({"pairs": None}, ["body", "pairs"], "exactly one of 'pairs' and 'rate'"),
    ({"start": 2.0, "end": 1.0}, ["body", "end"], "after 'start'"),
    ({"dst": "n0"}, ["body", "dst"], "must differ"),
    ({"src": "x9"}, ["body", "src"], "node 'x9' is not in the topology (nodes: n0, n1"),
    ({"dst": "x9"}, ["body", "dst"], "node 'x9' is not in the topology"),
    ({"colour": "blue"}, ["body", "colour"], "Extra inputs are not permitted"),
    ({"protocols": {"teleport": "yes"}}, ["body", "protocols", "teleport"], "Extra inputs"),
    ({"protocols": {"routing": "no-such-router"}}, ["body", "protocols", "routing"], "unknown router 'no-such-router'"),
    ({"src": None}, ["body", "src"], "give 'src' and 'dst', or 'parties'"),
    ({"src": None, "dst": None, "pairs": None, "parties": ["n0", "n1"], "states": 2}, ["body", "parties"],
     "at least 3 items"),
    ({"src": None, "dst": None, "pairs": None, "parties": ["n0", "n1", "n0"], "states": 2}, ["body", "parties"],
     "must all differ"),
    ({"parties": ["n0", "n1", "n2"]}, ["body", "src"], "does not go with 'parties'"),
    ({"src": None, "dst": None, "pairs": None, "parties": ["n0", "n1", "x9"], "states": 2}, ["body", "parties", 2],
     "node 'x9' is not in the topology"),
    ({"src": None, "dst": None, "pairs": None, "parties": ["n0", "n1", "n2"], "states": 2}, ["body", "parties"],
     "lacks capability 'multipartite'"),  # the chain runs on the fidelity backend
])
def test_bad_requests_answer_422_naming_the_field(client: Client, change: dict, loc: list, words: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None or k in ("src",)}
    r = client.http.post("/requests", json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert errors[0]["loc"] == loc, errors
    assert words in errors[0]["msg"], errors


def test_a_ghz_request_over_the_api_completes_with_its_states(make_service, make_chain) -> None:
    svc = make_service(make_chain(backend="density"), speed=None)
    with Client(svc.url) as c:
        r = c.http.post("/requests", json={"parties": ["n0", "n2", "n4"], "states": 3})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        events = list(c.events(rid, timeout=20))
        assert events[-1][1]["status"] == "completed" and events[-1][1]["reason"] == "3 GHZ states delivered"
        state = c.get(rid)
        assert state["parties"] == ["n0", "n2", "n4"] and state["states"] == 3 and state["delivered"] == 3
        assert 0.25 < state["fidelity_mean"] < 1.0


def test_non_finite_and_malformed_bodies_answer_422(client: Client) -> None:
    r = client.http.post("/requests", content=b'{"src": "n0", "dst": "n4", "pairs": 3, "min_fidelity": NaN}',
                         headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "min_fidelity"]
    r = client.http.post("/requests", content=b'{"src": "n0", ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_oversized_bodies_answer_413(client: Client) -> None:
    big = {**GOOD, "protocols": {"routing": {"name": "shortest-path", "note": "x" * 20000}}}
    r = client.http.post("/requests", json=big)
    assert r.status_code == 413 and "16384" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(40):
            yield b" " * 1000

    r = client.http.post("/requests", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_token_guards_every_mutating_call(make_service) -> None:
    svc = make_service(token="s3cret")
    http = httpx.Client(base_url=svc.url, timeout=10)
    r = http.post("/requests", json=GOOD)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert http.post("/requests", json=GOOD, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.post("/requests", json=GOOD, headers={"Authorization": "Basic s3cret"}).status_code == 401
    ok = http.post("/requests", json=GOOD, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 201
    rid = ok.json()["id"]
    assert http.delete(f"/requests/{rid}").status_code == 401
    assert http.get(f"/requests/{rid}").status_code == 200  # reads stay open
    assert http.get("/topology").status_code == 200
    http.close()


def test_listening_beyond_loopback_needs_a_token(make_chain) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    twin = DigitalTwin(make_chain(2), speed=None)
    with pytest.raises(QPlaneError, match="a token is required"):
        Service(twin, "0.0.0.0", 0)
    Service(twin, "0.0.0.0", 0, token="t")  # allowed (not started)


def test_the_committed_openapi_document_is_the_served_one(client: Client) -> None:
    served = client.http.get("/openapi.json").json()
    committed = json.loads(COMMITTED_OPENAPI.read_text())
    assert served == committed, "regenerate: python -m qplane_northbound.spec > interfaces/northbound/openapi.json"
    assert openapi_text(served) == COMMITTED_OPENAPI.read_text()


def test_topology_links_metrics_and_health(client: Client) -> None:
    topo = client.topology()
    assert [n["name"] for n in topo["nodes"]] == ["n0", "n1", "n2", "n3", "n4"]
    assert all(n["up"] and n["in_view"] and not n["remote"] for n in topo["nodes"])
    assert topo["manager"] == "oracle" and topo["ready"] and len(topo["links"]) == 4
    links = client.links()
    assert {(l["a"], l["b"]) for l in links} == {("n0", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n4")}
    assert all(0 < l["success_probability"] < 1 and l["up"] for l in links)
    client.wait(client.submit(src="n0", dst="n1", pairs=2)["id"], timeout=20)
    m = client.stats()
    assert m["speed"] == 1.0 and m["sim_time_s"] > 0 and m["events"] > 0
    assert m["pairs_delivered"] >= 2 and m["api"]["accepted"] >= 1
    assert m["requests"]["total"] >= 1
    assert client.agents() == []
    h = client.http.get("/health")
    assert h.status_code == 200 and h.json()["state"] == "running"


def test_shutdown_cancels_every_unfinished_request_with_a_reason(make_service) -> None:
    svc = make_service()
    client = Client(svc.url)
    ids = [client.submit(src="n0", dst="n4", rate=5.0, end=1000.0)["id"] for _ in range(3)]
    got: list[tuple[str, dict]] = []
    reader = threading.Thread(target=lambda: got.extend(client.events(ids[0], timeout=20)))
    reader.start()
    time.sleep(0.1)
    results = svc.stop("maintenance")
    reader.join(10)
    client.close()
    assert got[-1][1]["status"] == "cancelled" and "maintenance" in got[-1][1]["reason"]
    assert [r["status"] for r in results["requests"]] == ["cancelled"] * 3
    assert all(r["reason"].startswith("maintenance at t=") for r in results["requests"])
    assert all(svc.twin.records[i].final is not None for i in ids)


def test_unpaced_twin_serves_as_fast_as_possible(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), speed=None)
    with Client(svc.url) as c:
        state = c.wait(c.submit(src="n0", dst="n2", pairs=50)["id"], timeout=20)
        assert state["status"] == "completed" and state["delivered"] == 50
        assert c.stats()["speed"] is None


class _Explode:
    """An application that raises on the first pair: the simulation stops."""

    def on_pair(self, request, pair):
        raise RuntimeError("boom")


class _ExplodingPlugin:
    @hookimpl
    def qplane_register_applications(self, register):
        register("explode", lambda params, sim: _Explode(), description="raises")


def test_a_failing_simulation_ends_every_request_and_refuses_new_ones(make_service, make_chain) -> None:
    registry = Registry(make_plugin_manager([_ExplodingPlugin()]))
    svc = make_service(make_chain(3), registry=registry)
    with Client(svc.url) as c:
        waiting = c.submit(src="n0", dst="n2", rate=1.0, end=1000.0, start=500.0)["id"]
        bad = c.submit(src="n0", dst="n2", pairs=5, protocols={"application": "explode"})["id"]
        assert c.wait(bad, timeout=20)["status"] == "failed"
        other = c.get(waiting)
        assert other["status"] == "failed" and "the simulation stopped: PluginError" in other["reason"]
        assert "boom" in other["reason"]
        r = c.http.post("/requests", json={"src": "n0", "dst": "n2", "pairs": 1})
        assert r.status_code == 503 and "the simulation stopped" in r.json()["detail"]
        assert c.http.get("/health").status_code == 503


def test_too_many_unfinished_requests_answer_429(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), max_unfinished=2)
    with Client(svc.url) as c:
        for _ in range(2):
            c.submit(src="n0", dst="n2", rate=1.0, end=1000.0, start=500.0)
        r = c.http.post("/requests", json={"src": "n0", "dst": "n2", "pairs": 1})
        assert r.status_code == 429 and "2 requests are unfinished (at most 2)" in r.json()["detail"]
        c.cancel(0)
        assert c.http.post("/requests", json={"src": "n0", "dst": "n2", "pairs": 1}).status_code == 201
