"""qplane_physics against explicit density-matrix calculations (numpy, 2-4 qubits).

The closed forms in qplane_physics (and in docs/design.md) are the reference every backend and
estimator uses; here they are checked against the quantum mechanics they summarize.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import qplane_physics as physics

I2 = np.eye(2)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Z = np.diag([1.0, -1.0]).astype(complex)
Y = 1j * X @ Z
PAULIS = {0: I2, 1: X, 2: Z, 3: Y}  # Pauli index I, X, Z, Y


def ket_phi_plus():
    return np.array([1, 0, 0, 1], dtype=complex) / math.sqrt(2)


def bell_ket(pauli: int) -> np.ndarray:
    """Bell state named by the Pauli applied to the second qubit of Phi+."""
    return np.kron(I2, PAULIS[pauli]) @ ket_phi_plus()


def bell_diagonal_rho(c_design) -> np.ndarray:
    v = physics.to_pauli_order(c_design)
    return sum(v[k] * np.outer(bell_ket(k), bell_ket(k).conj()) for k in range(4))


def bell_coefficients(rho: np.ndarray) -> list[float]:
    """Coefficients in Pauli order; asserts rho is Bell-diagonal."""
    kets = [bell_ket(k) for k in range(4)]
    basis = np.array(kets).T
    m = basis.conj().T @ rho @ basis
    assert np.allclose(m, np.diag(np.diag(m)), atol=1e-12)
    return [float(np.real(m[k, k])) for k in range(4)]


def op_on(op: np.ndarray, qubit: int, n: int) -> np.ndarray:
    mats = [I2] * n
    mats[qubit] = op
    out = mats[0]
    for mm in mats[1:]:
        out = np.kron(out, mm)
    return out


RANDOM_STATES = [
    physics.werner(0.9),
    (0.7, 0.1, 0.15, 0.05),
    (0.55, 0.3, 0.1, 0.05),
]


@pytest.mark.parametrize("c", RANDOM_STATES)
@pytest.mark.parametrize("pauli", [0, 1, 2, 3])
def test_apply_pauli_on_either_qubit(c, pauli):
    rho = bell_diagonal_rho(c)
    for q in (0, 1):
        P = op_on(PAULIS[pauli], q, 2)
        out = bell_coefficients(P @ rho @ P.conj().T)
        assert out == pytest.approx(physics.apply_pauli(physics.to_pauli_order(c), pauli), abs=1e-12)


@pytest.mark.parametrize("c", RANDOM_STATES)
def test_pauli_channel_and_depolarizing(c):
    probs = (0.7, 0.1, 0.15, 0.05)
    rho = bell_diagonal_rho(c)
    out = sum(p * op_on(PAULIS[k], 0, 2) @ rho @ op_on(PAULIS[k], 0, 2).conj().T for k, p in enumerate(probs))
    assert bell_coefficients(out) == pytest.approx(physics.pauli_channel(physics.to_pauli_order(c), probs), abs=1e-12)
    lam = 0.3
    dep = (1 - lam) * rho + lam * np.kron(I2 / 2, np.trace(rho.reshape(2, 2, 2, 2), axis1=0, axis2=2))
    assert bell_coefficients(dep) == pytest.approx(physics.depolarize(physics.to_pauli_order(c), lam), abs=1e-12)


@pytest.mark.parametrize("c1,c2", list(itertools.combinations(RANDOM_STATES, 2)))
def test_entanglement_swap_identity(c1, c2):
    """Projecting the inner qubits of rho1(a,r1) x rho2(r2,c) onto each Bell state gives
    probability 1/4 and an outer state equal to the XOR-convolution shifted by a distinct Pauli,
    which the swap formula names as the outcome."""
    rho = np.kron(bell_diagonal_rho(c1), bell_diagonal_rho(c2))  # qubits a, r1, r2, c
    conv = physics.swap_pauli_order(physics.to_pauli_order(c1), physics.to_pauli_order(c2), 0)
    seen = set()
    for j in range(4):
        b = bell_ket(j)
        proj = np.kron(np.kron(I2, np.outer(b, b.conj())), I2)
        out = proj @ rho @ proj
        prob = float(np.real(np.trace(out)))
        assert prob == pytest.approx(0.25, abs=1e-12)
        # trace out r1, r2 (qubits 1 and 2)
        t = out.reshape([2] * 8) / prob
        red = np.einsum("aijcbijd->acbd", t).reshape(4, 4)
        coeffs = bell_coefficients(red)
        matches = [m for m in range(4) if np.allclose(coeffs, physics.swap_pauli_order(
            physics.to_pauli_order(c1), physics.to_pauli_order(c2), m), atol=1e-12)]
        assert matches, coeffs
        seen.add(matches[0])
        # the correction named by the outcome restores the convolution
        assert physics.apply_pauli(coeffs, matches[0]) == pytest.approx(conv, abs=1e-12)
    assert seen == {0, 1, 2, 3}
    f1, f2 = c1[0], c2[0]
    if c1 == physics.werner(f1) and c2 == physics.werner(f2):
        assert conv[0] == pytest.approx(physics.werner_swap_fidelity(f1, f2))


@pytest.mark.parametrize("f", [0.6, 0.75, 0.9])
def test_bbpssw_formula_on_werner_pairs(f):
    rho = bell_diagonal_rho(physics.werner(f))
    red, p = _two_pair_round(rho, rho)
    f_new, n = physics.bbpssw(f)
    assert p == pytest.approx(n, abs=1e-12)
    assert float(np.real(ket_phi_plus().conj() @ red @ ket_phi_plus())) == pytest.approx(f_new, abs=1e-12)


@pytest.mark.parametrize("c", RANDOM_STATES)
def test_dejmps_formula(c):
    # Alice rotates by Rx(pi/2), Bob by Rx(-pi/2) (Deutsch et al. 1996)
    rho = bell_diagonal_rho(c)
    red, p = _two_pair_round(rho, rho, _rx(math.pi / 2), _rx(-math.pi / 2))
    expected, n = physics.dejmps(c)
    assert p == pytest.approx(n, abs=1e-12)
    got = physics.from_pauli_order(bell_coefficients(red))
    assert got == pytest.approx(expected, abs=1e-12)


def test_fiber_and_plob():
    assert physics.fiber_transmissivity(50, 0.2) == pytest.approx(0.1)
    assert physics.plob_bound(0.5) == pytest.approx(1.0)
    assert physics.werner_after_storage(1.0, 0.0) == 1.0


def _two_pair_round(rho1, rho2, rot_a=None, rot_b=None):
    rho = np.kron(rho1, rho2)  # a1 b1 a2 b2
    if rot_a is not None:
        U = np.kron(np.kron(rot_a, rot_b), np.kron(rot_a, rot_b))
        rho = U @ rho @ U.conj().T
    P0 = np.diag([1.0, 0.0]).astype(complex)
    P1 = np.diag([0.0, 1.0]).astype(complex)
    cn = lambda c, t: op_on(P0, c, 4) + op_on(P1, c, 4) @ op_on(X, t, 4)  # noqa: E731
    U = cn(0, 2) @ cn(1, 3)
    rho = U @ rho @ U.conj().T
    keep = np.zeros((16, 16), dtype=complex)
    for bits in itertools.product((0, 1), repeat=4):
        if bits[2] == bits[3]:
            idx = int("".join(map(str, bits)), 2)
            keep[idx, idx] = 1
    out = keep @ rho @ keep
    p = float(np.real(np.trace(out)))
    red = np.einsum("abijcdij->abcd", (out / p).reshape([2] * 8)).reshape(4, 4)
    return red, p


def _rx(theta):
    return np.cos(theta / 2) * I2 - 1j * np.sin(theta / 2) * X


@pytest.mark.parametrize("c1,c2", list(itertools.permutations(RANDOM_STATES, 2)))
def test_general_purify_on_two_different_pairs(c1, c2):
    v1, v2 = physics.to_pauli_order(c1), physics.to_pauli_order(c2)
    red, p = _two_pair_round(bell_diagonal_rho(c1), bell_diagonal_rho(c2), _rx(math.pi / 2), _rx(-math.pi / 2))
    out, n = physics.purify(v1, v2, "dejmps")
    assert n == pytest.approx(p, abs=1e-12)
    assert bell_coefficients(red) == pytest.approx(out, abs=1e-12)
    w1 = bell_diagonal_rho(physics.from_pauli_order(physics.twirl(v1)))
    w2 = bell_diagonal_rho(physics.from_pauli_order(physics.twirl(v2)))
    red, p = _two_pair_round(w1, w2)
    out, n = physics.purify(v1, v2, "bbpssw")
    assert n == pytest.approx(p, abs=1e-12)
    assert bell_coefficients(red) == pytest.approx(out, abs=1e-12)


@pytest.mark.parametrize("f", [0.6, 0.9])
def test_purify_matches_the_design_formulas_for_identical_pairs(f):
    c = (f, 0.6 * (1 - f), 0.3 * (1 - f), 0.1 * (1 - f))
    out, n = physics.purify(physics.to_pauli_order(c), physics.to_pauli_order(c), "dejmps")
    expected, n_expected = physics.dejmps(c)
    assert n == pytest.approx(n_expected) and physics.from_pauli_order(out) == pytest.approx(expected)
    out, n = physics.purify(physics.to_pauli_order(physics.werner(f)), physics.to_pauli_order(physics.werner(f)), "bbpssw")
    f_new, n_expected = physics.bbpssw(f)
    assert n == pytest.approx(n_expected) and out[0] == pytest.approx(f_new)


def test_purify_noise_model_against_density_matrices():
    """Gate error: two-qubit depolarizing on each node's qubits; measurement error: bit flips."""
    c1, c2 = RANDOM_STATES[1], RANDOM_STATES[2]
    ga, gb, ma, mb = 0.1, 0.05, 0.03, 0.07
    rho = np.kron(bell_diagonal_rho(c1), bell_diagonal_rho(c2))  # a1 b1 a2 b2
    U = np.kron(np.kron(_rx(math.pi / 2), _rx(-math.pi / 2)), np.kron(_rx(math.pi / 2), _rx(-math.pi / 2)))
    rho = U @ rho @ U.conj().T

    def depol_pair(rho, q1, q2, g):
        # average over all 16 two-qubit Paulis on (q1, q2) with weight g/16, plus (1-g) identity
        out = (1 - g) * rho
        for P, Q in itertools.product(PAULIS.values(), repeat=2):
            M = op_on(P, q1, 4) @ op_on(Q, q2, 4)
            out = out + g / 16 * M @ rho @ M.conj().T
        return out

    rho = depol_pair(rho, 0, 2, ga)
    rho = depol_pair(rho, 1, 3, gb)
    P0 = np.diag([1.0, 0.0]).astype(complex)
    P1 = np.diag([0.0, 1.0]).astype(complex)
    cn = lambda c, t: op_on(P0, c, 4) + op_on(P1, c, 4) @ op_on(X, t, 4)  # noqa: E731
    U = cn(0, 2) @ cn(1, 3)
    rho = U @ rho @ U.conj().T
    out = np.zeros((4, 4), dtype=complex)
    for bits in itertools.product((0, 1), repeat=2):  # true target bits (a2, b2)
        proj = op_on(np.diag([1.0 - bits[0], bits[0]]).astype(complex), 2, 4) @ op_on(np.diag([1.0 - bits[1], bits[1]]).astype(complex), 3, 4)
        branch = proj @ rho @ proj
        for fa, fb in itertools.product((0, 1), repeat=2):  # flips
            w = (ma if fa else 1 - ma) * (mb if fb else 1 - mb)
            if (bits[0] ^ fa) == (bits[1] ^ fb):
                out += w * np.einsum("abijcdij->abcd", branch.reshape([2] * 8)).reshape(4, 4)
    p = float(np.real(np.trace(out)))
    got, n = physics.purify(physics.to_pauli_order(c1), physics.to_pauli_order(c2), "dejmps", (ga, gb), (ma, mb))
    assert n == pytest.approx(p, abs=1e-12)
    assert bell_coefficients(out / p) == pytest.approx(got, abs=1e-12)


@pytest.mark.parametrize("c", RANDOM_STATES)
def test_depolarize_after_is_storage_depolarizing(c):
    """``depolarize_after(v, dt, T)`` (the hot paths' one call) is ``depolarize`` with
    ``lam = 1 - exp(-dt/T)`` to the last bit, and on a Werner pair it gives the closed form
    ``F = 1/4 + (F0 - 1/4) exp(-dt/T)``."""
    v = physics.to_pauli_order(c)
    for dt, t in ((1e-4, 1.0), (0.3, 0.05), (2.0, 1.0)):
        assert physics.depolarize_after(v, dt, t) == physics.depolarize(v, physics.depolarizing_lambda(dt, t))
    f0 = 0.93
    w = physics.to_pauli_order(physics.werner(f0))
    assert physics.depolarize_after(w, 0.2, 0.5)[0] == pytest.approx(0.25 + (f0 - 0.25) * np.exp(-0.2 / 0.5), abs=1e-12)


@pytest.mark.parametrize("c", RANDOM_STATES)
def test_swap_after_is_aging_then_swap(c):
    """``swap_after`` (every swap's one call) is the two measured qubits aged by
    ``depolarize_after``, then ``swap_pauli_order``, to the last bit, for every outcome; on two
    Werner pairs it gives the closed form: each aged to ``1/4 + (F - 1/4) exp(-dt/T)``, then
    ``F1 F2 + (1 - F1)(1 - F2)/3``."""
    v1 = physics.to_pauli_order(c)
    v2 = physics.to_pauli_order(RANDOM_STATES[0])
    for dt1, t1, dt2, t2 in ((1e-4, 1.0, 3e-4, 1.0), (0.3, 0.05, 0.01, 0.2), (2.0, 1.0, 1e-9, 1.0)):
        for outcome in range(4):
            want = physics.swap_pauli_order(physics.depolarize_after(v1, dt1, t1), physics.depolarize_after(v2, dt2, t2), outcome)
            assert physics.swap_after(v1, dt1, t1, v2, dt2, t2, outcome) == want
    f1, f2 = 0.95, 0.9
    a = 0.25 + (f1 - 0.25) * np.exp(-0.1 / 0.5)
    b = 0.25 + (f2 - 0.25) * np.exp(-0.3 / 0.5)
    got = physics.swap_after(physics.to_pauli_order(physics.werner(f1)), 0.1, 0.5,
                             physics.to_pauli_order(physics.werner(f2)), 0.3, 0.5)
    assert got[0] == pytest.approx(a * b + (1 - a) * (1 - b) / 3, abs=1e-12)
