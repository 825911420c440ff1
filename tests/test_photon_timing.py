"""End to end: the timing of photons (qplane_hardware.timing) on a two-node network, measured
against closed forms written here by hand.

* visibility against arrival-time mismatch: for equal Gaussian packets of rms duration tau
  arriving dt apart, ``V = exp(-dt**2 / (4 tau**2))`` and a perfect MIM pair has ``F = (1+V)/2``.
  On the stabilizer backend each delivered pair's fidelity is a sampled 0/1, so the mean is a
  statistical estimate (standard error ``sqrt(F(1-F)/n)``); on the fidelity backend it is exact.
* a window shorter than the jitter: each photon is detected inside a window W centred on its
  arrival with probability ``P = erf(W / (2 sqrt(2) sigma))``, ``sigma = sqrt(tau**2 +
  jitter**2)``; a MIM herald needs both, so ``p = (1/2) a**2 P**2``, and the measured rate
  ``p / cycle`` (herald == cycle) has relative standard error ``sqrt(1-p)/sqrt(n)``.
* dark counts grow with the window: ``d = rate x W`` per detector and attempt, and the false
  heralds ``p_false = (1-d)**2 (2 d n1 + 4 d**2 (1-a)**2)`` (``n1 = 2a(1-a) + a**2/2``) are
  linear in W to first order; the run's fidelity reveals the false fraction exactly
  (``F = (p_true + p_false/4) / p``) and its rate the total within statistical error.

Every statistical check allows 4 standard errors; seeds are fixed.
"""

from __future__ import annotations

import math

import pytest

import qplane
import qplane_physics as physics
from qplane_devkit.conformance import chain_scenario
from link_runs import run_link
from qplane_engine.sim import build

C_KM_S = physics.SPEED_OF_LIGHT_FIBER_KM_S
SIGMAS = 4.0


def run_request(link: dict, **kw):
    """The request's results and the link's model of a one-link run (:func:`link_runs.run_link`)."""
    _, res, model = run_link(link, **kw)
    return res["requests"][0], model


@pytest.mark.parametrize("mismatch_km", [1e-5, 2e-5, 3e-5])
def test_visibility_against_arrival_mismatch_through_a_run(mismatch_km):
    tau = 50.0  # ps
    dt = mismatch_km / C_KM_S * 1e12  # 1e-5 km = 1 cm of fibre ~ 49 ps
    v = math.exp(-dt**2 / (4 * tau**2))
    f = (1 + v) / 2
    link = {"scheme": "mim", "pair_fidelity": 1.0, "wave_packet_ps": tau, "arm_mismatch_km": mismatch_km}
    req, _ = run_request(link, pairs=200, seed=3)
    assert req["fidelity_mean"] == pytest.approx(f, abs=1e-12)  # exact backend
    n = 3000
    req, _ = run_request(link, pairs=n, seed=11, backend="stabilizer")
    assert req["delivered"] == n
    assert req["fidelity_mean"] == pytest.approx(f, abs=SIGMAS * math.sqrt(f * (1 - f) / n))


def test_a_clock_offset_is_a_mismatch_and_can_cancel_the_fibre_one():
    tau, dt = 40.0, 60.0
    req, _ = run_request({"scheme": "mim", "wave_packet_ps": tau, "clock_offset_ps": dt}, pairs=50)
    assert req["fidelity_mean"] == pytest.approx((1 + math.exp(-dt**2 / (4 * tau**2))) / 2, abs=1e-12)
    km = dt * 1e-12 * C_KM_S
    req, _ = run_request({"scheme": "mim", "wave_packet_ps": tau, "clock_offset_ps": -dt, "arm_mismatch_km": km}, pairs=50)
    assert req["fidelity_mean"] == pytest.approx(1.0, abs=1e-12)


def test_a_window_shorter_than_the_jitter_loses_the_erf_fraction_of_heralds():
    length, tau, jitter, window, n = 2.0, 20.0, 200.0, 100.0, 2000
    sigma = math.sqrt(tau**2 + jitter**2)
    acc = math.erf(window / (2 * math.sqrt(2) * sigma))  # ~0.197 per photon
    a = 10 ** (-0.2 * 1.0 / 10) * 0.9
    p = 0.5 * a * a * acc * acc
    cycle = max(length / C_KM_S, 1e-6)
    link = {"scheme": "mim", "wave_packet_ps": tau, "timing_jitter_ps": jitter, "detection_window_ps": window}
    req, m = run_request(link, length_km=length, pairs=n, seed=21)
    assert m.success_probability == pytest.approx(p, rel=1e-12)
    rel_se = math.sqrt(1 - p) / math.sqrt(n)
    assert req["rate_hz"] == pytest.approx(p / cycle, rel=SIGMAS * rel_se)
    # the fraction of heralds kept, against the unbounded window's rate p0 = a**2 / 2
    req0, _ = run_request({"scheme": "mim"}, length_km=length, pairs=n, seed=22)
    p0 = 0.5 * a * a
    kept = req["rate_hz"] / req0["rate_hz"]
    rel_se_kept = math.hypot(rel_se, math.sqrt(1 - p0) / math.sqrt(n))
    assert kept == pytest.approx(acc * acc, rel=SIGMAS * rel_se_kept)
    # single-click loses ~ the fraction P of its heralds: p = 1 - (1 - alpha a P)**2
    alpha = 0.2
    req, m = run_request({"scheme": "single-click", "bright_state_population": alpha, **{k: v for k, v in link.items()
                                                                                       if k != "scheme"}},
                      length_km=length, pairs=n, seed=23)
    p = 1 - (1 - alpha * a * acc) ** 2
    assert req["rate_hz"] == pytest.approx(p / cycle, rel=SIGMAS * math.sqrt(1 - p) / math.sqrt(n))


def test_dark_count_heralds_grow_linearly_with_the_window():
    length, rate, f0, n = 100.0, 1e6, 0.97, 1500
    a = 10 ** (-0.2 * 50 / 10) * 0.9
    n1 = 2 * a * (1 - a) + 0.5 * a * a
    cycle = length / C_KM_S
    false_rates = {}
    for i, w in enumerate((1000.0, 2000.0, 4000.0)):
        d = rate * w * 1e-12
        p_true = 0.5 * a * a * (1 - d) ** 2
        p_false = (1 - d) ** 2 * (2 * d * n1 + 4 * d * d * (1 - a) ** 2)
        p = p_true + p_false
        req, m = run_request({"scheme": "mim", "pair_fidelity": f0, "detection_window_ps": w, "dark_count_rate_hz": rate},
                          length_km=length, pairs=n, seed=50 + i)
        assert m.success_probability == pytest.approx(p, rel=1e-12)
        # the delivered fidelity is the Bayes mixture: it says which fraction of heralds was false
        assert req["fidelity_mean"] == pytest.approx((p_true * f0 + p_false * 0.25) / p, abs=1e-12)
        false_fraction = (f0 - req["fidelity_mean"]) / (f0 - 0.25)
        rel_se = math.sqrt(1 - p) / math.sqrt(n)
        assert req["rate_hz"] == pytest.approx(p / cycle, rel=SIGMAS * rel_se)
        false_rates[w] = false_fraction * req["rate_hz"]  # measured false heralds per second
        assert false_rates[w] == pytest.approx(2 * n1 * d / cycle, rel=SIGMAS * rel_se + 3 * d / n1)
    # linear in the window: doubling and quadrupling it
    assert false_rates[2000.0] / false_rates[1000.0] == pytest.approx(2.0, rel=0.15)
    assert false_rates[4000.0] / false_rates[1000.0] == pytest.approx(4.0, rel=0.15)


def test_bad_timing_input_names_the_field():
    sc = chain_scenario(2, 20.0, pairs=1)
    sc["hardware"]["link"] = {"scheme": "mim", "dark_count_rate_hz": 100.0}
    with pytest.raises(qplane.ScenarioError, match="detection_window_ps"):
        build(qplane.load_scenario(sc))
    sc["hardware"]["link"] = {"scheme": "single-click", "timing_jitter_ps": -3}
    with pytest.raises(qplane.ScenarioError, match="timing_jitter_ps"):
        build(qplane.load_scenario(sc))
