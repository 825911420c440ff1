"""Bounded service state (issue 14): a request's state has a fixed size whatever it delivered,
its running aggregates agree with every pair it delivered, its recent pairs are paged, event
streams resume and close, and the number of open streams is capped."""

from __future__ import annotations

import contextlib
import json
import math
import time
from typing import Any

import httpx
import pytest

from qplane_northbound.client import Client


def _raw_events(http: httpx.Client, rid: int, last_event_id: int | None = None,
                read_timeout: float = 10.0) -> list[tuple[int | None, str, dict]]:
    """Every event of a stream as (id, event, data), reading until the server closes it (a
    stream left open fails with a read timeout: keep-alives come every 15 s only)."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    out: list[tuple[int | None, str, dict]] = []
    with http.stream("GET", f"/requests/{rid}/events", headers=headers,
                     timeout=httpx.Timeout(10.0, read=read_timeout)) as resp:
        assert resp.status_code == 200
        eid, event = None, None
        for line in resp.iter_lines():
            if line.startswith("id: "):
                eid = int(line[4:])
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((eid, event, json.loads(line[6:])))
                eid, event = None, None
    return out


def _finished(c: Client, rid: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = c.get(rid)
        if state["final"]:
            return state
        time.sleep(0.05)
    raise AssertionError(f"request {rid} did not finish within {timeout} s")


def _quantile_bounds(values: list[float], q: float) -> tuple[float, float]:
    """The exact q-quantile lies between these order statistics."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    return s[math.floor(pos)], s[math.ceil(pos)]


def test_the_state_keeps_its_size_while_pairs_pour_in(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), speed=None, keep_pairs=50)
    with Client(svc.url) as c:
        rid = c.submit(src="n0", dst="n2", rate=1e7, end=1e6)["id"]
        sizes = {}
        deadline = time.monotonic() + 40
        for target in (1_000, 20_000):
            while time.monotonic() < deadline:
                r = c.http.get(f"/requests/{rid}")
                state = r.json()
                if state["delivered"] >= target:
                    sizes[target] = len(r.content)
                    break
                time.sleep(0.05)
            assert state["delivered"] >= target, state["delivered"]
            assert state["stats"]["count"] == state["delivered"]
            assert state["window"] == {"capacity": 50, "first": state["delivered"] - 50, "size": 50}
            assert set(state["stats"]["latency"]) == {"mean_s", "min_s", "max_s", "p50_s", "p95_s", "p99_s"}
        # the same fields, only the digits of the numbers change
        assert abs(sizes[20_000] - sizes[1_000]) < 40 and sizes[20_000] < 1500, sizes
        assert len(svc.twin.records[rid].handle.delivered) <= 1  # the core keeps no pair for the service
        assert svc.twin.records[rid].handle.delivered_count >= 20_000


def test_the_aggregates_and_the_results_agree_with_every_pair_delivered(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), speed=None)
    with Client(svc.url) as c:
        rid = c.submit(src="n0", dst="n2", pairs=400, min_fidelity=0.5)["id"]
        state = _finished(c, rid)
        pairs = [d for _, e, d in _raw_events(c.http, rid) if e == "pair"]
    assert [p["index"] for p in pairs] == list(range(400)) and state["delivered"] == 400
    fid = [p["fidelity"] for p in pairs]
    est = [p["fidelity_estimated"] for p in pairs]
    lat = [p["latency_s"] for p in pairs]
    mean = math.fsum(fid) / 400
    var = math.fsum((f - mean) ** 2 for f in fid) / 399
    stats = state["stats"]
    assert stats["count"] == 400
    assert stats["fidelity"]["mean"] == pytest.approx(mean, rel=1e-12)
    assert stats["fidelity"]["variance"] == pytest.approx(var, rel=1e-9)
    assert stats["fidelity"]["stderr"] == pytest.approx(math.sqrt(var / 400), rel=1e-9)
    assert (stats["fidelity"]["min"], stats["fidelity"]["max"]) == (min(fid), max(fid))
    assert stats["fidelity_estimated"]["mean"] == pytest.approx(math.fsum(est) / 400, rel=1e-12)
    assert stats["latency"]["mean_s"] == pytest.approx(math.fsum(lat) / 400, rel=1e-12)
    for name, q in (("p50_s", 0.5), ("p95_s", 0.95), ("p99_s", 0.99)):
        lo, hi = _quantile_bounds(lat, q)  # DDSketch: within 1% of the exact quantile
        assert lo * 0.99 <= stats["latency"][name] <= hi * 1.01, (name, lo, hi, stats["latency"][name])
    assert stats["first_at_s"] == pairs[0]["sim_time_s"] and stats["last_at_s"] == pairs[-1]["sim_time_s"]
    assert state["fidelity_mean"] == stats["fidelity"]["mean"]

    results = svc.stop()
    res = next(r for r in results["requests"] if r["id"] == rid)
    assert res["delivered"] == 400 and res["status"] == "completed"
    assert res["fidelity_mean"] == pytest.approx(mean, rel=1e-12)
    assert res["fidelity_stderr"] == pytest.approx(math.sqrt(var / 400), rel=1e-9)
    assert res["latency_mean_s"] == pytest.approx(math.fsum(lat) / 400, rel=1e-12)
    lo, hi = _quantile_bounds(lat, 0.5)
    assert lo * 0.99 <= res["latency_p50_s"] <= hi * 1.01
    assert res["time_to_first_pair_s"] == pytest.approx(pairs[0]["sim_time_s"] - state["start_s"])
    assert res["sla_met"] is (mean >= 0.5)


def test_recent_pairs_are_paged_and_an_old_cursor_says_what_it_missed(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), speed=None, keep_pairs=50)
    with Client(svc.url) as c:
        rid = c.submit(src="n0", dst="n2", pairs=300)["id"]
        _finished(c, rid)
        page = c.http.get(f"/requests/{rid}/pairs", params={"limit": 1000}).json()
        assert page["delivered"] == 300 and page["window"] == {"capacity": 50, "first": 250, "size": 50}
        assert [p["index"] for p in page["pairs"]] == list(range(250, 300))
        assert page["skipped"] == 250 and page["next_after"] == 299
        page = c.http.get(f"/requests/{rid}/pairs", params={"after": 260, "limit": 10}).json()
        assert [p["index"] for p in page["pairs"]] == list(range(261, 271))
        assert page["skipped"] == 0 and page["next_after"] == 270
        page = c.http.get(f"/requests/{rid}/pairs", params={"after": 100, "limit": 5}).json()
        assert [p["index"] for p in page["pairs"]] == [250, 251, 252, 253, 254] and page["skipped"] == 149
        page = c.pairs(rid, after=299)
        assert page["pairs"] == [] and page["skipped"] == 0 and page["next_after"] == 299
        # pages follow one another to the end
        seen, after = [], -1
        while True:
            page = c.pairs(rid, after=after, limit=7)
            if not page["pairs"]:
                break
            seen += page["pairs"]
            after = page["next_after"]
        assert [p["index"] for p in seen] == list(range(250, 300))
        # the window holds what the stream sent for those pairs
        streamed = {d["index"]: d for _, e, d in _raw_events(c.http, rid) if e == "pair"}
        for p in seen:
            assert streamed[p["index"]] == {"request": rid, **p}
        for bad in ({"limit": 0}, {"limit": 1001}, {"after": -2}, {"after": "x"}):
            r = c.http.get(f"/requests/{rid}/pairs", params=bad)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "query", bad
        assert c.http.get("/requests/99999/pairs").status_code == 404


def test_a_stream_resumed_at_or_after_the_last_event_sends_the_final_status_and_closes(client: Client) -> None:
    rid = client.submit(src="n0", dst="n2", pairs=5)["id"]
    whole = _raw_events(client.http, rid)
    last_id, last_event, final = whole[-1]
    assert last_event == "status" and final["final"] and final["status"] == "completed"
    for resume in (last_id, last_id + 1, last_id + 1000, 10**30):
        got = _raw_events(client.http, rid, last_event_id=resume, read_timeout=5.0)
        assert got == [(last_id, "status", final)], resume
    # before the last event: what follows, then the end
    assert _raw_events(client.http, rid, last_event_id=last_id - 1, read_timeout=5.0) == [whole[-1]]


def test_a_stream_that_resumes_before_the_window_is_told_of_the_gap(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), speed=None, keep_pairs=50)
    with Client(svc.url) as c:
        rid = c.submit(src="n0", dst="n2", pairs=300)["id"]
        _finished(c, rid)
        got = _raw_events(c.http, rid, last_event_id=0, read_timeout=5.0)
    gap_id, kind, gap = got[0]
    assert kind == "gap" and gap_id is None and gap["missed_from"] == 1
    first_kept = got[1][0]
    assert gap["missed_to"] == first_kept - 1 and "keeps the last 50 pairs" in gap["reason"]
    ids = [eid for eid, _, _ in got[1:]]
    assert ids == list(range(first_kept, first_kept + len(ids)))
    indices = [d["index"] for _, e, d in got if e == "pair"]
    assert indices == list(range(indices[0], 300)) and len(indices) >= 50
    assert got[-1][1] == "status" and got[-1][2]["final"]


def test_open_event_streams_are_capped(make_service, make_chain) -> None:
    svc = make_service(make_chain(3), max_streams=2)
    with Client(svc.url) as c, contextlib.ExitStack() as first, contextlib.ExitStack() as second:
        rid = c.submit(src="n0", dst="n2", rate=5.0, end=1000.0)["id"]
        http1 = first.enter_context(httpx.Client(base_url=svc.url, timeout=10))
        http2 = second.enter_context(httpx.Client(base_url=svc.url, timeout=10))
        s1 = first.enter_context(http1.stream("GET", f"/requests/{rid}/events"))
        s2 = second.enter_context(http2.stream("GET", f"/requests/{rid}/events"))
        assert s1.status_code == 200 and s2.status_code == 200
        lines1 = s1.iter_lines()  # kept: dropping the iterator closes the response
        assert next(lines1) == "id: 0"
        r = c.http.get(f"/requests/{rid}/events")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "2 event streams are open (at most 2)" in r.json()["detail"]
        assert c.stats()["api"]["streams_open"] == 2
        first.close()  # the client goes away: its slot is freed
        deadline = time.monotonic() + 10
        while c.stats()["api"]["streams_open"] > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.stats()["api"]["streams_open"] == 1
        c.cancel(rid)  # the other stream ends with the request
        assert [e for e in s2.iter_lines() if e.startswith("event: ")][-1] == "event: status"
        second.close()
        assert _raw_events(c.http, rid, read_timeout=5.0)[-1][2]["status"] == "cancelled"
        while c.stats()["api"]["streams_open"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.stats()["api"]["streams_open"] == 0


def test_a_logs_snapshot_is_computed_again_only_after_a_pair() -> None:
    from qplane_northbound.stats import RequestLog

    log = RequestLog(keep=2)
    empty = log.snapshot()
    assert empty == (0, 0, log.stats.as_dict()) and empty[2]["latency"] is None
    log.add_status({"status": "waiting"})  # a status change leaves the aggregates as they were
    assert log.snapshot()[2] is empty[2]
    for k, latency in enumerate((0.1, 0.3, 0.2)):
        log.add_pair(float(k), 0.9, 0.9, latency, 0.0)
    delivered, first, stats = log.snapshot()
    assert (delivered, first) == (3, 1) and stats == log.stats.as_dict()
    assert stats["count"] == 3 and stats["latency"]["max_s"] == 0.3 and log.snapshot()[2] is stats
