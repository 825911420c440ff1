"""GET /metrics in the Prometheus text format (parsed by prometheus_client's own parser), its
agreement with the JSON state, its bounded label set, and the optional OpenTelemetry spans."""

from __future__ import annotations

import time
from typing import Any

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qplane.errors import QPlaneError
from qplane.requests import RequestStatus

from qplane_northbound import prometheus as prom
from qplane_northbound import tracing
from qplane_northbound.client import Client
from qplane_northbound.service import Service
from qplane_northbound.twin import DigitalTwin

#: every metric the service exposes, by the family name the parser reports
FAMILIES = {
    "qplane_build_info": "gauge", "qplane_twin_running": "gauge", "qplane_requests": "gauge",
    "qplane_requests_unfinished": "gauge", "qplane_pairs_delivered": "counter",
    "qplane_delivered_fidelity": "histogram", "qplane_link_attempts": "counter", "qplane_link_successes": "counter",
    "qplane_link_up": "gauge", "qplane_link_success_probability": "gauge", "qplane_links_up": "gauge",
    "qplane_links": "gauge", "qplane_node_up": "gauge", "qplane_memories": "gauge",
    "qplane_memories_reserved": "gauge", "qplane_memories_occupied": "gauge", "qplane_memory_reserved_ratio": "gauge",
    "qplane_sim_time_seconds": "gauge", "qplane_sim_lag_seconds": "gauge", "qplane_sim_speed": "gauge",
    "qplane_sim_events": "counter", "qplane_classical_messages": "counter", "qplane_agents_expected": "gauge",
    "qplane_agents_connected": "gauge", "qplane_agents_lost": "gauge", "qplane_api_requests_accepted": "counter",
    "qplane_api_requests_rejected": "counter", "qplane_api_requests_cancelled": "counter",
    "qplane_api_streams_open": "gauge", "qplane_alerts_active": "gauge", "qplane_alerts_raised": "counter",
    "qplane_links_drained": "gauge", "qplane_health_checks": "counter",
}
#: the only label names: bounded by the request statuses and the topology
LABELS = {"status", "a", "b", "node", "le", "version", "scenario", "kind"}


def scrape(c: Client) -> dict[str, Any]:
    """name -> family, parsed by prometheus_client's parser."""
    r = c.http.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def value(fams: dict[str, Any], family: str, sample: str | None = None, **labels: str) -> float:
    name = sample or family
    found = [s.value for s in fams[family].samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (family, name, labels)
    return found[0]


def test_every_metric_is_there_and_agrees_with_the_json_state(make_service) -> None:
    svc = make_service(speed=None)
    with Client(svc.url) as c:
        ids = [c.submit(src="n0", dst=dst, pairs=n)["id"] for dst, n in (("n4", 15), ("n2", 25), ("n1", 10))]
        for rid in ids:
            assert c.wait(rid, timeout=20)["status"] == "completed"
        links_before, stats_before = c.links(), c.stats()
        fams = scrape(c)
        links_after, stats_after, listed = c.links(), c.stats(), c.list()

    # every family (the speed only when paced: see the next test)
    assert {name: f.type for name, f in fams.items()} == {k: v for k, v in FAMILIES.items() if k != "qplane_sim_speed"}
    assert all(f.documentation for f in fams.values())  # every metric has a help text
    # the requests are over: what is delivered no longer changes
    delivered = sum(r["delivered"] for r in listed)
    assert delivered == 50
    assert value(fams, "qplane_pairs_delivered", "qplane_pairs_delivered_total") == delivered
    assert stats_before["pairs_delivered"] == stats_after["pairs_delivered"] == delivered
    assert value(fams, "qplane_delivered_fidelity", "qplane_delivered_fidelity_count") == delivered
    assert value(fams, "qplane_delivered_fidelity", "qplane_delivered_fidelity_bucket", le="+Inf") == delivered
    fid_sum = value(fams, "qplane_delivered_fidelity", "qplane_delivered_fidelity_sum")
    assert fid_sum / delivered == pytest.approx(stats_after["fidelity_mean"], rel=1e-12)
    buckets = [s.value for s in fams["qplane_delivered_fidelity"].samples if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    # requests by status: every status listed, the counts those of GET /stats
    by_status = {s.labels["status"]: s.value for s in fams["qplane_requests"].samples}
    assert set(by_status) == {s.value for s in RequestStatus}
    assert {k: v for k, v in by_status.items() if v} == stats_after["requests"]["by_status"]
    assert value(fams, "qplane_requests_unfinished") == stats_after["requests"]["unfinished"] == 0
    assert value(fams, "qplane_api_requests_accepted", "qplane_api_requests_accepted_total") == 3
    # links: the counters lie between two JSON snapshots taken around the scrape
    assert value(fams, "qplane_links") == len(links_after) == 4
    assert value(fams, "qplane_links_up") == sum(l["operational"] for l in links_after) == 4
    for before, after in zip(links_before, links_after):
        ab = {"a": after["a"], "b": after["b"]}
        assert before["attempts"] <= value(fams, "qplane_link_attempts", "qplane_link_attempts_total", **ab) \
            <= after["attempts"]
        assert before["pairs_generated"] <= value(fams, "qplane_link_successes", "qplane_link_successes_total", **ab) \
            <= after["pairs_generated"]
        assert value(fams, "qplane_link_up", **ab) == 1.0
        assert value(fams, "qplane_link_success_probability", **ab) == after["success_probability"]
    assert stats_before["events"] <= value(fams, "qplane_sim_events", "qplane_sim_events_total") <= stats_after["events"]
    assert stats_before["sim_time_s"] <= value(fams, "qplane_sim_time_seconds") <= stats_after["sim_time_s"]
    # unpaced: no lag and no speed
    assert value(fams, "qplane_sim_lag_seconds") == 0.0
    assert value(fams, "qplane_twin_running") == 1.0 and value(fams, "qplane_agents_connected") == 0.0


def test_memory_occupancy_and_lag_while_a_paced_request_runs(make_service) -> None:
    svc = make_service(speed=1.0)
    with Client(svc.url) as c:
        rid = c.submit(src="n0", dst="n4", rate=50.0, end=60.0)["id"]
        topo = c.topology()
        seen_reserved = 0.0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fams = scrape(c)
            for n in topo["nodes"]:
                node = {"node": n["name"]}
                total = value(fams, "qplane_memories", **node)
                reserved = value(fams, "qplane_memories_reserved", **node)
                assert total == n["memories"] and 0 <= reserved <= total
                assert 0 <= value(fams, "qplane_memories_occupied", **node) <= total
                assert value(fams, "qplane_memory_reserved_ratio", **node) == pytest.approx(reserved / total)
                assert value(fams, "qplane_node_up", **node) == 1.0
            seen_reserved = max(seen_reserved, sum(s.value for s in fams["qplane_memories_reserved"].samples))
            if seen_reserved:
                break
            time.sleep(0.05)
        assert seen_reserved > 0  # the request's session holds memories along its path
        assert {name: f.type for name, f in fams.items()} == FAMILIES
        assert value(fams, "qplane_sim_speed") == 1.0
        assert 0.0 <= value(fams, "qplane_sim_lag_seconds") < 5.0
        c.cancel(rid)
        assert value(scrape(c), "qplane_api_requests_cancelled", "qplane_api_requests_cancelled_total") == 1


def test_labels_stay_bounded_whatever_the_number_of_requests(make_service) -> None:
    svc = make_service(speed=None)
    with Client(svc.url) as c:
        c.wait(c.submit(src="n0", dst="n1", pairs=1)["id"], timeout=20)
        series_one = {(s.name, tuple(sorted(s.labels.items()))) for f in scrape(c).values() for s in f.samples}
        for rid in [c.submit(src="n0", dst="n2", pairs=1)["id"] for _ in range(30)]:
            c.wait(rid, timeout=20)
        fams = scrape(c)
    series_many = {(s.name, tuple(sorted(s.labels.items()))) for f in fams.values() for s in f.samples}
    assert series_many == series_one  # the same series: no label per request
    assert {k for _, labels in series_many for k, _ in labels} <= LABELS
    assert value(fams, "qplane_pairs_delivered", "qplane_pairs_delivered_total") == 31


def test_metrics_is_a_read_open_to_all_like_the_other_gets(make_service) -> None:
    svc = make_service(token="s3cret")
    with httpx.Client(base_url=svc.url) as anon:
        assert anon.get("/metrics").status_code == 200
        assert anon.get("/stats").status_code == 200
        assert anon.post("/metrics").status_code == 405  # nothing to mutate there
        assert anon.post("/requests", json={"src": "n0", "dst": "n1", "pairs": 1}).status_code == 401


def test_each_service_has_its_own_registry(make_service, make_chain) -> None:
    one, two = make_service(speed=None), make_service(make_chain(3), speed=None)
    with Client(one.url) as c1, Client(two.url) as c2:
        c1.wait(c1.submit(src="n0", dst="n1", pairs=3)["id"], timeout=20)
        f1, f2 = scrape(c1), scrape(c2)
    assert value(f1, "qplane_pairs_delivered", "qplane_pairs_delivered_total") == 3
    assert value(f2, "qplane_pairs_delivered", "qplane_pairs_delivered_total") == 0
    assert value(f1, "qplane_links") == 4 and value(f2, "qplane_links") == 2
    assert one.app.state.prometheus is not two.app.state.prometheus
    # nothing went to the process-wide default registry
    assert not [n for n in prometheus_client.REGISTRY._names_to_collectors if n.startswith("qplane_")]


def test_a_scrape_of_a_twin_that_does_not_run_is_refused(make_chain) -> None:
    twin = DigitalTwin(make_chain(2), speed=None)
    collector = prom.TwinCollector(twin, {})
    with pytest.raises(QPlaneError, match="starting"):
        list(collector.collect())


def test_a_span_per_request_life_cycle(make_chain) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is in requirements-dev.txt")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    twin = DigitalTwin(make_chain(), speed=None)
    assert tracing.available()
    spans_hook = tracing.instrument(twin, tracer_provider=provider)
    assert tracing.instrument(twin) is spans_hook  # once per twin: the service's own call adds none
    svc = Service(twin, "127.0.0.1", 0).start()
    try:
        with Client(svc.url) as c:
            t0 = time.time_ns()
            done = c.submit(src="n0", dst="n3", pairs=7)
            c.wait(done["id"], timeout=20)
            cancelled = c.submit(src="n0", dst="n4", rate=5.0, end=1000.0)
            c.cancel(cancelled["id"])
            c.wait(cancelled["id"], timeout=20)
            t1 = time.time_ns()
    finally:
        svc.stop()
    spans = {s.attributes["qplane.request.id"]: s for s in exporter.get_finished_spans()}
    assert set(spans) == {done["id"], cancelled["id"]}  # one span per request
    s = spans[done["id"]]
    assert s.name == tracing.SPAN_NAME
    assert s.attributes["qplane.request.src"] == "n0" and s.attributes["qplane.request.dst"] == "n3"
    assert s.attributes["qplane.request.status"] == "completed" and s.attributes["qplane.request.delivered"] == 7
    assert s.attributes["qplane.request.pairs"] == 7 and s.attributes["qplane.request.origin"] == "api"
    assert t0 - 1_000_000_000 <= s.start_time <= s.end_time <= t1  # from acceptance to the final status
    assert s.status.status_code != StatusCode.ERROR
    x = spans[cancelled["id"]]
    assert x.attributes["qplane.request.status"] == "cancelled" and x.attributes["qplane.request.rate"] == 5.0
    assert "DELETE" in x.attributes["qplane.request.reason"]
