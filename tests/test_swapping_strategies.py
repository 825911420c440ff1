"""Swapping strategies, cutoffs, lossy Bell measurements and purification schemes, against
closed forms (fidelity backend)."""

from __future__ import annotations

import math

import pytest

import qplane
import qplane_physics as physics
from qplane_devkit.conformance import chain_scenario
from qplane_entanglement import swapping


def run(sc):
    sim = qplane.build(qplane.load_scenario(sc))
    return sim, sim.run()


def werner_v(f):
    return physics.to_pauli_order(physics.werner(f))


def test_nested_on_four_links_composes_three_werner_swaps_level_by_level(monkeypatch):
    f = 0.9
    seen = []
    original = swapping._PathState._swap

    def spy(self, i, m_src, m_dst):
        seen.append((i, m_src.record.lo, m_src.record.hi, m_dst.record.lo, m_dst.record.hi))
        return original(self, i, m_src, m_dst)

    monkeypatch.setattr(swapping._PathState, "_swap", spy)
    sc = chain_scenario(5, pairs=200, count=2, pair_fidelity=f, seed=4)
    sc["protocols"]["swapping"] = "nested"
    sim, res = run(sc)
    req = res["requests"][0]
    assert req["status"] == "completed"
    level1 = physics.werner_swap_fidelity(f, f)
    assert req["fidelity_mean"] == pytest.approx(physics.werner_swap_fidelity(level1, level1), abs=1e-12)
    # the doubling structure: nodes 1 and 3 join single links, node 2 joins two-link segments
    allowed = {(1, 0, 1, 1, 2), (3, 2, 3, 3, 4), (2, 0, 2, 2, 4)}
    assert set(seen) == allowed
    assert len(seen) == 3 * 200


def test_nested_clips_on_chains_that_are_not_a_power_of_two():
    f = 0.95
    sc = chain_scenario(6, pairs=50, count=2, pair_fidelity=f, seed=4)  # 5 links
    sc["protocols"]["swapping"] = "nested"
    _, res = run(sc)
    expected = f
    for _ in range(4):
        expected = physics.werner_swap_fidelity(expected, f)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(expected, abs=1e-12)


def test_nested_and_asap_differ_once_memories_decohere():
    out = {}
    for policy in ("asap", "nested"):
        sc = chain_scenario(5, pairs=1500, count=2, coherence_time=5e-3, pair_fidelity=0.97, seed=8)
        sc["protocols"]["swapping"] = policy
        out[policy] = run(sc)[1]["requests"][0]
    # both valid, statistically distinguishable fidelities (different waiting patterns)
    a, n = out["asap"], out["nested"]
    assert abs(a["fidelity_mean"] - n["fidelity_mean"]) > 3 * math.hypot(a["fidelity_stderr"], n["fidelity_stderr"])


def test_cutoff_bounds_the_age_of_every_delivered_pair_and_helps_fidelity():
    max_age = 1e-3  # a little below the median age (1.4 ms) without cutoff
    results = {}
    for cutoff in ("none", {"max_age": max_age}):
        sc = chain_scenario(5, pairs=800, count=2, coherence_time=2e-3, pair_fidelity=0.97, seed=12)
        sc["protocols"]["cutoff"] = cutoff
        sim, res = run(sc)
        results[str(cutoff)] = (sim, res["requests"][0])
    sim, req = results[str({"max_age": max_age})]
    ages = [p.age for p in sim.handles[0].delivered]
    assert req["status"] == "completed"
    assert max(ages) <= max_age + 1e-12
    assert req["losses"]["cutoff"] > 0
    _, plain = results["none"]
    assert max(p.age for p in results["none"][0].handles[0].delivered) > max_age
    assert req["fidelity_mean"] > plain["fidelity_mean"] + 3 * math.hypot(req["fidelity_stderr"], plain["fidelity_stderr"])
    # memories are all released at the end
    for node in sim.network.nodes.values():
        assert all(m.owner is None and m.qubit is None for m in node.device.all_memories())


def test_cutoff_parameters_are_validated():
    sc = chain_scenario(3, pairs=5)
    sc["protocols"]["cutoff"] = {"max_age": -1}
    with pytest.raises(qplane.ScenarioError, match="protocols.cutoff.max_age"):
        run(sc)


def test_linear_optics_bell_measurement_halves_the_rate_of_a_two_link_chain():
    """With one memory per link end, every end-to-end attempt takes the same time whether the
    swap succeeds or not (the ends learn either outcome after L/c), so the delivered rate is
    bsm_success times the rate with perfect swaps."""
    n = 3000
    rates = {}
    for q in (1.0, 0.5):
        sc = chain_scenario(3, pairs=n, count=1, seed=5)
        sc["hardware"]["operations"] = {"bsm_success": q}
        _, res = run(sc)
        req = res["requests"][0]
        rates[q] = req
        assert req["fidelity_mean"] == pytest.approx(1.0)
    lost = rates[0.5]["losses"]["swap_failed"]
    attempts = n + lost
    se = math.sqrt(0.25 / attempts)
    assert n / attempts == pytest.approx(0.5, abs=4 * se)
    # rate ratio: per-cycle times are iid, so the ratio estimates 0.5 with ~ the same error
    assert rates[0.5]["rate_hz"] / rates[1.0]["rate_hz"] == pytest.approx(0.5, rel=4 * 2 * se / 0.5 + 0.02)


def test_pumping_steps_compose_with_fresh_pairs():
    f = 0.75
    sc = chain_scenario(2, pairs=200, count=2, pair_fidelity=f, seed=6)
    sc["protocols"]["purification"] = {"name": "pumping", "rounds": 3, "protocol": "dejmps"}
    _, res = run(sc)
    v = werner_v(f)
    kept = v
    for _ in range(3):
        kept, _ = physics.purify(kept, v, "dejmps")
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(kept[0], abs=1e-12)
    # recurrence with 3 rounds differs (and needs 4 memory pairs)
    rec = v
    for _ in range(3):
        rec, _ = physics.purify(rec, rec, "dejmps")
    assert rec[0] != pytest.approx(kept[0], abs=1e-3)


def test_end_to_end_purification_after_swapping():
    f = 0.9
    sc = chain_scenario(3, pairs=100, count=2, pair_fidelity=f, seed=7)
    sc["protocols"]["purification"] = {"name": "bbpssw", "scope": "end-to-end"}
    _, res = run(sc)
    swapped = physics.werner_swap_fidelity(f, f)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(physics.bbpssw(swapped)[0], abs=1e-12)


@pytest.mark.parametrize("min_fidelity,rounds_needed", [(0.78, 0), (0.83, 1), (0.85, 2)])
def test_purify_until_the_estimate_reaches_min_fidelity(min_fidelity, rounds_needed):
    f = 0.8
    sc = chain_scenario(2, pairs=50, count=6, pair_fidelity=f, seed=8)
    sc["requests"][0]["min_fidelity"] = min_fidelity
    sc["protocols"]["purification"] = {"name": "dejmps", "rounds": 5, "until": "min_fidelity"}
    _, res = run(sc)
    v = werner_v(f)
    for _ in range(rounds_needed):
        v, _ = physics.purify(v, v, "dejmps")
    req = res["requests"][0]
    assert req["status"] == "completed"
    assert req["fidelity_mean"] == pytest.approx(v[0], abs=1e-12)
    assert req["fidelity_mean"] >= min_fidelity


def test_per_request_protocols_match_the_same_protocol_set_for_the_scenario():
    f = 0.8
    per_scenario = chain_scenario(2, pairs=300, count=2, pair_fidelity=f, seed=3)
    per_scenario["protocols"]["purification"] = "dejmps"
    per_request = chain_scenario(2, pairs=300, count=2, pair_fidelity=f, seed=3)
    per_request["requests"][0]["protocols"] = {"purification": "dejmps"}
    a = run(per_scenario)[1]["requests"][0]
    b = run(per_request)[1]["requests"][0]
    assert a == b
    assert b["protocols"]["purification"] == "dejmps"


@pytest.mark.parametrize("protocols,field", [
    ({"scheduling": "fifo"}, "requests.0"),
    ({"purification": "nope"}, "requests.0.protocols.purification"),
    ({"cutoff": {"max_age": 0}}, "requests.0.protocols.cutoff.max_age"),
])
def test_per_request_protocol_errors_name_the_field(protocols, field):
    sc = chain_scenario(2, pairs=3)
    sc["requests"][0]["protocols"] = protocols
    with pytest.raises(qplane.ScenarioError) as e:
        run(sc)
    assert field in str(e.value)
