"""The fidelity backend against closed forms."""

from __future__ import annotations

import math
import random

import pytest

import qplane_physics as physics
from qplane_backend_fidelity import FidelityBackend


class Depol:
    def __init__(self, T):
        self.depolarizing_time = T

    def pauli_probs(self, dt):
        lam = 1 - math.exp(-dt / self.depolarizing_time)
        return (1 - 3 * lam / 4, lam / 4, lam / 4, lam / 4)


class Dephase:
    """Pure dephasing (not depolarizing): exercises the generic Pauli-channel path."""

    depolarizing_time = None

    def __init__(self, T2):
        self.T2 = T2

    def pauli_probs(self, dt):
        pz = (1 - math.exp(-dt / self.T2)) / 2
        return (1 - pz, 0.0, pz, 0.0)


def backend(seed=1):
    return FidelityBackend(random.Random(seed))


def test_created_werner_pair_has_its_fidelity_and_paulis_permute_it():
    b = backend()
    qa, qb = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
    assert b.fidelity(qa, qb, 0.0) == pytest.approx(0.9)
    qa2, qb2 = b.create_pair((0.7, 0.1, 0.15, 0.05), None, None, 0.0, 0.0)
    b.apply_pauli(qb2, physics.PAULI_X, 0.0)  # Phi+ <-> Psi+
    assert b.bell_diagonal(qa2, qb2, 0.0) == pytest.approx((0.15, 0.05, 0.7, 0.1))
    b.apply_pauli(qb2, physics.PAULI_X, 0.0)
    b.apply_pauli(qa2, physics.PAULI_Z, 0.0)  # Phi+ <-> Phi-, Psi+ <-> Psi-
    assert b.bell_diagonal(qa2, qb2, 0.0) == pytest.approx((0.05, 0.15, 0.1, 0.7))


def test_swap_with_frame_correction_gives_werner_swap_formula():
    b = backend(7)
    outcomes = set()
    for _ in range(50):
        a, r1 = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(0.8), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0)
        outcomes.add(m)
        b.apply_pauli(c, m, 0.0)
        assert b.fidelity(a, c, 0.0) == pytest.approx(0.9 * 0.8 + 0.1 * 0.2 / 3, abs=1e-12)
    assert outcomes == {0, 1, 2, 3}


def test_swap_without_correction_is_in_the_outcome_frame():
    b = backend(3)
    a, r1 = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
    r2, c = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
    m = b.bell_measure(r1, r2, 0.0)
    expected_pos = {0: 0, 1: 2, 2: 3, 3: 1}[m]  # Pauli index -> position in (Phi+, Psi-, Psi+, Phi-)
    state = b.bell_diagonal(a, c, 0.0)
    assert state[expected_pos] == pytest.approx(1.0)


def test_lazy_depolarizing_storage_matches_formula_however_often_touched():
    T = 0.5
    b = backend()
    qa, qb = b.create_pair(physics.werner(0.95), Depol(T), Depol(T), 0.0, 0.1)
    f_direct = b.fidelity(qa, qb, 0.4)
    # qubit a stored 0.4 s, qubit b 0.3 s
    assert f_direct == pytest.approx(0.25 + 0.7 * math.exp(-(0.4 + 0.3) / T), abs=1e-12)
    qa2, qb2 = b.create_pair(physics.werner(0.95), Depol(T), Depol(T), 0.0, 0.1)
    for t in (0.15, 0.2, 0.33, 0.4):
        f_touched = b.fidelity(qa2, qb2, t)
    assert f_touched == pytest.approx(f_direct, abs=1e-12)


def test_generic_pauli_channel_dephasing():
    T2 = 0.2
    b = backend()
    qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), Dephase(T2), None, 0.0, 0.0)
    # dephasing one qubit of Phi+ for t: F = (1 + exp(-t/T2)) / 2, the rest in Phi-
    state = b.bell_diagonal(qa, qb, 0.1)
    assert state[0] == pytest.approx((1 + math.exp(-0.1 / T2)) / 2, abs=1e-12)
    assert state[3] == pytest.approx((1 - math.exp(-0.1 / T2)) / 2, abs=1e-12)


def test_measurement_error_flips_reported_bits_at_the_stated_rate():
    b = backend(11)
    e, n, wrong = 0.1, 20000, 0
    for _ in range(n):
        a, r1 = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
        r2, c = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0, measurement_error=e)
        b.apply_pauli(c, m, 0.0)
        wrong += b.fidelity(a, c, 0.0) < 0.5
    p_wrong = 1 - (1 - e) ** 2
    se = math.sqrt(p_wrong * (1 - p_wrong) / n)
    assert wrong / n == pytest.approx(p_wrong, abs=4 * se)


def test_discard_leaves_partner_unentangled():
    b = backend()
    qa, qb = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
    b.discard(qa, 0.0)
    assert qb.partner is None


def test_bell_measurement_of_one_pair_is_refused():
    b = backend()
    qa, qb = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
    with pytest.raises(ValueError):
        b.bell_measure(qa, qb, 0.0)
