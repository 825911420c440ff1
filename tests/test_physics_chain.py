"""End-to-end physics of a repeater chain, checked against closed forms.

Every statistical check states its tolerance in standard errors; seeds are fixed, so the
outcome is reproducible, and the tolerances are wide enough (>= 4 sigma) that a correct
implementation fails with negligible probability under any seed.
"""

from __future__ import annotations

import math

import pytest

import qplane
import qplane_physics as physics
from qplane_engine.sim import build

from qplane_devkit.conformance import chain_scenario

C_KM_S = physics.SPEED_OF_LIGHT_FIBER_KM_S


def mim_p(length_km: float, alpha: float = 0.2, det: float = 0.9, emit: float = 1.0) -> float:
    """docs/design.md: p = 0.5 * (eta_emit * eta(L/2) * eta_det) ** 2."""
    return 0.5 * (emit * 10 ** (-alpha * (length_km / 2) / 10) * det) ** 2


def run_sim(sc: dict):
    sim = build(qplane.load_scenario(sc))
    res = sim.run()
    return sim, res


# ------------------------------------------------------------------------- one link: rate


@pytest.mark.parametrize("count", [1, 4])
def test_single_mim_link_rate_is_p_over_cycle_per_memory_pair(count):
    L = 20.0
    n = 4000
    sim, res = run_sim(chain_scenario(2, L, pairs=n, count=count, seed=11))
    req = res["requests"][0]
    assert req["status"] == "completed"
    p = mim_p(L)
    cycle = L / C_KM_S  # herald delay L/c exceeds 1/attempt_rate = 1 us
    link = res["links"][0]
    assert link["success_probability"] == pytest.approx(p, rel=1e-12)
    assert link["cycle_time_s"] == pytest.approx(cycle, rel=1e-12)
    expected_rate = count * p / cycle
    # n pairs from `count` independent renewal processes with geometric(p) cycles:
    # relative standard error of the rate is sqrt(1-p)/sqrt(n)
    rel_se = math.sqrt(1 - p) / math.sqrt(n)
    assert req["rate_hz"] == pytest.approx(expected_rate, rel=4 * rel_se)
    # attempts per pair: geometric mean 1/p, relative s.e. sqrt(1-p)/sqrt(n)
    assert link["attempts"] / link["pairs_generated"] == pytest.approx(1 / p, rel=4 * rel_se)


def _interarrival_attempts(res: dict, sim, tau: float) -> list[int]:
    times = [p.time for p in sim.handles[0].delivered]
    ks = [round((b - a) / tau) for a, b in zip([0.0] + times, times)]
    return ks


def _chi2_geometric(ks: list[int], p: float) -> tuple[float, int]:
    """Pearson chi-square of attempt counts against Geometric(p); bins k=1..K-1 and >=K."""
    n = len(ks)
    K = 1
    while n * p * (1 - p) ** K >= 5:  # keep expected counts >= 5
        K += 1
    obs = [0] * (K + 1)
    for k in ks:
        obs[min(k, K)] += 1
    exp = [0.0] + [n * p * (1 - p) ** (k - 1) for k in range(1, K)] + [n * (1 - p) ** (K - 1)]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(obs[1:], exp[1:]))
    return chi2, K - 1  # degrees of freedom: K bins - 1


def test_geometric_skipping_and_per_attempt_give_the_same_distribution():
    L = 20.0
    n = 3000
    p = mim_p(L)
    tau = L / C_KM_S
    samples = {}
    for mode, seed in (("geometric", 3), ("per_attempt", 4)):
        sim, res = run_sim(chain_scenario(2, L, pairs=n, seed=seed, mode=mode))
        ks = _interarrival_attempts(res, sim, tau)
        assert len(ks) == n and min(ks) >= 1
        # each mode alone follows Geometric(p): chi-square below the 0.999 quantile
        chi2, dof = _chi2_geometric(ks, p)
        # Wilson-Hilferty 0.999 quantile of chi-square(dof)
        q999 = dof * (1 - 2 / (9 * dof) + 3.090 * math.sqrt(2 / (9 * dof))) ** 3
        assert chi2 < q999, (mode, chi2, q999)
        samples[mode] = ks
        # events: geometric mode schedules one event per pair, per-attempt one per attempt
        if mode == "geometric":
            assert res["events"] < 3 * n
        else:
            assert res["events"] > sum(ks)
    a, b = samples["geometric"], samples["per_attempt"]
    # two-sample Kolmogorov-Smirnov on the attempt counts, alpha = 0.001
    grid = range(1, max(max(a), max(b)) + 1)
    d = max(abs(sum(k <= x for k in a) / len(a) - sum(k <= x for k in b) / len(b)) for x in grid)
    assert d < 1.95 * math.sqrt((len(a) + len(b)) / (len(a) * len(b)))
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    se = math.sqrt((1 - p) / p**2 * (1 / len(a) + 1 / len(b)))
    assert abs(mean_a - mean_b) < 4 * se


# ------------------------------------------------------------------ swapping: fidelities


@pytest.mark.parametrize("f", [0.8, 0.95])
def test_two_link_chain_swap_asap_gives_werner_swap_fidelity(f):
    sim, res = run_sim(chain_scenario(3, 20.0, pairs=200, count=3, pair_fidelity=f, seed=5))
    req = res["requests"][0]
    assert req["status"] == "completed" and req["delivered"] == 200
    expected = f * f + (1 - f) ** 2 / 3  # docs/design.md, perfect operations, no storage noise
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(expected, abs=1e-12)
        assert pair.fidelity_estimated == pytest.approx(expected, abs=1e-12)


def test_four_link_chain_composes_the_swap_formula():
    f = 0.95
    sim, res = run_sim(chain_scenario(5, 20.0, pairs=100, count=2, pair_fidelity=f, seed=6))
    expected = f
    for _ in range(3):
        expected = physics.werner_swap_fidelity(expected, f)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(expected, abs=1e-12)
    assert res["requests"][0]["fidelity_stderr"] == pytest.approx(0.0, abs=1e-12)


def test_per_link_override_mixes_fidelities_in_the_swap_formula():
    sc = chain_scenario(3, 20.0, pairs=50, pair_fidelity=0.9, seed=2)
    sc["hardware"]["links"] = [{"between": ["n1", "n2"], "pair_fidelity": 0.8}]
    _, res = run_sim(sc)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(physics.werner_swap_fidelity(0.9, 0.8), abs=1e-12)


def test_gate_error_depolarizes_the_swapped_pair():
    f, g = 0.95, 0.05
    sc = chain_scenario(3, 20.0, pairs=50, pair_fidelity=f, seed=2)
    sc["hardware"]["operations"] = {"gate_error": g}
    _, res = run_sim(sc)
    expected = (1 - g) * physics.werner_swap_fidelity(f, f) + g / 4
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(expected, abs=1e-12)


def test_measurement_error_flips_the_frame_and_the_estimate_knows_on_average():
    f, e = 1.0, 0.05
    n = 3000
    sc = chain_scenario(3, 20.0, pairs=n, count=4, pair_fidelity=f, seed=9)
    sc["hardware"]["operations"] = {"measurement_error": e}
    sim, res = run_sim(sc)
    # a wrong correction leaves a Bell state orthogonal to Phi+: F = (1-e)^2 per pair on average
    expected = (1 - e) ** 2
    fids = [p.fidelity for p in sim.handles[0].delivered]
    assert set(round(x, 12) for x in fids) <= {0.0, 1.0}
    se = math.sqrt(expected * (1 - expected) / n)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(expected, abs=4 * se)
    assert res["requests"][0]["fidelity_estimated_mean"] == pytest.approx(expected, abs=1e-12)


# -------------------------------------------------------------------- storage: decoherence


@pytest.mark.parametrize("T", [1e-4, 1e-3, 1e-2])
def test_coherence_time_on_one_link_follows_the_depolarizing_formula(T):
    """Both qubits wait the herald delay L/c in memory: F = 1/4 + (F0 - 1/4) exp(-2 (L/c) / T)."""
    L, f0 = 50.0, 0.97
    sim, res = run_sim(chain_scenario(2, L, pairs=50, coherence_time=T, pair_fidelity=f0, seed=3))
    expected = 0.25 + (f0 - 0.25) * math.exp(-2 * (L / C_KM_S) / T)
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(expected, abs=1e-12)
        assert pair.fidelity_estimated == pytest.approx(expected, abs=1e-12)


def test_two_link_chain_with_decoherence_matches_the_closed_form_mean():
    """3 nodes, one memory per link end, swap-asap, depolarizing memories.

    Links herald after X1, X2 ~ Geometric(p) cycles of tau = L/c. Qubit storage adds up to
    4 tau (herald waits) + 2 |X1 - X2| tau (the earlier pair waits) + 2 tau (the swap outcome
    travels L to each end), so with w = (4F - 1)/3:
        E[w] = w0^2 exp(-6 tau / T) E[r^|X1-X2|],  r = exp(-2 tau / T),
        E[r^|D|] = p/(2-p) * (1 + 2 q r / (1 - q r)),  q = 1 - p,
    and each delivery cycle lasts (max(X1, X2) + 1) tau with E[max] = 2/p - 1/(p (2 - p)).
    """
    L, f0, T = 20.0, 0.98, 1.0e-3
    n = 4000
    sim, res = run_sim(chain_scenario(3, L, pairs=n, count=1, coherence_time=T, pair_fidelity=f0, seed=21))
    req = res["requests"][0]
    p, q, tau = mim_p(L), 1 - mim_p(L), L / C_KM_S
    r = math.exp(-2 * tau / T)
    w0 = (4 * f0 - 1) / 3
    e_w = w0**2 * math.exp(-6 * tau / T) * p / (2 - p) * (1 + 2 * q * r / (1 - q * r))
    expected_f = (3 * e_w + 1) / 4
    assert req["fidelity_mean"] == pytest.approx(expected_f, abs=4 * req["fidelity_stderr"])
    # the network's estimate tracks the same storage times exactly
    assert req["fidelity_estimated_mean"] == pytest.approx(req["fidelity_mean"], abs=1e-12)
    e_max = 2 / p - 1 / (p * (2 - p))
    expected_rate = 1 / ((e_max + 1) * tau)
    # cycle length variance: Var(max) * tau^2 ; relative s.e. of the mean cycle over n cycles
    e_max2 = sum(((1 - q**k) ** 2 - (1 - q ** (k - 1)) ** 2) * k * k for k in range(1, 2000))
    var_max = e_max2 - e_max**2
    rel_se = math.sqrt(var_max) / (e_max + 1) / math.sqrt(n)
    assert req["rate_hz"] == pytest.approx(expected_rate, rel=4 * rel_se)


# ------------------------------------------------------------------------ request statuses


def test_min_fidelity_beyond_reach_ends_fidelity_unreachable():
    sc = chain_scenario(5, 20.0, pairs=10, pair_fidelity=0.95)
    sc["requests"][0]["min_fidelity"] = 0.9  # best case over 4 links is 0.819
    _, res = run_sim(sc)
    req = res["requests"][0]
    assert req["status"] == "fidelity_unreachable"
    assert "below min_fidelity" in req["reason"] and req["delivered"] == 0


def test_pairs_below_min_fidelity_are_discarded_not_delivered():
    # storage noise makes some pairs fall under the threshold; they are dropped and counted
    sc = chain_scenario(3, 20.0, pairs=300, count=1, coherence_time=1e-3, pair_fidelity=0.98, seed=4)
    threshold = 0.55  # best case (no waiting) is 0.64, the mean about 0.5
    sc["requests"][0]["min_fidelity"] = threshold
    sim, res = run_sim(sc)
    req = res["requests"][0]
    assert req["status"] == "completed"
    assert req["discarded"] > 0
    assert min(p.fidelity_estimated for p in sim.handles[0].delivered) >= threshold


def test_deadline_ends_timed_out_with_partial_delivery():
    sc = chain_scenario(2, 20.0, pairs=10**6)
    sc["requests"][0]["end"] = 0.05
    _, res = run_sim(sc)
    req = res["requests"][0]
    assert req["status"] == "timed_out"
    assert 0 < req["delivered"] < 10**6
    assert "deadline" in req["reason"]
    # rate is delivered / served time (start to end)
    assert req["rate_hz"] == pytest.approx(req["delivered"] / 0.05)


def test_rate_request_completed_or_not_met():
    p, tau = mim_p(20.0), 20.0 / C_KM_S
    capacity = p / tau  # one memory pair
    for asked, status in ((capacity * 0.5, "completed"), (capacity * 2, "rate_not_met")):
        sc = chain_scenario(2, 20.0, pairs=1)
        sc["requests"][0].pop("pairs")
        sc["requests"][0].update(rate=asked, end=1.0)
        _, res = run_sim(sc)
        assert res["requests"][0]["status"] == status
        assert res["requests"][0]["rate_hz"] == pytest.approx(capacity, rel=0.05)


def test_second_request_waits_for_memories_under_fifo():
    sc = chain_scenario(3, 20.0, pairs=20, count=1)
    sc["requests"].append({"src": "n0", "dst": "n1", "pairs": 20})
    sim, res = run_sim(sc)
    r0, r1 = sim.handles
    assert r0.status.value == "completed" and r1.status.value == "completed"
    # request 1 shares the n0-n1 memories, so it starts after request 0 finished
    assert r1.delivered[0].time > r0.finished_at
    # no memory is left reserved or holding a qubit
    for node in sim.network.nodes.values():
        for m in node.device.all_memories():
            assert m.owner is None and m.qubit is None


def test_requests_submitted_from_code_and_cancelled():
    from qplane.requests import EntanglementRequest

    sim = build(qplane.load_scenario(chain_scenario(3, 20.0, pairs=5, count=1)))
    late = sim.submit(EntanglementRequest(src="n0", dst="n2", pairs=5, start=0.5))
    never = sim.submit(EntanglementRequest(src="n1", dst="n2", pairs=5, start=0.7))
    sim.env.call_at(0.6, sim.cancel, never)
    sim.run()
    assert late.status.value == "completed" and late.delivered[0].time >= 0.5
    assert never.status.value == "cancelled" and not never.delivered
    with pytest.raises(qplane.ScenarioError, match="n9"):
        sim.submit(EntanglementRequest(src="n0", dst="n9", pairs=1))


def test_a_link_marked_down_is_avoided_by_routing():
    sc = chain_scenario(4, 20.0, pairs=5)
    sc["topology"] = {"builder": "ring", "nodes": 4, "spacing_km": 20.0}
    sc["requests"][0]["dst"] = "n1"
    sim = build(qplane.load_scenario(sc))
    sim.set_link_state("n0", "n1", False)
    res = sim.run()
    assert res["requests"][0]["paths"] == [["n0", "n3", "n2", "n1"]]
