"""Multipartite requests end to end: GHZ states fused at a hub, checked against closed forms.

A GHZ state fused at a hub from Werner pairs of fidelity F (ideal operations, no storage noise)
is the ideal GHZ state with each party's qubit independently depolarized with the Werner
parameter w = (4F - 1)/3 (a Werner pair is Phi+ with one qubit depolarized; the hub's Clifford
circuit and the parties' Pauli corrections commute with that channel). Its fidelity, with k of
the n qubits depolarized: 1 for k = 0, 2^-(k+1) for 0 < k < n (the rest is the incoherent
mixture of |0..0> and |1..1>), 2^-n for k = n. The density backend gives it exactly; the
stabilizer backend samples it (0 or 1 per state), checked within 4 standard errors.
"""

from __future__ import annotations

import math

import pytest

import qplane
from qplane.cli import main

pytestmark = pytest.mark.usefixtures("default_plugin_loading")


def closed_form(ws: list[float]) -> float:
    """GHZ fidelity with qubit i depolarized with parameter ws[i], summed over subsets."""
    n = len(ws)
    total = 0.0
    for mask in range(1 << n):
        k = bin(mask).count("1")
        p = math.prod((1 - w) if mask >> i & 1 else w for i, w in enumerate(ws))
        total += p * (1.0 if k == 0 else 0.5 ** (k + 1) if k < n else 0.5 ** n)
    return total


def star(parties: list[str], states: int, backend: str, leaves: int, fidelity: float = 0.95, **req) -> dict:
    return {
        "name": "ghz-star", "seed": 5, "duration": 30.0, "backend": backend,
        "topology": {"builder": "star", "leaves": leaves, "spacing_km": 10.0},
        "hardware": {"memory": {"count": 1, "coherence_time": None},
                     "link": {"scheme": "mim", "pair_fidelity": fidelity}},
        "requests": [{"parties": parties, "states": states, **req}],
    }


W = (4 * 0.95 - 1) / 3


@pytest.mark.parametrize("n", [3, 5])
def test_density_ghz_fidelity_is_the_closed_form_exactly(n: int) -> None:
    parties = [f"n{i}" for i in range(1, n + 1)]
    res = qplane.run(star(parties, 20, "density", leaves=n))
    r = res["requests"][0]
    assert r["status"] == "completed" and r["delivered"] == 20 and r["pairs_requested"] == 20
    assert r["parties"] == parties and (r["src"], r["dst"]) == (parties[0], parties[-1])
    assert sorted(r["paths"]) == sorted([["n0", p] for p in parties])  # the star's centre is the hub
    expected = closed_form([W] * n)
    assert r["fidelity_mean"] == pytest.approx(expected, abs=1e-9)
    assert r["fidelity_estimated_mean"] == pytest.approx(expected, abs=1e-9)


def test_the_hub_keeps_its_own_share_when_it_is_a_party() -> None:
    res = qplane.run(star(["n0", "n1", "n2"], 10, "density", leaves=3))
    r = res["requests"][0]
    assert r["status"] == "completed"
    assert sorted(r["paths"]) == [["n0", "n1"], ["n0", "n2"]]  # two pairs for three parties
    assert r["fidelity_mean"] == pytest.approx(closed_form([1.0, W, W]), abs=1e-9)


@pytest.mark.parametrize("n", [3, 5])
def test_stabilizer_agrees_with_the_closed_form_within_four_standard_errors(n: int) -> None:
    states = 600
    res = qplane.run(star([f"n{i}" for i in range(1, n + 1)], states, "stabilizer", leaves=n))
    r = res["requests"][0]
    assert r["status"] == "completed" and r["delivered"] == states
    expected = closed_form([W] * n)
    se = math.sqrt(expected * (1 - expected) / states)
    assert abs(r["fidelity_mean"] - expected) < 4 * se


def test_the_fidelity_backend_cannot_and_says_which_can(capsys, tmp_path) -> None:
    import json

    path = tmp_path / "ghz.json"
    path.write_text(json.dumps(star(["n1", "n2", "n3"], 5, "fidelity", leaves=3)))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "multipartite" in err and "density" in err and "stabilizer" in err


@pytest.mark.parametrize("request_, field", [
    ({"parties": ["n1", "n2", "n9"], "states": 2}, "requests.0.parties.2"),
    ({"parties": ["n1", "n2"], "states": 2}, "requests.0.parties"),
    ({"parties": ["n1", "n2", "n1"], "states": 2}, "requests.0"),
    ({"parties": ["n1", "n2", "n3"], "pairs": 2}, "requests.0"),
])
def test_bad_parties_end_in_one_line_naming_the_field(request_, field, capsys, tmp_path) -> None:
    import json

    data = star(["n1", "n2", "n3"], 1, "density", leaves=3)
    data["requests"] = [request_]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f": {field}" in err, err


def test_same_seed_same_ghz_numbers() -> None:
    data = star(["n1", "n2", "n3", "n4"], 50, "stabilizer", leaves=4)
    a, b = qplane.run(data), qplane.run(data)
    assert a["requests"] == b["requests"]


@pytest.mark.parametrize("backend, n, states", [("density", 3, 1500), ("stabilizer", 3, 3000), ("stabilizer", 5, 3000)])
def test_mermin_value_matches_its_closed_form(backend: str, n: int, states: int) -> None:
    import qplane_physics as physics

    data = star([f"n{i}" for i in range(1, n + 1)], states, backend, leaves=n, fidelity=0.9,
                protocols={"application": "mermin"})
    res = qplane.run(data)
    row = res["extra"]["mermin"]["requests"][0]
    assert row["measured"] == states and row["M_ideal"] == 2 ** (n - 1)
    w = (4 * 0.9 - 1) / 3
    expected = physics.mermin_value(n, w)
    assert expected == pytest.approx(2 ** (n - 1) * w ** n)
    assert abs(row["M"] - expected) < 4 * row["M_stderr"], (row["M"], expected, row["M_stderr"])
    assert row["M"] > row["local_bound"]  # w = 0.867: the states still violate local realism


def test_a_rate_ghz_request_is_served_until_its_end() -> None:
    data = star(["n1", "n2", "n3"], 1, "stabilizer", leaves=3)
    data["requests"] = [{"parties": ["n1", "n2", "n3"], "rate": 10.0, "end": 0.05}]
    r = qplane.run(data)["requests"][0]
    assert r["status"] == "completed" and r["delivered"] > 10 * 0.05
    assert r["reason"].startswith("served") and r["pairs_requested"] is None


def test_a_leg_that_loses_its_only_path_fails_the_request_naming_it() -> None:
    data = star(["n1", "n2", "n3"], 10**5, "stabilizer", leaves=3)
    data["events"] = [{"at": 0.001, "link": ["n0", "n2"]}]
    r = qplane.run(data)["requests"][0]
    assert r["status"] == "failed"
    assert "pairs n0-n2" in r["reason"] and "link n0-n2 down" in r["reason"], r["reason"]
    assert 0 < r["delivered"]  # served until the failure


def test_a_party_cut_off_before_the_start_is_no_path() -> None:
    data = star(["n1", "n2", "n3"], 5, "stabilizer", leaves=3)
    data["events"] = [{"at": 0.0, "node": "n3"}]
    data["requests"][0]["start"] = 0.001
    r = qplane.run(data)["requests"][0]
    assert r["status"] == "no_path" and "n3" in r["reason"], r["reason"]


def test_the_memory_inventory_is_clean_after_ghz_runs() -> None:
    from qplane_engine.sim import build

    data = star(["n1", "n2", "n3", "n4"], 40, "stabilizer", leaves=4)
    data["events"] = [{"at": 0.002, "link": ["n0", "n2"], "down_for": 0.001}]
    sim = build(qplane.load_scenario(data))
    sim.run()
    sim.check_memory_invariants(final=True)


def test_an_unreachable_min_fidelity_ends_before_any_pair_saying_why() -> None:
    data = star(["n1", "n2", "n3"], 5, "density", leaves=3, min_fidelity=0.99)
    r = qplane.run(data)["requests"][0]
    assert r["status"] == "fidelity_unreachable" and r["delivered"] == 0
    expected = closed_form([W] * 3)  # the best case: Werner legs of F = 0.95, no waiting
    assert f"best-case GHZ fidelity {expected:.4f} from hub n0 is below min_fidelity 0.99" in r["reason"], r["reason"]


def test_the_legs_use_the_request_s_own_purification() -> None:
    data = star(["n1", "n2", "n3"], 30, "density", leaves=3, protocols={"purification": "dejmps"})
    data["hardware"]["memory"]["count"] = 2
    plain = qplane.run(star(["n1", "n2", "n3"], 30, "density", leaves=3))["requests"][0]
    r = qplane.run(data)["requests"][0]
    assert r["status"] == "completed" and r["protocols"]["purification"] == "dejmps"
    assert r["fidelity_mean"] > plain["fidelity_mean"] + 0.02  # purified legs: a better GHZ state (0.90 vs 0.86)


def test_too_few_parties_is_not_mistaken_for_a_parameter_study(capsys, tmp_path) -> None:
    import json

    data = star(["n1", "n2"], 2, "density", leaves=3)
    path = tmp_path / "two.json"
    path.write_text(json.dumps(data))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "requests.0.parties: List should have at least 3 items" in err and "parameter study" not in err, err
