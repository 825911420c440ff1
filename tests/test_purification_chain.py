"""Link purification in a running network, against the closed forms (fidelity backend)."""

from __future__ import annotations

import math

import pytest

import qplane
import qplane_physics as physics
from qplane_devkit.conformance import chain_scenario


def _run(protocol: str, f: float, pairs: int = 2000, nodes: int = 2, seed: int = 3, rounds: int = 1, **extra):
    sc = chain_scenario(nodes, 20.0, pairs=pairs, count=rounds + 1, pair_fidelity=f, seed=seed, **extra)
    sc["protocols"]["purification"] = {"name": protocol, "rounds": rounds}
    return qplane.run(sc)


@pytest.mark.parametrize("protocol", ["bbpssw", "dejmps"])
def test_one_round_on_one_link_gives_the_formula_and_its_success_probability(protocol):
    f, n = 0.8, 3000
    res = _run(protocol, f, pairs=n)
    req, link = res["requests"][0], res["links"][0]
    assert req["status"] == "completed"
    if protocol == "bbpssw":
        f_expected, p_expected = physics.bbpssw(f)
    else:
        state, p_expected = physics.dejmps(physics.werner(f))
        f_expected = state[0]
    # no storage noise: every kept pair has exactly the closed-form fidelity
    assert req["fidelity_mean"] == pytest.approx(f_expected, abs=1e-12)
    assert req["fidelity_stderr"] == pytest.approx(0.0, abs=1e-12)
    # every round consumes two link pairs; successes / rounds estimates N
    rounds = link["pairs_generated"] // 2
    se = math.sqrt(p_expected * (1 - p_expected) / rounds)
    assert req["delivered"] / rounds == pytest.approx(p_expected, abs=4 * se + 1 / rounds)


def test_two_recurrence_rounds_compose():
    f = 0.75
    res = _run("bbpssw", f, pairs=300, rounds=2)
    f1, _ = physics.bbpssw(f)
    f2, _ = physics.bbpssw(f1)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(f2, abs=1e-12)


def test_purified_links_then_swapped():
    f = 0.85
    res = _run("dejmps", f, pairs=300, nodes=3)
    v, _ = physics.purify(physics.to_pauli_order(physics.werner(f)), physics.to_pauli_order(physics.werner(f)), "dejmps")
    expected = physics.swap_pauli_order(v, v)[0]
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(expected, abs=1e-12)


def test_purification_without_enough_memories_says_why():
    sc = chain_scenario(3, 20.0, pairs=5, count=1)
    sc["protocols"]["purification"] = "dejmps"
    req = qplane.run(sc)["requests"][0]
    assert req["status"] == "insufficient_resources"
    assert "needs 2 memory pairs per link" in req["reason"]
