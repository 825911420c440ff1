"""Health monitoring: drift drills, alerts, draining, the alert stream.

Closed form: a MIM link (visibility 1, no dark counts) makes the Werner state of its
``pair_fidelity``; both halves wait the herald delay ``h`` in depolarizing memories of coherence
time ``T`` before they are measured, so a probe's expected fidelity is
``1/4 + (F0 - 1/4) exp(-2h/T)`` (:func:`qplane_physics.werner_after_storage`).

Tolerance of the probe: ``n`` pairs in random Pauli bases (about n/3 each) estimate
``F = (1 + <XX> - <YY> + <ZZ>)/4``; for a Werner state ``<XX> = <ZZ> = -<YY> = w = (4F - 1)/3``, each
basis mean has variance ``(1 - w^2) / (n/3)``, so ``sigma = 3 sqrt((1 - w^2) / n) / 4``. The tests
allow 5 sigma (the multinomial spread of the basis counts changes sigma by O(1/sqrt(n))).
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from polling import until
from prometheus_client.parser import text_string_to_metric_families
from qplane.scenario import load_scenario
from qplane_physics import werner_after_storage

from qplane_northbound.client import ApiError, Client
from qplane_northbound.health import HealthOptions

TOKEN = "health-token"
F0, DRIFTED = 0.95, 0.7
T_S = 0.001  # memory coherence time: the storage during the herald wait is visible


def scenario(builder: str = "chain", nodes: int = 2, coherence: float | None = T_S) -> Any:
    return load_scenario({
        "name": "health", "seed": 5, "duration": 1.0, "backend": "fidelity",
        "topology": {"builder": builder, "nodes": nodes, "spacing_km": 20},
        "hardware": {"memory": {"count": 2, "coherence_time": coherence},
                     "link": {"scheme": "mim", "pair_fidelity": F0}},
        "requests": [],
    })


def sigma(f: float, n: int) -> float:
    w = (4 * f - 1) / 3
    return 3 * math.sqrt((1 - w * w) / n) / 4


def test_a_drifted_fidelity_raises_an_alert_with_the_drifted_closed_form(make_service: Any) -> None:
    n = 20_000
    svc = make_service(scenario(), token=TOKEN, health=HealthOptions(interval=0.05, probe_pairs=n))
    with Client(svc.url, token=TOKEN) as c:
        h = c.links()[0]["herald_delay_s"]
        healthy = until(lambda: [l for l in c.health_links() if l["checked_sim_s"] > 0])
        expected = werner_after_storage(F0, 2 * h / T_S)
        assert healthy[0]["expected_fidelity"] == pytest.approx(expected, abs=1e-12)
        assert abs(healthy[0]["observed_fidelity"] - expected) < 5 * sigma(expected, n)
        assert healthy[0]["healthy"] and c.alerts() == []

        assert c.drift("n1", "n0", pair_fidelity=DRIFTED) == {"a": "n0", "b": "n1", "drift": {"pair_fidelity": DRIFTED},
                                                              "version": 0}
        assert c.config()["version"] == 0  # hardware drifted: no configuration version
        assert c.links()[0]["pair_fidelity"] == pytest.approx(DRIFTED)  # the physical model
        alerts = until(lambda: c.alerts(active=True))
        assert [(a["kind"], a["link"]) for a in alerts] == [("fidelity", ["n0", "n1"])]
        alert = alerts[0]
        drifted = werner_after_storage(DRIFTED, 2 * h / T_S)
        assert alert["expected"] == pytest.approx(expected, abs=1e-12)  # the configured model's
        assert abs(alert["observed"] - drifted) < 5 * sigma(drifted, n), (alert["observed"], drifted)
        assert alert["resolved_sim_s"] is None and alert["drained"] is False and alert["raised_wall"] > 0

        c.end_drift("n0", "n1")
        resolved = until(lambda: [a for a in c.alerts() if a["resolved_sim_s"] is not None])
        assert resolved[0]["id"] == alert["id"] and resolved[0]["resolved_sim_s"] > alert["raised_sim_s"]
        assert c.alerts(active=True) == []


def test_a_drifted_success_rate_raises_a_rate_alert_at_the_drifted_closed_form(make_service: Any) -> None:
    """MIM: p = bsa (emit T(L/2) eta)^2, so a detector efficiency drifting from 0.9 to 0.3 divides
    the success probability by 9. The probe's estimate n/attempts (n pairs, attempts negative
    binomial) has relative spread sqrt((1 - p)/n); the test allows 5 of them."""
    n = 2000
    svc = make_service(scenario(coherence=1.0), token=TOKEN,
                       health=HealthOptions(interval=0.05, probe_pairs=n, min_attempts=10**9))  # the probe's rate
    with Client(svc.url, token=TOKEN) as c:
        p0 = c.links()[0]["success_probability"]
        c.drift("n0", "n1", detector_efficiency=0.3)
        alerts = until(lambda: [a for a in c.alerts(active=True) if a["kind"] == "rate"])
        assert [a["link"] for a in alerts] == [["n0", "n1"]]
        p1 = c.links()[0]["success_probability"]
        assert p1 == pytest.approx(p0 * (0.3 / 0.9) ** 2, rel=1e-12)  # the default detector efficiency is 0.9
        assert alerts[0]["expected"] == pytest.approx(p0, rel=1e-12)
        assert abs(alerts[0]["observed"] / p1 - 1) < 5 * math.sqrt((1 - p1) / n), (alerts[0]["observed"], p1)


def test_a_healthy_network_raises_no_alert_over_many_checks(make_service: Any) -> None:
    # a ring with traffic (the rate is judged on the traffic's attempts) and idle links (on the probe's)
    svc = make_service(scenario("ring", 5, coherence=1.0), speed=4.0,
                       health=HealthOptions(interval=0.02, probe_pairs=300, min_attempts=50))
    monitor = svc.app.state.health
    with Client(svc.url) as c:
        c.submit(src="n0", dst="n2", pairs=1_000_000)
        until(lambda: monitor.checks >= 150)
        assert monitor.checks >= 150
        checks = c.health_links()
        assert len(checks) == 5 and all(l["healthy"] for l in checks)
        assert {l["rate_source"] for l in checks} == {"traffic", "probe"}
        assert c.alerts() == []


def test_drain_reroutes_around_a_drifted_link_and_puts_it_back_when_it_recovers(make_service: Any) -> None:
    svc = make_service(scenario("ring", 4, coherence=1.0), token=TOKEN,
                       health=HealthOptions(interval=0.05, probe_pairs=1000, drain=True))
    with Client(svc.url, token=TOKEN) as c:
        rid = c.submit(src="n0", dst="n2", pairs=1_000_000)["id"]
        path = until(lambda: c.get(rid)["path"])
        a, b = path[0], path[1]  # the first hop of the route taken
        c.drift(a, b, pair_fidelity=DRIFTED)
        alert = until(lambda: c.alerts(active=True))[0]
        assert alert["kind"] == "fidelity" and sorted(alert["link"]) == sorted([a, b]) and alert["drained"]
        assert sorted(until(lambda: c.stats()["topology"].get("unroutable_links"))[0]) == sorted([a, b])

        def rerouted() -> Any:
            p = c.get(rid)["path"]
            return p if p and p != path else None

        new = until(rerouted)
        assert new is not None and new[0] == "n0" and new[-1] == "n2"
        hops = {frozenset(h) for h in zip(new, new[1:])}
        assert frozenset((a, b)) not in hops, new
        assert not [l for l in c.health_links() if sorted([l["a"], l["b"]]) == sorted([a, b])][0]["routable"]
        fams = {f.name: f for f in text_string_to_metric_families(c.prometheus())}  # the same, for monitoring
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples}
        assert samples[("qplane_alerts_active", (("kind", "fidelity"),))] == 1
        assert samples[("qplane_alerts_raised_total", ())] >= 1 and samples[("qplane_links_drained", ())] == 1
        assert samples[("qplane_health_checks_total", ())] >= 1

        c.end_drift(a, b)
        until(lambda: not c.alerts(active=True))
        assert c.alerts(active=True) == [] and c.alerts()[0]["resolved_sim_s"] is not None
        assert until(lambda: not c.stats()["topology"].get("unroutable_links"))
        assert all(l["in_view"] for l in c.topology()["links"])
        c.cancel(rid)


def test_the_alert_stream_carries_alert_then_resolved_and_resumes(make_service: Any) -> None:
    svc = make_service(scenario(), token=TOKEN, health=HealthOptions(interval=0.05, probe_pairs=1000))
    with Client(svc.url, token=TOKEN) as c:
        until(lambda: c.health_links())
        c.drift("n0", "n1", pair_fidelity=DRIFTED)
        until(lambda: c.alerts(active=True))
        c.end_drift("n0", "n1")
        seen = []
        for event, data, eid in c.alert_events(timeout=20):
            seen.append((event, data["id"], eid))
            if event == "resolved":
                break
        assert [(e, i) for e, i, _ in seen] == [("alert", 1), ("resolved", 1)]
        first_id = seen[0][2]
        resumed = next(iter(c.alert_events(timeout=20, last_event_id=first_id)))
        assert resumed[0] == "resolved" and resumed[2] == seen[1][2]


def test_drift_calls_need_the_token_validate_like_patch_and_a_patch_ends_a_drift(make_service: Any) -> None:
    svc = make_service(scenario(), token=TOKEN, health=HealthOptions(interval=0.05, probe_pairs=1000))
    with httpx.Client(base_url=svc.url) as http:
        assert http.post("/links/n0/n1/drift", json={"pair_fidelity": 0.7}).status_code == 401
        assert http.delete("/links/n0/n1/drift").status_code == 401
        assert http.get("/alerts").status_code == 200  # reads stay open
    with Client(svc.url, token=TOKEN) as c:
        for body, loc in (({"pair_fidelity": 1.5}, ["body", "pair_fidelity"]),
                          ({"no_such_parameter": 1}, ["body", "no_such_parameter"]),
                          ({"scheme": "sim"}, ["body", "scheme"]), ({}, ["body"])):
            with pytest.raises(ApiError) as e:
                c.drift("n0", "n1", **body)
            assert e.value.status == 422 and e.value.detail[0]["loc"] == loc, body
        with pytest.raises(ApiError) as e:
            c.drift("n0", "n9", pair_fidelity=0.7)
        assert e.value.status == 404
        assert c.links()[0]["pair_fidelity"] == pytest.approx(F0)

        c.drift("n0", "n1", pair_fidelity=DRIFTED)
        assert until(lambda: c.alerts(active=True))
        # a configuration change of the link builds it from its configuration: the drift ends;
        # the expectation follows the configuration (a new version), so no alert stays
        v = c.patch_link("n0", "n1", pair_fidelity=0.9)
        assert v["version"] == 1 and c.links()[0]["pair_fidelity"] == pytest.approx(0.9)
        until(lambda: not c.alerts(active=True))
        assert c.alerts(active=True) == []
        check = until(lambda: [l for l in c.health_links() if l["checked_sim_s"] > v["sim_time_s"] and l["healthy"]])
        assert check[0]["drift"] is None
        h = c.links()[0]["herald_delay_s"]
        assert check[0]["expected_fidelity"] == pytest.approx(werner_after_storage(0.9, 2 * h / T_S), abs=1e-12)
