"""End to end: every link scheme on a two-node network, measured against its model.

One memory pair per link end (``count=1``): a pair is delivered at its herald, and the next
attempts start at once, so successive deliveries are ``(k - 1) * cycle + herald_delay`` apart
with ``k ~ Geometric(p)`` attempts: mean ``m = (1/p - 1) cycle + herald_delay`` and standard
deviation ``s = sqrt(1 - p) / p * cycle``. Over ``n`` deliveries the mean inter-delivery time
(and so the rate, ``1/m``) has relative standard error ``s / (m sqrt(n))``, which reduces to
the familiar ``sqrt(1 - p)/sqrt(n)`` when ``herald_delay == cycle``. Every statistical check
allows 4 standard errors; seeds are fixed. Without memory decoherence a delivered pair's
fidelity is the model's ``pair_state`` fidelity exactly (checked to 1e-12); with a coherence
time, storage noise counts from the emission of the successful attempt.
"""

from __future__ import annotations

import math

import pytest

import qplane
import qplane_physics as physics
from qplane_engine.sim import build
from qplane_devkit.conformance import chain_scenario
from link_runs import run_link

C_KM_S = physics.SPEED_OF_LIGHT_FIBER_KM_S
SIGMAS = 4.0


def inter_delivery_times(sim) -> list[float]:
    times = [p.time for p in sim.handles[0].delivered]
    return [b - a for a, b in zip([0.0] + times, times)]


def timing_expectation(p: float, cycle: float, herald: float) -> tuple[float, float]:
    """Mean inter-delivery time and its standard deviation (geometric attempts)."""
    return (1.0 / p - 1.0) * cycle + herald, math.sqrt(1.0 - p) / p * cycle


SCHEMES = [
    # herald == cycle
    pytest.param({"scheme": "mim", "pair_fidelity": 0.97, "visibility": 0.9, "dark_count_prob": 1e-3}, id="mim"),
    pytest.param({"scheme": "direct", "pair_fidelity": 0.95, "dark_count_prob": 1e-2}, id="direct"),
    # herald < cycle: 1 / attempt_rate = 1 ms > 2 L / c = 200 us
    pytest.param({"scheme": "direct", "attempt_rate_hz": 1e3, "emit_efficiency": 0.5}, id="direct-slow"),
    # herald (3 L / 2c) > cycle (L / c)
    pytest.param({"scheme": "midpoint", "pair_probability": 0.8, "absorb_efficiency": 0.9, "pair_fidelity": 0.9},
                 id="midpoint"),
    pytest.param({"scheme": "single-click", "bright_state_population": 0.1, "visibility": 0.95,
                  "phase_stability": 0.98, "dark_count_prob": 1e-4}, id="single-click"),
]


@pytest.mark.parametrize("link", SCHEMES)
def test_scheme_rate_timing_and_fidelity(link):
    n = 2000
    sim, res, m = run_link(link, pairs=n, seed=17)
    req, summary = res["requests"][0], res["links"][0]
    assert req["status"] == "completed" and req["delivered"] == n
    assert summary["scheme"] == link["scheme"]
    assert summary["success_probability"] == m.success_probability
    assert summary["cycle_time_s"] == m.cycle_time
    p, cycle, herald = m.success_probability, m.cycle_time, m.herald_delay
    gaps = inter_delivery_times(sim)
    # each gap is the herald delay plus a whole number of cycles
    for g in gaps:
        k = (g - herald) / cycle
        assert k == pytest.approx(round(k), abs=1e-6) and round(k) >= 0
    mean, sd = timing_expectation(p, cycle, herald)
    se = sd / math.sqrt(n)
    assert sum(gaps) / n == pytest.approx(mean, abs=SIGMAS * se)
    assert req["rate_hz"] == pytest.approx(1.0 / mean, rel=SIGMAS * se / mean)
    # no decoherence: every pair is the model's heralded pair, and the network knows it
    for pair in sim.handles[0].delivered:
        assert pair.fidelity == pytest.approx(m.pair_state[0], abs=1e-12)
        assert pair.fidelity_estimated == pytest.approx(m.pair_state[0], abs=1e-12)


def test_timing_regimes_are_what_the_cases_claim():
    lengths = {}
    for param in SCHEMES:
        link = param.values[0]
        _, _, m = run_link(link, pairs=1)
        lengths[param.id] = (m.herald_delay, m.cycle_time)
    L = 20.0
    assert lengths["mim"] == pytest.approx((L / C_KM_S, L / C_KM_S))
    assert lengths["direct"] == pytest.approx((2 * L / C_KM_S, 2 * L / C_KM_S))
    assert lengths["direct-slow"] == pytest.approx((2 * L / C_KM_S, 1e-3))
    assert lengths["midpoint"] == pytest.approx((1.5 * L / C_KM_S, L / C_KM_S))


def test_single_click_trades_rate_for_fidelity():
    """Rate ~ 2 alpha eta / cycle rises about linearly in alpha; F ~ 1 - alpha falls."""
    n = 1500
    eta = 10 ** (-0.2 * 10.0 / 10) * 0.9  # one arm of a 20 km link: eta(L/2) * eta_det
    cycle = 20.0 / C_KM_S
    alphas = (0.05, 0.1, 0.2, 0.4)
    rates, fids, rel_ses = [], [], []
    for i, alpha in enumerate(alphas):
        sim, res, m = run_link({"scheme": "single-click", "bright_state_population": alpha}, pairs=n, seed=30 + i)
        req = res["requests"][0]
        p = 1 - (1 - alpha * eta) ** 2  # by hand
        assert m.success_probability == pytest.approx(p, rel=1e-12)
        rel_se = math.sqrt(1 - p) / math.sqrt(n)  # herald == cycle
        assert req["rate_hz"] == pytest.approx(p / cycle, rel=SIGMAS * rel_se)
        # linear to first order: rate / (2 alpha eta / cycle) = 1 - alpha eta / 2
        assert req["rate_hz"] / (2 * alpha * eta / cycle) == pytest.approx(1 - alpha * eta / 2, rel=SIGMAS * rel_se)
        f = 2 * (1 - alpha) / (2 - alpha * eta)  # by hand
        assert req["fidelity_mean"] == pytest.approx(f, abs=1e-12)
        assert 1 - alpha <= req["fidelity_mean"] <= 1 - alpha + alpha * eta / 2
        rates.append(req["rate_hz"])
        fids.append(req["fidelity_mean"])
        rel_ses.append(rel_se)
    assert rates == sorted(rates) and fids == sorted(fids, reverse=True)
    # doubling alpha nearly doubles the rate: p(2a) / p(a) = 2 (1 - a eta) / (1 - a eta / 2)
    a = alphas[0]
    assert rates[1] / rates[0] == pytest.approx(2 * (1 - a * eta) / (1 - a * eta / 2),
                                                rel=SIGMAS * math.hypot(rel_ses[0], rel_ses[1]))


def test_dark_counts_lower_fidelity_and_raise_rate_mim():
    """A long MIM link (a = eta(L/2) eta_det = 0.09): false heralds matter at d ~ 1e-2."""
    L, f0, n = 100.0, 0.97, 1500
    a = 10 ** (-0.2 * 50 / 10) * 0.9
    out = {}
    for i, d in enumerate((0.0, 1e-3, 1e-2)):
        sim, res, m = run_link({"scheme": "mim", "pair_fidelity": f0, "dark_count_prob": d},
                               length_km=L, pairs=n, seed=40 + i)
        req = res["requests"][0]
        p_true = 0.5 * a * a * (1 - d) ** 2
        p_false = (1 - d) ** 2 * (2 * d * (2 * a * (1 - a) + 0.5 * a * a) + 4 * d * d * (1 - a) ** 2)
        p = p_true + p_false
        assert m.success_probability == pytest.approx(p, rel=1e-12)
        # delivered fidelity: the mixture of a genuine Werner pair and I/4
        f = (p_true * f0 + p_false * 0.25) / p
        assert req["fidelity_mean"] == pytest.approx(f, abs=1e-12)
        assert req["fidelity_stderr"] == pytest.approx(0.0, abs=1e-12)
        cycle = L / C_KM_S
        rel_se = math.sqrt(1 - p) / math.sqrt(n)
        assert req["rate_hz"] == pytest.approx(p / cycle, rel=SIGMAS * rel_se)
        out[d] = (req["rate_hz"], req["fidelity_mean"], rel_se)
    assert out[0.0][1] == pytest.approx(f0, abs=1e-12)
    assert out[0.0][1] > out[1e-3][1] > out[1e-2][1]
    # the rate rise at d = 1e-2 (p from 0.0041 to 0.0075) is far beyond the noise
    r0, _, s0 = out[0.0]
    r2, _, s2 = out[1e-2]
    assert r2 - r0 > SIGMAS * math.hypot(r0 * s0, r2 * s2)


@pytest.mark.parametrize("d", [1e-3, 3e-2])
def test_dark_counts_lower_fidelity_direct_and_single_click(d):
    # direct over 60 km: a = eta(60) * 0.9 = 0.0567
    sim, res, m = run_link({"scheme": "direct", "pair_fidelity": 0.98, "dark_count_prob": d},
                           length_km=60.0, pairs=300, seed=5)
    a = 10 ** (-0.2 * 60 / 10) * 0.9
    f = (a * 0.98 + (1 - a) * d * 0.25) / (a + (1 - a) * d)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(f, abs=1e-12)
    assert f < 0.98
    # single click over 100 km: false heralds bring mostly both-dark memories (F ~ alpha (1-eta))
    alpha = 0.1
    sim, res, m = run_link({"scheme": "single-click", "bright_state_population": alpha, "dark_count_prob": d},
                           length_km=100.0, pairs=300, seed=6)
    eta = 10 ** (-0.2 * 50 / 10) * 0.9
    p_true = (1 - (1 - alpha * eta) ** 2) * (1 - d)
    p_false = (1 - alpha * eta) ** 2 * 2 * d * (1 - d)
    f_true = 2 * (1 - alpha) / (2 - alpha * eta)
    f_false = alpha * (1 - alpha) * (1 - eta) / (1 - alpha * eta) ** 2
    f = (p_true * f_true + p_false * f_false) / (p_true + p_false)
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(f, abs=1e-12)
    assert f < f_true


def test_storage_noise_counts_from_emission_for_every_scheme():
    """With depolarizing memories both qubits are charged the herald delay from the emission
    of the successful attempt: F = 1/4 + (F0 - 1/4) exp(-2 herald_delay / T) (any
    Bell-diagonal pair depolarizes this way). For ``direct`` and ``midpoint`` this overstates
    the receiver's storage (see the models' docstrings)."""
    T = 1e-3
    for link in ({"scheme": "direct", "pair_fidelity": 0.95},
                 {"scheme": "midpoint", "pair_fidelity": 0.95},
                 {"scheme": "single-click", "bright_state_population": 0.2}):
        sim, res, m = run_link(link, pairs=20, coherence_time=T)
        f0 = m.pair_state[0]
        expected = 0.25 + (f0 - 0.25) * math.exp(-2 * m.herald_delay / T)
        for pair in sim.handles[0].delivered:
            assert pair.fidelity == pytest.approx(expected, abs=1e-12)


def test_unknown_link_parameter_names_the_field():
    sc = chain_scenario(2, 20.0, pairs=1)
    sc["hardware"]["link"] = {"scheme": "single-click", "alpha": 0.1}
    with pytest.raises(qplane.ScenarioError, match=r"hardware\.link\.alpha"):
        build(qplane.load_scenario(sc))
    sc["hardware"]["link"] = {"scheme": "single-click", "bright_state_population": 0.7}
    with pytest.raises(qplane.ScenarioError, match="bright_state_population"):
        build(qplane.load_scenario(sc))


def test_schemes_mix_per_link_in_a_chain():
    """A per-link override may change the scheme; the swap formula then mixes the two pairs."""
    sc = chain_scenario(3, 20.0, pairs=50, count=2, seed=8)
    sc["hardware"]["link"] = {"scheme": "midpoint", "pair_fidelity": 0.95}
    sc["hardware"]["links"] = [{"between": ["n1", "n2"], "scheme": "single-click", "bright_state_population": 0.1}]
    sim = build(qplane.load_scenario(sc))
    res = sim.run()
    sc_link = sim.network.link("n1", "n2").model
    assert [link["scheme"] for link in res["links"]] == ["midpoint", "single-click"]
    expected = physics.swap_pauli_order(physics.to_pauli_order(physics.werner(0.95)),
                                        physics.to_pauli_order(sc_link.pair_state))[0]
    assert res["requests"][0]["fidelity_mean"] == pytest.approx(expected, abs=1e-12)
