"""Unit tests of the link schemes: each formula by hand for one length, its limits, and
independent cross-checks (an enumeration of detector patterns for the analyser, a small
quantum-optics calculation for single-click)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from pydantic import ValidationError

import qplane_physics as physics
from qplane_hardware import (
    DirectParams,
    DirectTransmission,
    MeetInTheMiddle,
    MidpointParams,
    MidpointSource,
    MimParams,
    SingleClick,
    SingleClickParams,
    herald_mixture,
    interference_dephasing,
)

C = physics.SPEED_OF_LIGHT_FIBER_KM_S
L = 20.0
ETA_HALF = 10 ** (-0.2 * 10.0 / 10)  # eta(L/2) at 0.2 dB/km: 10 ** -0.2
ETA_FULL = 10 ** (-0.2 * 20.0 / 10)  # eta(L): 10 ** -0.4


def mim(**kw) -> MeetInTheMiddle:
    return MeetInTheMiddle(MimParams(**kw), L)


def single_click(length_km: float = L, **kw) -> SingleClick:
    return SingleClick(SingleClickParams(**kw), length_km)


# ------------------------------------------------------------------------------------ mim


def test_mim_defaults_are_the_original_scheme_bit_for_bit():
    m = mim(pair_fidelity=0.93)
    arm = 1.0 * physics.fiber_transmissivity(L / 2, 0.2) * 0.9
    assert m.success_probability == 0.5 * arm * arm  # the original expression, exactly
    assert m.success_probability == pytest.approx(0.5 * (0.9 * ETA_HALF) ** 2, rel=1e-14)
    assert m.herald_delay == m.cycle_time == pytest.approx(L / C, rel=1e-14)
    assert m.pair_state == physics.werner(0.93)
    assert m.false_herald_probability == 0.0
    # visibility 1 and no dark counts given explicitly: still identical
    m1 = mim(pair_fidelity=0.93, visibility=1.0, dark_count_prob=0.0)
    assert (m1.success_probability, m1.pair_state, m1.cycle_time) == (m.success_probability, m.pair_state, m.cycle_time)
    assert mim(attempt_rate_hz=1e3).cycle_time == 1e-3


@pytest.mark.parametrize("f0", [1.0, 0.9])
@pytest.mark.parametrize("v", [1.0, 0.9, 0.5, 0.0])
def test_mim_visibility_dephases_the_pair(f0, v):
    m = mim(pair_fidelity=f0, visibility=v)
    # Werner (F0, r, r, r), phase flip w.p. (1-V)/2 exchanges Phi+ and Phi-
    r = (1 - f0) / 3
    assert m.pair_state[0] == pytest.approx(f0 * (1 + v) / 2 + r * (1 - v) / 2, abs=1e-15)
    assert m.pair_state[3] == pytest.approx(r * (1 + v) / 2 + f0 * (1 - v) / 2, abs=1e-15)
    assert m.pair_state[1] == pytest.approx(r) and m.pair_state[2] == pytest.approx(r)
    assert sum(m.pair_state) == pytest.approx(1.0, abs=1e-15)
    # interference quality does not change how often an accepted pattern occurs
    assert m.success_probability == mim().success_probability
    if f0 == 1.0:
        assert m.pair_state[0] == pytest.approx((1 + v) / 2)  # F_V = (1 + V)/2


def test_mim_dark_counts_by_hand():
    d, bsa, v = 1e-3, 0.5, 0.8
    m = mim(dark_count_prob=d, visibility=v, pair_fidelity=0.95)
    a = 0.9 * ETA_HALF
    p_true = bsa * a * a * (1 - d) ** 2
    n1 = 2 * a * (1 - a) + (1 - bsa) * a * a * (1 + v) / 2
    p_false = (1 - d) ** 2 * (2 * d * n1 + 4 * d * d * (1 - a) ** 2)
    assert m.true_herald_probability == pytest.approx(p_true, rel=1e-13)
    assert m.false_herald_probability == pytest.approx(p_false, rel=1e-13)
    assert m.success_probability == pytest.approx(p_true + p_false, rel=1e-13)
    true_state = interference_dephasing(physics.werner(0.95), v)
    expected = [(p_true * t + p_false * 0.25) / (p_true + p_false) for t in true_state]
    assert m.pair_state == pytest.approx(expected, abs=1e-14)
    # a false herald raises the rate and lowers the fidelity
    clean = mim(visibility=v, pair_fidelity=0.95)
    assert m.success_probability > clean.success_probability
    assert m.pair_state[0] < clean.pair_state[0]


def _analyser_herald_by_enumeration(a: float, d: float, bsa: float, v: float) -> tuple[float, float]:
    """Brute force over genuine click sets and all 16 dark-count patterns of the four-mode
    linear-optics analyser; returns (P(herald with both photons' clicks), P(other heralds))."""
    accepted = [{0, 1}, {2, 3}, {0, 3}, {1, 2}]  # every mode has exactly two partners
    genuine: list[tuple[float, frozenset, bool]] = []  # (probability, click set, genuine pattern)
    for pair in accepted:
        genuine.append((bsa * a * a / 4, frozenset(pair), True))
    one = 2 * a * (1 - a) + (1 - bsa) * a * a * (1 + v) / 2
    for mode in range(4):
        genuine.append((one / 4, frozenset({mode}), False))
    genuine.append(((1 - a) ** 2, frozenset(), False))
    # the rest (non-bunched rejected two-photon events) always shows a rejected two-click set
    genuine.append(((1 - bsa) * a * a * (1 - v) / 2, frozenset({0, 2}), False))
    assert sum(g[0] for g in genuine) == pytest.approx(1.0)
    p_true = p_false = 0.0
    for prob, clicks, is_pattern in genuine:
        for dark in itertools.product((0, 1), repeat=4):
            pd = math.prod(d if x else 1 - d for x in dark)
            seen = set(clicks) | {i for i, x in enumerate(dark) if x}
            if seen in accepted:
                if is_pattern:
                    p_true += prob * pd
                else:
                    p_false += prob * pd
    return p_true, p_false


@pytest.mark.parametrize("d, bsa, v", [(1e-3, 0.5, 1.0), (0.05, 0.5, 0.7), (0.2, 0.8, 0.3)])
def test_mim_dark_count_formula_matches_detector_pattern_enumeration(d, bsa, v):
    m = mim(dark_count_prob=d, bsa_efficiency=bsa, visibility=v)
    p_true, p_false = _analyser_herald_by_enumeration(0.9 * ETA_HALF, d, bsa, v)
    assert m.true_herald_probability == pytest.approx(p_true, rel=1e-12)
    assert m.false_herald_probability == pytest.approx(p_false, rel=1e-12)


# --------------------------------------------------------------------------------- direct


def test_direct_by_hand():
    m = DirectTransmission(DirectParams(pair_fidelity=0.97), L)
    a = 1.0 * ETA_FULL * 0.9  # eta_emit * eta(L) * eta_det = 0.3583
    assert m.success_probability == pytest.approx(a, rel=1e-13)
    assert m.success_probability == pytest.approx(0.35830, abs=1e-5)
    assert m.herald_delay == pytest.approx(2 * L / C, rel=1e-14)  # photon over L, herald back over L
    assert m.cycle_time == m.herald_delay  # 2 L/c = 200 us > 1 us
    assert m.pair_state == physics.werner(0.97)
    slow = DirectTransmission(DirectParams(attempt_rate_hz=1e3), L)
    assert slow.cycle_time == 1e-3 and slow.herald_delay == pytest.approx(2 * L / C)


@pytest.mark.parametrize("d", [1e-4, 1e-2, 0.3])
def test_direct_dark_counts(d):
    m = DirectTransmission(DirectParams(pair_fidelity=0.97, dark_count_prob=d, emit_efficiency=0.8), 50.0)
    a = 0.8 * 10 ** (-0.2 * 50 / 10) * 0.9
    assert m.true_herald_probability == pytest.approx(a, rel=1e-13)
    assert m.false_herald_probability == pytest.approx((1 - a) * d, rel=1e-13)
    assert m.success_probability == pytest.approx(1 - (1 - a) * (1 - d), rel=1e-13)
    f = (a * 0.97 + (1 - a) * d * 0.25) / (a + (1 - a) * d)
    assert m.pair_state[0] == pytest.approx(f, abs=1e-14)
    assert sum(m.pair_state) == pytest.approx(1.0, abs=1e-14)


# ------------------------------------------------------------------------------- midpoint


def test_midpoint_by_hand():
    m = MidpointSource(MidpointParams(pair_probability=0.5, absorb_efficiency=0.8, pair_fidelity=0.9), L)
    assert m.success_probability == pytest.approx(0.5 * (ETA_HALF * 0.8) ** 2, rel=1e-13)
    # photons reach the memories after L/2c; the absorption news crosses L: 3 L / 2c
    assert m.herald_delay == pytest.approx(1.5 * L / C, rel=1e-14)
    # a memory must hear the far end (L/c after absorbing) before the next photon
    assert m.cycle_time == pytest.approx(L / C, rel=1e-14)
    assert m.herald_delay > m.cycle_time
    assert m.pair_state == physics.werner(0.9)
    slow = MidpointSource(MidpointParams(attempt_rate_hz=1e3), L)
    assert slow.cycle_time == 1e-3


def test_midpoint_matches_design_formula_at_every_length():
    for length in (1.0, 10.0, 100.0):
        m = MidpointSource(MidpointParams(pair_probability=0.3, absorb_efficiency=0.7), length)
        assert m.success_probability == pytest.approx(0.3 * (physics.fiber_transmissivity(length / 2) * 0.7) ** 2)


# --------------------------------------------------------------------------- single click


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.3, 0.5])
def test_single_click_by_hand(alpha):
    m = single_click(bright_state_population=alpha)
    eta = 1.0 * ETA_HALF * 0.9
    p = 2 * alpha * (1 - alpha) * eta + alpha**2 * eta * (2 - eta)
    assert m.success_probability == pytest.approx(p, rel=1e-13)
    assert m.success_probability == pytest.approx(1 - (1 - alpha * eta) ** 2, rel=1e-13)
    assert m.success_probability == pytest.approx(2 * alpha * eta - (alpha * eta) ** 2, rel=1e-13)
    f = 2 * (1 - alpha) / (2 - alpha * eta)
    assert m.pair_state == pytest.approx((f, (1 - f) / 2, (1 - f) / 2, 0.0), abs=1e-14)
    # F ~ 1 - alpha, and slightly above it: F - (1-alpha) = (1-alpha) alpha eta / (2 - alpha eta)
    assert 1 - alpha <= m.pair_state[0] <= 1 - alpha + alpha * eta / 2
    assert m.herald_delay == m.cycle_time == pytest.approx(L / C)


def test_single_click_limits_alpha_to_zero():
    eta = ETA_HALF * 0.9
    for alpha in (1e-3, 1e-5, 1e-8):
        m = single_click(bright_state_population=alpha)
        assert m.success_probability == pytest.approx(2 * alpha * eta, rel=alpha)  # first order
        # 1 - F = alpha (2 - eta) / (2 - alpha eta) -> alpha (1 - eta/2): 1 - alpha when eta << 1
        assert 1 - m.pair_state[0] == pytest.approx(alpha * (1 - eta / 2), rel=alpha)
    low_eta = single_click(5000.0, bright_state_population=1e-3)  # eta(L/2) ~ 1e-50
    assert 1 - low_eta.pair_state[0] == pytest.approx(1e-3, rel=1e-12)
    assert single_click(bright_state_population=1e-12).pair_state[0] == pytest.approx(1.0, abs=1e-11)


def test_single_click_rate_rises_and_fidelity_falls_with_alpha():
    ms = [single_click(bright_state_population=a) for a in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)]
    ps = [m.success_probability for m in ms]
    fs = [m.pair_state[0] for m in ms]
    assert ps == sorted(ps) and fs == sorted(fs, reverse=True)


@pytest.mark.parametrize("v, s", [(1.0, 1.0), (0.81, 1.0), (1.0, 0.9), (0.64, 0.8)])
def test_single_click_visibility_and_phase_stability(v, s):
    alpha = 0.1
    eta = ETA_HALF * 0.9
    m = single_click(bright_state_population=alpha, visibility=v, phase_stability=s)
    p_psi = 2 * alpha * (1 - alpha) * eta
    p_11 = alpha**2 * (2 * eta * (1 - eta) + eta**2 * (1 + v) / 2)
    assert m.success_probability == pytest.approx(p_psi + p_11, rel=1e-13)
    f_t = p_psi / (p_psi + p_11)
    c = math.sqrt(v) * s  # single-photon interference: amplitude overlap sqrt(V), times phase
    assert m.pair_state[0] == pytest.approx(f_t * (1 + c) / 2, abs=1e-14)
    assert m.pair_state[3] == pytest.approx(f_t * (1 - c) / 2, abs=1e-14)
    assert m.pair_state[1] == m.pair_state[2] == pytest.approx((1 - f_t) / 2, abs=1e-14)
    if v == 1.0 and s == 1.0:
        assert m.pair_state == single_click(bright_state_population=alpha).pair_state


def _single_click_optics(alpha: float, eta: float, d: float) -> tuple[float, float]:
    """Independent quantum-optics calculation (perfectly indistinguishable photons):
    memories x arm photons, loss as Kraus operators, a 50:50 beam splitter into two output
    modes, non-number-resolving detectors with dark counts. Returns (P(exactly one detector
    clicks), fidelity with Psi+ of the memories given that detector c alone clicked)."""
    # memory+photon per node: sqrt(1-alpha)|0,0> + sqrt(alpha)|1,1>; order (mA, mB, a, b)
    node = np.zeros((2, 2))
    node[0, 0], node[1, 1] = math.sqrt(1 - alpha), math.sqrt(alpha)
    psi = np.einsum("ia,jb->ijab", node, node).reshape(16)
    rho = np.outer(psi, psi)
    k0 = np.diag([1.0, math.sqrt(eta)])
    k1 = np.array([[0.0, math.sqrt(1 - eta)], [0.0, 0.0]])
    eye2 = np.eye(2)
    for arm in (0, 1):
        out = np.zeros_like(rho)
        for k in (k0, k1):
            op = np.kron(np.kron(eye2, eye2), np.kron(k, eye2) if arm == 0 else np.kron(eye2, k))
            out += op @ rho @ op.T
        rho = out
    # beam splitter a -> (c + d)/sqrt2, b -> (c - d)/sqrt2 ; outputs (c, d) in {0,1,2}^2
    bs = np.zeros((9, 4))
    r2 = 1 / math.sqrt(2)
    bs[0 * 3 + 0, 0] = 1.0  # |00>
    bs[0 * 3 + 1, 1], bs[1 * 3 + 0, 1] = -r2, r2  # b photon
    bs[1 * 3 + 0, 2], bs[0 * 3 + 1, 2] = r2, r2  # a photon
    bs[2 * 3 + 0, 3], bs[0 * 3 + 2, 3] = r2, -r2  # a+b: bunch (|20> - |02>)/sqrt2
    u = np.kron(np.eye(4), bs)
    rho = u @ rho @ u.T  # (mA, mB, c, d): 4 x 9
    rho = rho.reshape(4, 9, 4, 9)

    def memory_state(cond) -> np.ndarray:
        sel = [i for i in range(9) if cond(i // 3, i % 3)]
        return sum(rho[:, i, :, i] for i in sel)

    only_c = memory_state(lambda c, dd: c > 0 and dd == 0)
    none = memory_state(lambda c, dd: c == 0 and dd == 0)
    # detector c alone clicks: genuine c-only and d stays dark, or nothing genuine and c dark-clicks
    heralded = only_c * (1 - d) + none * d * (1 - d)
    p_c = np.trace(heralded).real
    bell = np.array([0, 1, 1, 0]) / math.sqrt(2)  # Psi+ on (mA, mB)
    fid = (bell @ heralded @ bell).real / p_c
    return 2 * p_c, fid  # the d-detector herald is symmetric (Psi-)


@pytest.mark.parametrize("alpha, d", [(0.05, 0.0), (0.3, 0.0), (0.1, 1e-3), (0.2, 0.05), (0.5, 0.2)])
def test_single_click_matches_a_quantum_optics_calculation(alpha, d):
    eta = ETA_HALF * 0.9
    m = single_click(bright_state_population=alpha, dark_count_prob=d)
    p, f = _single_click_optics(alpha, eta, d)
    assert m.success_probability == pytest.approx(p, rel=1e-12)
    assert m.pair_state[0] == pytest.approx(f, abs=1e-12)


def test_single_click_dark_counts_by_hand():
    alpha, d = 0.1, 1e-2
    eta = ETA_HALF * 0.9
    m = single_click(bright_state_population=alpha, dark_count_prob=d)
    p_true = (1 - (1 - alpha * eta) ** 2) * (1 - d)
    p_false = (1 - alpha * eta) ** 2 * 2 * d * (1 - d)
    assert m.true_herald_probability == pytest.approx(p_true, rel=1e-13)
    assert m.false_herald_probability == pytest.approx(p_false, rel=1e-13)
    f_t = 2 * (1 - alpha) / (2 - alpha * eta)
    x = 2 * alpha * (1 - alpha) * (1 - eta) / (1 - alpha * eta) ** 2
    assert m.pair_state[0] == pytest.approx((p_true * f_t + p_false * x / 2) / (p_true + p_false), abs=1e-14)
    assert sum(m.pair_state) == pytest.approx(1.0, abs=1e-14)
    assert m.pair_state[0] < single_click(bright_state_population=alpha).pair_state[0]
    assert m.success_probability > single_click(bright_state_population=alpha).success_probability


# ------------------------------------------------------------------------------ helpers


def test_herald_mixture_and_dephasing_limits():
    s = physics.werner(0.9)
    assert herald_mixture(0.3, s, 0.0) == s
    assert herald_mixture(0.3, s, 0.3) == pytest.approx([(0.9 + 0.25) / 2] + [(0.1 / 3 + 0.25) / 2] * 3)
    assert interference_dephasing(s, 1.0) == s
    assert interference_dephasing((1.0, 0.0, 0.0, 0.0), 0.0) == pytest.approx((0.5, 0.0, 0.0, 0.5))


@pytest.mark.parametrize("model, bad", [
    (MimParams, {"visibility": 1.1}),
    (MimParams, {"dark_count_prob": -0.1}),
    (MimParams, {"dark_count_prob": 1.0}),
    (DirectParams, {"attenuation_db_per_km": -1}),
    (DirectParams, {"bsa_efficiency": 0.5}),  # not a direct-link parameter
    (MidpointParams, {"pair_probability": 0.0}),
    (MidpointParams, {"dark_count_prob": 0.1}),  # no detectors in this model
    (SingleClickParams, {"bright_state_population": 0.6}),
    (SingleClickParams, {"bright_state_population": 0.0}),
    (SingleClickParams, {"phase_stability": 1.5}),
    (SingleClickParams, {"pair_fidelity": 0.9}),  # fidelity follows from alpha
])
def test_params_are_validated(model, bad):
    with pytest.raises(ValidationError):
        model(**bad)


def test_every_field_is_described():
    for model in (MimParams, DirectParams, MidpointParams, SingleClickParams):
        for name, field in model.model_fields.items():
            assert field.description, (model.__name__, name)


def test_schemes_are_registered_by_name():
    from qplane.registry import Registry

    reg = Registry()
    for name, cls, params in (("mim", MeetInTheMiddle, MimParams), ("direct", DirectTransmission, DirectParams),
                              ("midpoint", MidpointSource, MidpointParams),
                              ("single-click", SingleClick, SingleClickParams)):
        comp = reg.get("link_model", name)
        assert comp.factory is cls and comp.params is params and comp.description
