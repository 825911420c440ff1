"""Requests from a traffic model: Poisson arrivals seeded like everything else, endpoints random
or listed, deadlines, errors that name the field."""

from __future__ import annotations

import math

import pytest

import qplane
from qplane.errors import ScenarioError
from qplane.kernel import Kernel
from qplane.traffic import TrafficContext
from qplane_scheduling import PoissonParams, PoissonTraffic


def scenario(traffic, *, seed: int = 5, duration: float = 0.05, requests: list | None = None) -> dict:
    return {
        "name": "traffic", "seed": seed, "duration": duration,
        "topology": {"builder": "grid", "rows": 3, "cols": 3, "spacing_km": 10},
        "hardware": {"memory": {"count": 2}},
        "requests": requests or [],
        "traffic": traffic,
    }


def built(sc: dict):
    return qplane.build(qplane.load_scenario(sc))


def generated(sim) -> list[qplane.EntanglementRequest]:
    return [h.request for h in sim.handles]


def test_poisson_arrivals_have_the_rate_and_exponential_gaps():
    model = PoissonTraffic(PoissonParams(rate_hz=2000.0, pairs=1, horizon=2.0))
    reqs = model.generate(TrafficContext(Kernel(11).stream("traffic"), [f"n{i}" for i in range(6)], 10.0))
    n = len(reqs)
    assert abs(n - 4000) < 4 * math.sqrt(4000)
    times = [r.start for r in reqs]
    assert times == sorted(times) and 0.0 < times[0] and times[-1] < 2.0
    gaps = [b - a for a, b in zip([0.0] + times, times)]
    mean = sum(gaps) / n
    assert abs(mean - 1 / 2000) < 4 * (1 / 2000) / math.sqrt(n)
    # exponential: P(gap > mean) = 1/e
    frac = sum(g > 1 / 2000 for g in gaps) / n
    assert abs(frac - math.exp(-1)) < 4 * math.sqrt(math.exp(-1) * (1 - math.exp(-1)) / n)
    # random endpoints: distinct, every ordered pair possible, roughly uniform
    assert all(r.src != r.dst for r in reqs)
    pairs = {(r.src, r.dst) for r in reqs}
    assert len(pairs) == 30


def test_same_seed_same_requests_and_other_components_do_not_shift_them():
    t = {"model": "poisson", "rate_hz": 800, "pairs": 3, "min_fidelity": 0.5, "deadline": 0.01, "priority": [0, 1, 2]}
    a = generated(built(scenario(t)))
    b = generated(built(scenario(t)))
    assert a == b and len(a) > 20
    assert generated(built(scenario(t, seed=6))) != a
    # a listed request and another routing protocol do not change the traffic's numbers
    sc = scenario(t, requests=[{"src": "n0_0", "dst": "n1_1", "pairs": 1}])
    sc["protocols"] = {"routing": "min-cost"}
    c = generated(built(sc))
    assert c[1:] == a
    for r in a:
        assert r.end == pytest.approx(r.start + 0.01) and r.pairs == 3 and r.min_fidelity == 0.5
        assert r.priority in (0, 1, 2)
    assert {r.priority for r in a} == {0, 1, 2}


def test_listed_endpoints_start_horizon_and_max_requests():
    t = {"model": "poisson", "rate_hz": 5000, "pairs": 1, "start": 0.01, "horizon": 0.02,
         "endpoints": [["n0_0", "n2_2"], ["n0_2", "n2_0"]]}
    reqs = generated(built(scenario(t)))
    assert {(r.src, r.dst) for r in reqs} == {("n0_0", "n2_2"), ("n0_2", "n2_0")}
    assert all(0.01 < r.start < 0.02 for r in reqs)
    assert abs(len(reqs) - 50) < 4 * math.sqrt(50)
    capped = generated(built(scenario({**t, "max_requests": 7})))
    assert capped == reqs[:7]
    # no horizon: arrivals stop at the end of the run
    assert all(r.start < 0.05 for r in generated(built(scenario({**t, "horizon": None}))))


def test_a_list_of_models_each_with_its_own_stream():
    one = {"model": "poisson", "rate_hz": 500, "pairs": 2}
    two = {"model": "poisson", "rate_hz": 300, "rate": 100.0, "deadline": 0.01, "endpoints": [["n0_0", "n0_2"]]}
    reqs = generated(built(scenario([one, two])))
    first = [r for r in reqs if r.pairs == 2]
    second = [r for r in reqs if r.rate == 100.0]
    assert len(first) + len(second) == len(reqs) and first and second
    assert reqs[: len(first)] == first  # in model order, each in arrival order
    alone = generated(built(scenario([one])))
    assert alone == first


def test_generated_requests_run_and_report_like_listed_ones(capsys, tmp_path):
    import yaml

    from qplane.cli import main

    t = {"model": "poisson", "rate_hz": 400, "pairs": 5, "min_fidelity": 0.5, "deadline": 0.03}
    path = tmp_path / "traffic.yaml"
    path.write_text(yaml.safe_dump(scenario(t, duration=0.06)))
    assert main(["run", str(path), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    import json

    res = json.loads((tmp_path / "r.json").read_text())
    assert len(res["requests"]) > 5
    for r in res["requests"]:
        assert f"\n{r['id']} " in "\n" + out.split("\n", 1)[1]  # a row per request
        if r["status"] == "completed":
            assert r["sla_met"] and r["served_fraction"] == 1.0 and r["wait_s"] > 0


@pytest.mark.parametrize("traffic,field,message", [
    ({"model": "poisson", "rate_hz": 10, "pairs": 1, "endpoints": [["n0_0", "nowhere"]]},
     "traffic.endpoints.0.1", "not in the topology"),
    ({"model": "poisson", "rate_hz": 10, "pairs": 1, "rate": 3.0}, "traffic", "exactly one of 'pairs' and 'rate'"),
    ({"model": "poisson", "rate_hz": 10, "rate": 3.0}, "traffic", "needs a 'deadline'"),
    ({"model": "poisson", "rate_hz": -1, "pairs": 1}, "traffic.rate_hz", "greater than 0"),
    ({"model": "poisson", "rate_hz": 10, "pairs": 1, "colour": "red"}, "traffic.colour", "unknown field"),
    ({"model": "bursty", "rate_hz": 10}, "traffic.model", "unknown traffic model 'bursty'; installed: "),
    ({"rate_hz": 10, "pairs": 1}, "traffic", "needs 'model: NAME'"),
    ({"model": "poisson", "rate_hz": 1e9, "pairs": 1}, "traffic.rate_hz", "requests, above the limit"),
    ([{"model": "poisson", "rate_hz": 10, "pairs": 1}, {"model": "poisson", "pairs": 1}],
     "traffic.1.rate_hz", "required"),
])
def test_bad_traffic_names_the_field(traffic, field, message):
    with pytest.raises(ScenarioError) as exc:
        built(scenario(traffic))
    assert exc.value.field == field, str(exc.value)
    assert message in str(exc.value)
