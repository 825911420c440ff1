"""The density-matrix backend against closed forms, hand-made density matrices and qutip."""

from __future__ import annotations

import itertools
import math
import random
import subprocess
import sys

import numpy as np
import pytest

import qplane_physics as physics
from qplane.backend import Capability
from qplane.errors import QPlaneError
from qplane.registry import Registry
from qplane_devkit.conformance import BackendConformance
from qplane_backend_density import backend as dm
from qplane_backend_density import DensityBackend, DensityParams
from qplane_hardware.memory import DepolarizingMemory, DepolarizingMemoryParams, T1T2Memory, T1T2MemoryParams

PHI_PLUS = (1.0, 0.0, 0.0, 0.0)
STATES = [physics.werner(0.9), (0.7, 0.1, 0.15, 0.05), (0.55, 0.3, 0.1, 0.05)]
#: position in Bell order (Phi+, Psi-, Psi+, Phi-) of each Pauli index I, X, Z, Y
POS = (0, 2, 3, 1)


def backend(seed: int = 1) -> DensityBackend:
    return DensityBackend(random.Random(seed))


def depolarizing(T: float) -> DepolarizingMemory:
    return DepolarizingMemory(DepolarizingMemoryParams(coherence_time=T))


def t1t2(t1: float | None, t2: float) -> T1T2Memory:
    return T1T2Memory(T1T2MemoryParams(t1=t1, t2=t2))


class Dephase:
    """Neither depolarizing nor Kraus: exercises the generic ``pauli_probs`` path."""

    depolarizing_time = None

    def __init__(self, T2: float):
        self.T2 = T2

    def pauli_probs(self, dt: float):
        pz = (1 - math.exp(-dt / self.T2)) / 2
        return (1 - pz, 0.0, pz, 0.0)


def rho_of(b: DensityBackend, qubits, now: float = 0.0) -> np.ndarray:
    return b.density_matrix(qubits, now).full()


def bell_rho(c) -> np.ndarray:
    v = physics.to_pauli_order(c)
    return sum(v[k] * (s * s.dag()).full() for k, s in enumerate(dm.BELL_STATES))


# --- plugin --------------------------------------------------------------------------------


def test_registered_by_name_with_capabilities_and_strict_params():
    comp = Registry().get("backend", "density")
    assert comp.factory.capabilities == DensityBackend.capabilities == frozenset({
        Capability.PAIR_OPERATIONS, Capability.PURIFICATION, Capability.NON_PAULI_NOISE,
        Capability.GATES, Capability.CLIFFORD_GATES, Capability.EXACT_FIDELITY, Capability.MULTIPARTITE})
    b = comp.factory(comp.validate({}, "backend"), random.Random(1))
    assert isinstance(b, DensityBackend) and b.name == "density"
    with pytest.raises(QPlaneError):
        comp.validate({"bogus": 1}, "backend")
    assert DensityParams.model_config["extra"] == "forbid"


def test_discovering_the_plugin_does_not_import_qutip():
    code = "import sys, qplane_backend_density.plugin; assert 'qutip' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- pairs and Paulis ------------------------------------------------------------------------


@pytest.mark.parametrize("c", STATES)
def test_created_pair_is_the_bell_diagonal_matrix(c):
    b = backend()
    qa, qb = b.create_pair(c, None, None, 0.0, 0.0)
    rho = b.density_matrix([qa, qb], 0.0)
    assert isinstance(rho, dm.Qobj) and rho.dims == [[2, 2], [2, 2]]
    assert np.allclose(rho.full(), bell_rho(c), atol=1e-14)
    assert b.fidelity(qa, qb, 0.0) == pytest.approx(c[0], abs=1e-14)
    assert b.bell_diagonal(qa, qb, 0.0) == pytest.approx(c, abs=1e-14)
    assert qa.group is qb.group and qa.group.size == 2


def test_paulis_permute_bell_states_like_the_fidelity_backend():
    b = backend()
    qa, qb = b.create_pair((0.7, 0.1, 0.15, 0.05), None, None, 0.0, 0.0)
    b.apply_pauli(qb, physics.PAULI_X, 0.0)  # Phi+ <-> Psi+
    assert b.bell_diagonal(qa, qb, 0.0) == pytest.approx((0.15, 0.05, 0.7, 0.1), abs=1e-14)
    b.apply_pauli(qb, physics.PAULI_X, 0.0)
    b.apply_pauli(qa, physics.PAULI_Z, 0.0)  # Phi+ <-> Phi-, Psi+ <-> Psi-
    assert b.bell_diagonal(qa, qb, 0.0) == pytest.approx((0.05, 0.15, 0.1, 0.7), abs=1e-14)


@pytest.mark.parametrize("c", STATES)
def test_pauli_channel_matches_the_closed_form(c):
    b = backend()
    probs = (0.7, 0.1, 0.15, 0.05)
    qa, qb = b.create_pair(c, None, None, 0.0, 0.0)
    b.apply_pauli_channel(qa, probs, 0.0)
    expected = physics.pauli_channel(physics.to_pauli_order(c), probs)
    assert b.bell_diagonal(qa, qb, 0.0) == pytest.approx(physics.from_pauli_order(expected), abs=1e-14)


# --- swaps ----------------------------------------------------------------------------------


def test_bsm_circuit_maps_bell_state_k_to_outcome_k():
    """CNOT then H takes B_k = (I x P_k)|Phi+> to the basis state |b1 b2> with 2*b1 + b2 = k,
    so the two bits, read as a number, are the Pauli index the partner applies."""
    for k, bell in enumerate(dm.BELL_STATES):
        out = (dm.BSM_CIRCUIT * bell).full().ravel()
        assert abs(out[k]) == pytest.approx(1.0, abs=1e-14), k


def test_swap_every_outcome_restores_phi_plus_and_is_in_its_frame_before():
    b = backend(3)
    seen = set()
    for _ in range(64):
        a, r1 = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        r2, c = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0)
        seen.add(m)
        state = b.bell_diagonal(a, c, 0.0)
        assert state[POS[m]] == pytest.approx(1.0, abs=1e-12)  # uncorrected: Bell state m
        b.apply_pauli(c, m, 0.0)
        assert b.fidelity(a, c, 0.0) == pytest.approx(1.0, abs=1e-12)
    assert seen == {0, 1, 2, 3}


@pytest.mark.parametrize("f1,f2", [(0.9, 0.8), (0.95, 0.7)])
def test_werner_swap_formula_for_all_four_outcomes(f1, f2):
    b = backend(7)
    seen = set()
    for _ in range(64):
        a, r1 = b.create_pair(physics.werner(f1), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(f2), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0)
        seen.add(m)
        b.apply_pauli(c, m, 0.0)
        assert b.fidelity(a, c, 0.0) == pytest.approx(physics.werner_swap_fidelity(f1, f2), abs=1e-12)
    assert seen == {0, 1, 2, 3}


@pytest.mark.parametrize("c1,c2", list(itertools.permutations(STATES, 2)))
def test_swap_of_bell_diagonal_pairs_is_the_xor_convolution(c1, c2):
    b = backend(5)
    v1, v2 = physics.to_pauli_order(c1), physics.to_pauli_order(c2)
    seen = set()
    for _ in range(40):
        a, r1 = b.create_pair(c1, None, None, 0.0, 0.0)
        r2, c = b.create_pair(c2, None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0)
        seen.add(m)
        expected = physics.from_pauli_order(physics.swap_pauli_order(v1, v2, m))
        assert b.bell_diagonal(a, c, 0.0) == pytest.approx(expected, abs=1e-12)
    assert seen == {0, 1, 2, 3}


def test_swap_outcomes_are_uniform_for_bell_diagonal_pairs():
    b = backend(17)
    n = 4000
    counts = [0, 0, 0, 0]
    for _ in range(n):
        _, r1 = b.create_pair(STATES[1], None, None, 0.0, 0.0)
        r2, _ = b.create_pair(STATES[2], None, None, 0.0, 0.0)
        counts[b.bell_measure(r1, r2, 0.0)] += 1
    se = math.sqrt(0.25 * 0.75 / n)
    assert all(abs(k / n - 0.25) <= 4 * se for k in counts), counts


def test_swap_with_gate_and_measurement_errors_gives_the_state_given_the_report():
    """Noisy readout is an instrument: given the reported outcome, the outer pair is the
    mixture over the true outcomes, here exactly the fidelity backend's closed form."""
    g, e = 0.1, 0.05
    v = physics.to_pauli_order(physics.werner(0.9))
    expected = physics.two_qubit_depolarize(physics.swap_pauli_order(v, v), g)
    expected = physics.pauli_channel(expected, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
    b = backend(9)
    seen = set()
    for _ in range(40):
        a, r1 = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0, gate_error=g, measurement_error=e)
        seen.add(m)
        b.apply_pauli(c, m, 0.0)
        assert b.bell_diagonal(a, c, 0.0) == pytest.approx(physics.from_pauli_order(expected), abs=1e-12)
    assert seen == {0, 1, 2, 3}


def _random_state(rng, n=2):
    d = 1 << n
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


@pytest.mark.parametrize("i1,i2", list(itertools.product((0, 1), repeat=2)))
def test_two_pair_swap_kernel_is_the_circuit_on_the_joint_state(i1, i2):
    """The contracted swap (two 2-qubit groups) against the circuit on the 16x16 state:
    CNOT q1->q2, H q1, project q1 q2 on |s>, for arbitrary (not Bell-diagonal) pairs."""
    rng = np.random.default_rng(i1 * 2 + i2)
    r1, r2 = _random_state(rng), _random_state(rng)
    x, rest = dm.swap_branches(r1, i1, r2, i2)
    joint = dm.kron(r1, r2)  # qubits: pair 1 (0, 1), pair 2 (2, 3)
    q1, a, q2, c = i1, 1 - i1, 2 + i2, 3 - i2
    m = dm.permute(joint, 4, [q1, q2, a, c])
    u = dm.qutip.tensor(dm.BSM_CIRCUIT, dm.qutip.qeye([2, 2])).full()
    t = (u @ m @ u.conj().T).reshape(4, 4, 4, 4)
    for s in range(4):
        assert np.allclose(dm.branch_to_pair(x[s]), t[s, :, s, :], atol=1e-14)
    outer = dm.reduce_leading(dm.permute(joint, 4, [a, c, q1, q2]), 4, 2)
    assert np.allclose(dm.branch_to_pair(rest), outer, atol=1e-14)


def test_swap_through_larger_groups_matches_the_two_pair_case():
    """A pair sharing a group with a third (unentangled) qubit takes the general path: same
    state given the reported outcome, with gate and measurement errors."""
    g, e = 0.1, 0.05
    v = physics.to_pauli_order(physics.werner(0.9))
    expected = physics.two_qubit_depolarize(physics.swap_pauli_order(v, v), g)
    expected = physics.pauli_channel(expected, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
    b = backend(15)
    seen = set()
    for _ in range(40):
        a, r1 = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        z = _zero(b)
        b.apply_gate("CNOT", [z, a], 0.0)  # control |0>: no change, but {z, a, r1} is one group
        assert r1.group.size == 3
        m = b.bell_measure(r1, r2, 0.0, gate_error=g, measurement_error=e)
        seen.add(m)
        assert a.group is c.group and a.group.size == 2 and z.group.size == 1  # z split off
        b.apply_pauli(c, m, 0.0)
        assert b.bell_diagonal(a, c, 0.0) == pytest.approx(physics.from_pauli_order(expected), abs=1e-12)
    assert seen == {0, 1, 2, 3}


def test_swap_keeps_groups_small_and_ends_the_measured_qubits():
    b = backend()
    a, r1 = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
    r2, c = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
    r3, d = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
    b.bell_measure(r1, r2, 0.0)
    assert a.group is c.group and a.group.size == 2 and set(a.group.qubits) == {a, c}
    b.bell_measure(c, r3, 0.0)
    assert a.group is d.group and a.group.size == 2
    assert r1.group is None and r2.group is None and c.group is None
    with pytest.raises(ValueError):
        b.fidelity(r1, a, 0.0)
    with pytest.raises(ValueError):
        b.bell_measure(a, d, 0.0)  # the two halves of one pair


# --- storage noise --------------------------------------------------------------------------


def test_depolarizing_storage_matches_formula_however_often_touched():
    T = 0.5
    b = backend()
    qa, qb = b.create_pair(physics.werner(0.95), depolarizing(T), depolarizing(T), 0.0, 0.1)
    f_direct = b.fidelity(qa, qb, 0.4)
    assert f_direct == pytest.approx(physics.werner_after_storage(0.95, (0.4 + 0.3) / T), abs=1e-12)
    qa2, qb2 = b.create_pair(physics.werner(0.95), depolarizing(T), depolarizing(T), 0.0, 0.1)
    for t in (0.15, 0.2, 0.33, 0.4):
        f_touched = b.fidelity(qa2, qb2, t)
    assert f_touched == pytest.approx(f_direct, abs=1e-12)


@pytest.mark.parametrize("noise", [t1t2(None, 0.2), Dephase(0.2)], ids=["t1t2-kraus", "pauli-probs"])
def test_dephasing_one_qubit_of_phi_plus(noise):
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, noise, None, 0.0, 0.0)
    state = b.bell_diagonal(qa, qb, 0.1)
    assert state[0] == pytest.approx((1 + math.exp(-0.1 / 0.2)) / 2, abs=1e-12)
    assert state[3] == pytest.approx((1 - math.exp(-0.1 / 0.2)) / 2, abs=1e-12)  # the rest is Phi-


def test_amplitude_damping_is_exact_not_twirled():
    t1, t = 0.3, 0.2
    gamma = 1 - math.exp(-t / t1)
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, None, t1t2(t1, 2 * t1), 0.0, 0.0)  # T2 = 2 T1: pure damping
    rho = rho_of(b, [qa, qb], t)
    # by hand: K0 = [[1,0],[0,sqrt(1-g)]], K1 = [[0,sqrt(g)],[0,0]] on qubit b of Phi+
    phi = np.array([1, 0, 0, 1]) / math.sqrt(2)
    k0 = np.kron(np.eye(2), [[1, 0], [0, math.sqrt(1 - gamma)]])
    k1 = np.kron(np.eye(2), [[0, math.sqrt(gamma)], [0, 0]])
    expected = sum(np.outer(k @ phi, (k @ phi).conj()) for k in (k0, k1))
    assert np.allclose(rho, expected, atol=1e-14)
    assert b.fidelity(qa, qb, t) == pytest.approx((1 + math.sqrt(1 - gamma)) ** 2 / 4, abs=1e-14)
    # the damped qubit relaxes toward |0>: what no Pauli channel does to a half of Phi+
    assert b.density_matrix([qb], t).full()[0, 0].real == pytest.approx((1 + gamma) / 2, abs=1e-14)


def test_t1_and_t2_together():
    t1, t2, t = 0.3, 0.2, 0.15
    gamma = 1 - math.exp(-t / t1)
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, t1t2(t1, t2), None, 0.0, 0.0)
    rho = rho_of(b, [qa, qb], t)
    assert rho[0, 3].real == pytest.approx(math.exp(-t / t2) / 2, abs=1e-14)  # coherence decays with T2
    assert rho[3, 3].real == pytest.approx((1 - gamma) / 2, abs=1e-14)  # population with T1
    assert b.fidelity(qa, qb, t) == pytest.approx((2 - gamma + 2 * math.exp(-t / t2)) / 4, abs=1e-14)


def test_apply_kraus_exact_and_checked():
    b = backend()
    g = 0.36
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    b.apply_kraus(qb, [[[1, 0], [0, math.sqrt(1 - g)]], [[0, math.sqrt(g)], [0, 0]]], 0.0)
    assert b.fidelity(qa, qb, 0.0) == pytest.approx((1 + math.sqrt(1 - g)) ** 2 / 4, abs=1e-14)
    with pytest.raises(ValueError):
        b.apply_kraus(qb, [[[1, 0], [0, 0.5]]], 0.0)  # not trace preserving


def test_storage_noise_of_outer_qubits_survives_a_swap():
    """Lazy noise: the outer qubits' channels are applied after the swap merged the pairs."""
    T = 0.5
    b = backend(2)
    a, r1 = b.create_pair(physics.werner(0.95), depolarizing(T), depolarizing(T), 0.0, 0.0)
    r2, c = b.create_pair(physics.werner(0.9), depolarizing(T), depolarizing(T), 0.0, 0.0)
    m = b.bell_measure(r1, r2, 0.1)
    b.apply_pauli(c, m, 0.2)
    # local channels commute: as if every qubit had been caught up at the swap (0.1 s each),
    # then a and c stored 0.1 s more
    f_left = physics.werner_after_storage(0.95, 0.2 / T)
    f_right = physics.werner_after_storage(0.9, 0.2 / T)
    f = physics.werner_after_storage(physics.werner_swap_fidelity(f_left, f_right), 0.2 / T)
    assert b.fidelity(a, c, 0.2) == pytest.approx(f, abs=1e-12)


# --- purification ---------------------------------------------------------------------------


def _rounds(b, c1, c2, protocol, n, **errors):
    ok, kept = 0, []
    probs = set()
    for _ in range(n):
        qa, qb = b.create_pair(c1, None, None, 0.0, 0.0)
        sa, sb = b.create_pair(c2, None, None, 0.0, 0.0)
        if b.purify((qa, qb), (sa, sb), 0.0, protocol, **errors):
            ok += 1
            kept.append(b.bell_diagonal(qa, qb, 0.0))
        probs.add(round(b.last_success_probability, 12))
        assert sa.group is None and sb.group is None and qa.group.size == 2
        b.discard(qa, 0.0)
        b.discard(qb, 0.0)
    return ok, kept, probs


def _check_round(c1, c2, protocol, expected, p_expected, n=2000, seed=10, **errors):
    ok, kept, probs = _rounds(backend(seed), c1, c2, protocol, n, **errors)
    assert probs == {round(p_expected, 12)}  # the exact Born probability
    se = math.sqrt(p_expected * (1 - p_expected) / n)
    assert abs(ok / n - p_expected) <= 4 * se  # and the sampled rate
    for state in kept:  # the kept state given success is deterministic
        assert state == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("f", [0.6, 0.8, 0.95])
def test_bbpssw_on_werner_pairs(f):
    f_new, n = physics.bbpssw(f)
    # the output's fidelity is BBPSSW's; the output itself is not Werner (the next round twirls)
    v = physics.to_pauli_order(physics.werner(f))
    out, _ = physics.purify(v, v, "bbpssw")
    assert out[0] == pytest.approx(f_new, abs=1e-14)
    _check_round(physics.werner(f), physics.werner(f), "bbpssw", physics.from_pauli_order(out), n)


def test_bbpssw_twirls_non_werner_inputs():
    c1, c2 = STATES[1], STATES[2]
    out, n = physics.purify(physics.to_pauli_order(c1), physics.to_pauli_order(c2), "bbpssw")
    _check_round(c1, c2, "bbpssw", physics.from_pauli_order(out), n)


@pytest.mark.parametrize("c", [(0.8, 0.1, 0.06, 0.04), STATES[2]])
def test_dejmps_formula(c):
    expected, n = physics.dejmps(c)
    _check_round(c, c, "dejmps", expected, n)


def test_dejmps_on_two_different_pairs():
    c1, c2 = STATES[1], STATES[2]
    out, n = physics.purify(physics.to_pauli_order(c1), physics.to_pauli_order(c2), "dejmps")
    _check_round(c1, c2, "dejmps", physics.from_pauli_order(out), n, n=1000)


@pytest.mark.parametrize("protocol", ["dejmps", "bbpssw"])
def test_purification_noise_model_of_physics_purify(protocol):
    c1, c2 = STATES[1], STATES[2]
    errors = dict(gate_error=(0.1, 0.05), measurement_error=(0.03, 0.07))
    out, n = physics.purify(physics.to_pauli_order(c1), physics.to_pauli_order(c2), protocol, **errors)
    _check_round(c1, c2, protocol, physics.from_pauli_order(out), n, n=1500, **errors)


def test_purify_refuses_what_is_not_two_pairs():
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    sa, sb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    with pytest.raises(ValueError):
        b.purify((qa, qb), (qa, qb), 0.0)
    with pytest.raises(ValueError):
        b.purify((qa, sb), (sa, qb), 0.0)
    with pytest.raises(ValueError):
        b.purify((qa, qb), (sa, sb), 0.0, "nonsense")


def test_twirl_is_the_average_over_the_twelve_bilateral_rotations():
    """Paulis times the order-3 rotation about (1,1,1) (X -> Y -> Z): a unitary 2-design, so
    the average of (U x U*) rho (U x U*)^dag is the isotropic (Werner) twirl, for any rho."""
    c3 = math.cos(math.pi / 3) * dm.I2 - 1j * math.sin(math.pi / 3) * (dm.X + dm.Y + dm.Z) / math.sqrt(3)
    assert (c3 * dm.X * c3.dag() - dm.Y).norm() < 1e-12
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = a @ a.conj().T
    rho /= np.trace(rho)
    avg = np.zeros((4, 4), dtype=complex)
    for p in dm.PAULIS:
        for j in range(3):
            u = (p * c3 ** j).full()
            uu = np.kron(u, u.conj())
            avg += uu @ rho @ uu.conj().T / 12
    assert np.allclose(dm.twirl_pair(rho, 2, 0), avg, atol=1e-13)
    f = float(np.real(dm._PHI.conj() @ rho @ dm._PHI))
    assert np.allclose(avg, bell_rho(physics.werner(f)), atol=1e-13)


# --- gates and measurements ---------------------------------------------------------------


def test_measuring_phi_plus_gives_correlated_outcomes():
    b = backend(4)
    for basis, same in (("Z", True), ("X", True), ("Y", False)):  # <YY> = -1 on Phi+
        outcomes = set()
        for _ in range(40):
            qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
            ma = b.measure(qa, basis, 0.0)
            assert qb.group.size == 1 and qa.group is None
            mb = b.measure(qb, basis, 0.0)
            assert (ma == mb) is same, basis
            outcomes.add(ma)
        assert outcomes == {0, 1}


def _zero(b: DensityBackend):
    """A lone qubit in |0>: measure half of Phi+ in Z and correct."""
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    if b.measure(qa, "Z", 0.0):
        b.apply_gate("X", [qb], 0.0)
    assert qb.group.size == 1
    return qb


def test_one_qubit_gates():
    b = backend(6)
    q = _zero(b)
    assert np.allclose(rho_of(b, [q]), [[1, 0], [0, 0]], atol=1e-14)
    b.apply_gate("H", [q], 0.0)
    assert np.allclose(rho_of(b, [q]), [[0.5, 0.5], [0.5, 0.5]], atol=1e-14)
    assert b.measure(q, "X", 0.0) == 0
    q = _zero(b)
    b.apply_gate("H", [q], 0.0)
    b.apply_gate("S", [q], 0.0)  # |+i>
    assert b.measure(q, "Y", 0.0) == 0
    q = _zero(b)
    b.apply_gate("RX:3.141592653589793", [q], 0.0)
    assert b.measure(q, "Z", 0.0) == 1
    q = _zero(b)
    b.apply_gate("ry(1.2)", [q], 0.0)
    assert rho_of(b, [q])[1, 1].real == pytest.approx(math.sin(0.6) ** 2, abs=1e-14)
    b.apply_gate("RZ:0.7", [q], 0.0)
    b.apply_gate("SDG", [q], 0.0)
    b.apply_gate("S", [q], 0.0)
    assert rho_of(b, [q])[1, 1].real == pytest.approx(math.sin(0.6) ** 2, abs=1e-14)


def test_h_on_zero_gives_even_z_statistics():
    b = backend(8)
    n = 2000
    ones = 0
    for _ in range(n):
        q = _zero(b)
        b.apply_gate("H", [q], 0.0)
        ones += b.measure(q, "Z", 0.0)
    assert abs(ones / n - 0.5) <= 4 * math.sqrt(0.25 / n)


def test_two_qubit_gates_merge_groups():
    b = backend(9)
    c, t = _zero(b), _zero(b)
    b.apply_gate("H", [c], 0.0)
    b.apply_gate("CNOT", [c, t], 0.0)  # |+>|0> -> Phi+
    assert c.group is t.group and c.group.size == 2
    assert b.fidelity(c, t, 0.0) == pytest.approx(1.0, abs=1e-14)
    b.apply_gate("H", [t], 0.0)
    b.apply_gate("CZ", [c, t], 0.0)  # CZ (I x H) Phi+ = |+>|+>
    b.apply_gate("H", [c], 0.0)
    b.apply_gate("H", [t], 0.0)
    assert np.allclose(rho_of(b, [c, t]), np.diag([1, 0, 0, 0]), atol=1e-14)
    with pytest.raises(ValueError):
        b.apply_gate("CNOT", [c], 0.0)
    with pytest.raises(dm.UnknownGateError) as e:
        b.apply_gate("T", [c], 0.0)
    assert isinstance(e.value, QPlaneError) and "RX:theta" in str(e.value)


def test_measurement_projects_the_rest_and_splits_product_qubits():
    b = backend(12)
    a, bq = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    c, d = _zero(b), _zero(b)
    b.apply_gate("CNOT", [c, d], 0.0)  # c = |0>: nothing happens, but {c, d} is now a group
    b.apply_gate("CNOT", [c, a], 0.0)  # merges {c, d} with {a, b}: 4 qubits
    assert a.group.size == 4
    b.measure(d, "Z", 0.0)
    # c factorizes off (a, b): it leaves the group; (a, b) is still Phi+
    assert c.group.size == 1 and a.group is bq.group and a.group.size == 2
    assert b.fidelity(a, bq, 0.0) == pytest.approx(1.0, abs=1e-14)


def test_ghz_measurement_collapses_the_others():
    b = backend(13)
    for _ in range(10):
        a, bq = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        c = _zero(b)
        b.apply_gate("CNOT", [a, c], 0.0)  # GHZ on (a, b, c)
        assert a.group.size == 3
        m = b.measure(c, "Z", 0.0)
        assert a.group is bq.group and a.group.size == 2
        assert np.allclose(rho_of(b, [a, bq]), np.diag([1 - m, 0, 0, m]), atol=1e-14)


# --- discards, groups, diagnostics ---------------------------------------------------------


def test_discard_traces_out_and_leaves_the_partner_alone():
    b = backend()
    qa, qb = b.create_pair(STATES[1], None, None, 0.0, 0.0)
    b.discard(qa, 0.0)
    assert qa.group is None and qb.group.size == 1 and qb.group.qubits == [qb]
    assert np.allclose(rho_of(b, [qb]), np.eye(2) / 2, atol=1e-14)
    b.discard(qa, 0.0)  # idempotent
    qc, qd = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    # uncorrelated qubits: the overlap of the product state with Phi+
    assert b.fidelity(qb, qc, 0.0) == pytest.approx(0.25, abs=1e-14)
    assert b.bell_diagonal(qb, qc, 0.0) == pytest.approx((0.25,) * 4, abs=1e-14)


def test_numpy_partial_traces_agree_with_qutip():
    b = backend(14)
    a, r1 = b.create_pair(STATES[1], t1t2(0.3, 0.2), None, 0.0, 0.0)
    r2, c = b.create_pair(STATES[2], None, None, 0.0, 0.0)
    b.apply_gate("RY:0.4", [r1], 0.0)
    b.apply_gate("CNOT", [r1, r2], 0.0)  # a 4-qubit entangled group
    g = a.group
    assert g.size == 4
    full = g.rho
    for keep in ([a, c], [c, r1], [r2]):
        idx = [g.qubits.index(q) for q in keep]
        if len(keep) == 2 and idx[0] > idx[1]:
            want = full.ptrace(sorted(idx)).permute([1, 0]).full()
        else:
            want = full.ptrace(idx).full()
        got = b._reduced(*keep)
        assert np.allclose(got, want, atol=1e-14)
        assert np.allclose(b.density_matrix(keep, 0.0).full(), want, atol=1e-14)
    for k in range(4):
        assert np.allclose(dm.trace_out(full.full(), 4, k),
                           full.ptrace([i for i in range(4) if i != k]).full(), atol=1e-14)


def test_same_seed_same_outcomes():
    def run(seed):
        b = backend(seed)
        out = []
        for _ in range(30):
            _, r1 = b.create_pair(STATES[1], None, None, 0.0, 0.0)
            r2, _ = b.create_pair(STATES[2], None, None, 0.0, 0.0)
            out.append(b.bell_measure(r1, r2, 0.0, 0.01, 0.02))
        return out

    assert run(5) == run(5) != run(6)


# --- the conformance kit ----------------------------------------------------------------------


class TestConformance(BackendConformance):
    backend_name = "density"
