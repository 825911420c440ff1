"""Unit tests of the timing of photons (qplane_hardware.timing) in the interfering schemes:
closed forms by hand (Gaussian overlap, erf window acceptance, dark counts = rate x window),
an independent numerical integral of the overlap, an independent quantum-optics calculation
for single-click with unequal arms, and the defaults leaving every number unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

import qplane_physics as physics
from qplane_hardware import (
    MeetInTheMiddle,
    MimParams,
    SingleClick,
    SingleClickParams,
    overlap_visibility,
    window_acceptance,
)

C = physics.SPEED_OF_LIGHT_FIBER_KM_S
L = 20.0
ARM = 10 ** (-0.2 * 10.0 / 10) * 0.9  # eta(L/2) * eta_det at 20 km


def mim(**kw) -> MeetInTheMiddle:
    return MeetInTheMiddle(MimParams(**kw), L)


def sc(**kw) -> SingleClick:
    return SingleClick(SingleClickParams(**kw), L)


# -------------------------------------------------------------------------- visibility


def _numerical_overlap(tau_a: float, tau_b: float, dt: float) -> float:
    """|integral psi_a psi_b dt|^2 on a fine grid (psi: Gaussian amplitudes, |psi|^2 of rms tau)."""
    span = 12 * max(tau_a, tau_b) + abs(dt)
    t = np.linspace(-span, span, 400001)
    psi_a = (2 * np.pi * tau_a**2) ** -0.25 * np.exp(-t**2 / (4 * tau_a**2))
    psi_b = (2 * np.pi * tau_b**2) ** -0.25 * np.exp(-(t - dt) ** 2 / (4 * tau_b**2))
    assert np.trapezoid(psi_a**2, t) == pytest.approx(1.0, abs=1e-9)
    return float(np.trapezoid(psi_a * psi_b, t)) ** 2


@pytest.mark.parametrize("tau_a, tau_b, dt", [(50, 50, 0), (50, 50, 40), (50, 50, 150), (30, 80, 0), (30, 80, 60),
                                              (200, 20, -300)])
def test_gaussian_overlap_matches_a_numerical_integral(tau_a, tau_b, dt):
    assert overlap_visibility(tau_a, tau_b, dt) == pytest.approx(_numerical_overlap(tau_a, tau_b, dt), abs=1e-7)


@pytest.mark.parametrize("mismatch_km", [0.0, 5e-6, 1e-5, 2e-5, -3e-5])
def test_mim_visibility_follows_the_arrival_mismatch(mismatch_km):
    tau = 50.0
    dt = mismatch_km / C * 1e12  # ps
    v = math.exp(-dt**2 / (4 * tau**2))  # equal Gaussian packets
    m = mim(wave_packet_ps=tau, arm_mismatch_km=mismatch_km)
    assert m.timing.mismatch_ps == pytest.approx(dt, rel=1e-12, abs=1e-12)
    assert m.visibility == pytest.approx(v, rel=1e-12)
    assert m.pair_state[0] == pytest.approx((1 + v) / 2, abs=1e-14)  # F = (1 + V)/2 at pair_fidelity 1
    # the rate does not depend on V in the absence of dark counts and windows
    assert m.success_probability == mim().success_probability
    # a clock offset of the same size is the same mismatch; an opposite one cancels it
    assert mim(wave_packet_ps=tau, clock_offset_ps=dt).visibility == pytest.approx(v, rel=1e-12)
    assert mim(wave_packet_ps=tau, arm_mismatch_km=mismatch_km, clock_offset_ps=-dt).visibility == pytest.approx(1.0)


def test_unequal_packets_and_a_given_visibility_multiply():
    ta, tb, dt = 40.0, 90.0, 70.0
    v_t = 2 * ta * tb / (ta**2 + tb**2) * math.exp(-dt**2 / (2 * (ta**2 + tb**2)))
    m = mim(wave_packet_ps=[ta, tb], clock_offset_ps=dt, visibility=0.9, pair_fidelity=0.95)
    assert m.visibility == pytest.approx(0.9 * v_t, rel=1e-12)
    r = 0.05 / 3
    v = 0.9 * v_t
    assert m.pair_state[0] == pytest.approx(0.95 * (1 + v) / 2 + r * (1 - v) / 2, abs=1e-14)
    # single-click: coherence sqrt(V) s, and the bunching term uses V
    alpha, eta = 0.1, ARM
    s = sc(wave_packet_ps=[ta, tb], clock_offset_ps=dt, visibility=0.9, phase_stability=0.95)
    p_psi = 2 * alpha * (1 - alpha) * eta
    p_11 = alpha**2 * (2 * eta * (1 - eta) + eta**2 * (1 + v) / 2)
    f_t = p_psi / (p_psi + p_11)
    c = math.sqrt(v) * 0.95
    assert s.success_probability == pytest.approx(p_psi + p_11, rel=1e-13)
    assert s.pair_state[0] == pytest.approx(f_t * (1 + c) / 2, abs=1e-14)


def test_perfect_timing_defaults_change_nothing():
    for kw in ({}, {"visibility": 0.8, "dark_count_prob": 1e-3, "pair_fidelity": 0.9}):
        base = mim(**kw)
        for extra in ({"wave_packet_ps": 30.0}, {"timing_jitter_ps": 500.0}, {"wave_packet_ps": [30.0, 30.0]}):
            m = mim(**kw, **extra)
            assert (m.success_probability, m.pair_state) == (base.success_probability, base.pair_state)
    base = sc(visibility=0.9, dark_count_prob=1e-3)
    s = sc(visibility=0.9, dark_count_prob=1e-3, wave_packet_ps=30.0, timing_jitter_ps=80.0)
    assert (s.success_probability, s.pair_state) == (base.success_probability, base.pair_state)


# ------------------------------------------------------------------------------ window


@pytest.mark.parametrize("window, jitter, tau", [(100.0, 200.0, 20.0), (300.0, 100.0, 0.0), (50.0, 400.0, 100.0)])
def test_window_loses_the_erf_fraction_of_each_photon(window, jitter, tau):
    sigma = math.sqrt(tau**2 + jitter**2)
    acc = math.erf(window / (2 * math.sqrt(2) * sigma))
    kw = {"timing_jitter_ps": jitter, "detection_window_ps": window}
    if tau:
        kw["wave_packet_ps"] = tau
    m = mim(**kw)
    assert m.timing.acceptance == pytest.approx((acc, acc), rel=1e-13)
    assert m.success_probability == pytest.approx(0.5 * (ARM * acc) ** 2, rel=1e-12)  # both photons in the window
    s = sc(bright_state_population=0.1, **kw)
    assert s.success_probability == pytest.approx(1 - (1 - 0.1 * ARM * acc) ** 2, rel=1e-12)


def test_window_with_a_mismatch_is_centred_between_the_photons():
    tau, jitter, window, dt = 60.0, 40.0, 150.0, 100.0
    sig = math.hypot(tau, jitter)
    acc = 0.5 * (math.erf((window / 2 - dt / 2) / (math.sqrt(2) * sig)) + math.erf((window / 2 + dt / 2) / (math.sqrt(2) * sig)))
    m = mim(wave_packet_ps=tau, timing_jitter_ps=jitter, detection_window_ps=window, clock_offset_ps=dt)
    assert m.timing.acceptance == pytest.approx((acc, acc), rel=1e-13)
    assert window_acceptance(0.0, 0.0, 10.0) == 1.0 and window_acceptance(6.0, 0.0, 10.0) == 0.0
    assert window_acceptance(3.0, 5.0, None) == 1.0


def _single_click_optics(alpha: float, eta_a: float, eta_b: float) -> tuple[float, float]:
    """Independent state-vector calculation with unequal arm efficiencies (indistinguishable
    photons, no dark counts): memories x photons, loss Kraus operators per arm, a 50:50 beam
    splitter, non-number-resolving detectors. Returns (P(exactly one detector clicks),
    fidelity with Psi+ given that detector c alone clicked)."""
    node = np.zeros((2, 2))
    node[0, 0], node[1, 1] = math.sqrt(1 - alpha), math.sqrt(alpha)
    psi = np.einsum("ia,jb->ijab", node, node).reshape(16)
    rho = np.outer(psi, psi)
    eye2 = np.eye(2)
    for arm, eta in ((0, eta_a), (1, eta_b)):
        k0 = np.diag([1.0, math.sqrt(eta)])
        k1 = np.array([[0.0, math.sqrt(1 - eta)], [0.0, 0.0]])
        out = np.zeros_like(rho)
        for k in (k0, k1):
            op = np.kron(np.kron(eye2, eye2), np.kron(k, eye2) if arm == 0 else np.kron(eye2, k))
            out += op @ rho @ op.T
        rho = out
    bs = np.zeros((9, 4))
    r2 = 1 / math.sqrt(2)
    bs[0, 0] = 1.0
    bs[1, 1], bs[3, 1] = -r2, r2  # b photon -> (c - d)/sqrt2
    bs[3, 2], bs[1, 2] = r2, r2  # a photon -> (c + d)/sqrt2
    bs[6, 3], bs[2, 3] = r2, -r2  # both: (|20> - |02>)/sqrt2
    u = np.kron(np.eye(4), bs)
    rho = (u @ rho @ u.T).reshape(4, 9, 4, 9)
    only_c = sum(rho[:, i, :, i] for i in range(9) if i // 3 > 0 and i % 3 == 0)
    p_c = np.trace(only_c).real
    bell = np.array([0, 1, 1, 0]) / math.sqrt(2)
    return 2 * p_c, (bell @ only_c @ bell).real / p_c


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_single_click_with_unequal_windows_matches_quantum_optics(alpha):
    """Unequal packets in a window give the two arms different acceptances."""
    s = sc(bright_state_population=alpha, wave_packet_ps=[20.0, 300.0], detection_window_ps=200.0)
    acc_a, acc_b = math.erf(200.0 / (2 * math.sqrt(2) * 20.0)), math.erf(200.0 / (2 * math.sqrt(2) * 300.0))
    assert s.timing.acceptance == pytest.approx((acc_a, acc_b), rel=1e-13)
    # unequal packets also lower V (the duration-mismatch factor)
    v = s.visibility
    assert v == pytest.approx(2 * 20 * 300 / (20**2 + 300**2), rel=1e-12)
    # the unequal-arm formulas at V = 1 against the optics calculation (indistinguishable photons)
    p, f = _single_click_optics(alpha, ARM * acc_a, ARM * acc_b)
    ea, eb = ARM * acc_a, ARM * acc_b
    p_psi = alpha * (1 - alpha) * (ea + eb)
    p_11 = alpha**2 * (ea * (1 - eb) + eb * (1 - ea) + ea * eb)
    u = (math.sqrt(ea) + math.sqrt(eb)) ** 2 / (2 * (ea + eb))
    assert p_psi + p_11 == pytest.approx(p, rel=1e-12)
    assert p_psi / (p_psi + p_11) * u == pytest.approx(f, abs=1e-12)
    # and the model itself, at its V: P_11's bunching term and the coherence sqrt(V)
    p_11v = alpha**2 * (ea * (1 - eb) + eb * (1 - ea) + ea * eb * (1 + v) / 2)
    f_t = p_psi / (p_psi + p_11v)
    c = math.sqrt(v)
    assert s.success_probability == pytest.approx(p_psi + p_11v, rel=1e-12)
    assert s.pair_state[0] == pytest.approx(f_t * u * (1 + c) / 2 + f_t * (1 - u) * (1 - c) / 2, abs=1e-13)


# ------------------------------------------------------------------------- dark counts


def test_dark_counts_grow_linearly_with_the_window():
    rate = 2e5  # Hz per detector
    a = 10 ** (-0.2 * 50 / 10) * 0.9  # 100 km link
    slopes = []
    for w in (1000.0, 2000.0, 4000.0):
        m = MeetInTheMiddle(MimParams(detection_window_ps=w, dark_count_rate_hz=rate), 100.0)
        d = rate * w * 1e-12
        assert m.timing.dark_count_prob == pytest.approx(d, rel=1e-15)
        # the window is far wider than the (zero) jitter: no photon is lost
        assert m.timing.acceptance == (1.0, 1.0)
        n1 = 2 * a * (1 - a) + 0.5 * a * a
        p_false = (1 - d) ** 2 * (2 * d * n1 + 4 * d * d * (1 - a) ** 2)
        assert m.false_herald_probability == pytest.approx(p_false, rel=1e-12)
        slopes.append(m.false_herald_probability / w)
        # linear to first order in d: p_false = 2 n1 d (1 + O(d))
        assert m.false_herald_probability == pytest.approx(2 * n1 * d, rel=3 * d / n1)
    assert slopes[2] / slopes[0] == pytest.approx(1.0, rel=0.01)
    # a fixed per-attempt probability adds as an independent cause
    m = mim(detection_window_ps=1000.0, dark_count_rate_hz=rate, dark_count_prob=1e-3)
    assert m.timing.dark_count_prob == pytest.approx(1 - (1 - 1e-3) * (1 - rate * 1e-9), rel=1e-13)
    s = sc(detection_window_ps=1000.0, dark_count_rate_hz=rate)
    assert s.false_herald_probability == pytest.approx((1 - 0.1 * ARM) ** 2 * 2 * rate * 1e-9 * (1 - rate * 1e-9),
                                                       rel=1e-12)


@pytest.mark.parametrize("bad", [
    {"arm_mismatch_km": 1e-5},  # a mismatch needs the packets' duration
    {"clock_offset_ps": 10.0},
    {"dark_count_rate_hz": 100.0},  # a rate needs a window
    {"dark_count_rate_hz": 1e9, "detection_window_ps": 2000.0},  # rate x window >= 1
    {"timing_jitter_ps": -1.0},
    {"detection_window_ps": 0.0},
    {"wave_packet_ps": 0.0},
    {"wave_packet_ps": [10.0, 20.0, 30.0]},
])
def test_timing_params_are_validated(bad):
    for model in (MimParams, SingleClickParams):
        with pytest.raises(ValidationError):
            model(**bad)


def test_every_timing_field_is_described():
    for model in (MimParams, SingleClickParams):
        for name in ("wave_packet_ps", "arm_mismatch_km", "clock_offset_ps", "timing_jitter_ps",
                     "detection_window_ps", "dark_count_rate_hz"):
            assert model.model_fields[name].description
