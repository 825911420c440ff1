"""The stabilizer backend against closed forms (statistically) and exact circuit identities.

Sampled quantities are compared with the closed forms of :mod:`qplane_physics`: a sample
frequency must lie within **4 standard errors** of the expected probability ``p``, with the
binomial standard error ``sqrt(p (1 - p) / n)`` of ``n`` samples (a correct backend fails one
such check with probability about 6e-5). Seeds are fixed, so the suite is deterministic.
"""

from __future__ import annotations

import math
import random

import pytest

import qplane_physics as physics
from qplane.backend import INSTALLED_BACKENDS, Capability, StateBackend
from qplane.errors import CapabilityError
from qplane_backend_stabilizer import StabilizerBackend

N = 20000
PHI_PLUS = (1.0, 0.0, 0.0, 0.0)


def backend(seed: int = 1) -> StabilizerBackend:
    return StabilizerBackend(random.Random(seed))


def assert_frequency(hits: float, n: int, p: float, what: str = "") -> None:
    se = math.sqrt(max(p * (1.0 - p), 1e-12) / n)
    assert abs(hits / n - p) <= 4 * se, f"{what}: {hits / n:.5f} vs {p:.5f} (4 se = {4 * se:.5f}, n = {n})"


def position(state) -> int:
    """Position of a one-hot Bell-diagonal state in Bell order."""
    assert sorted(state) == [0.0, 0.0, 0.0, 1.0], state
    return list(state).index(1.0)


class Depol:
    def __init__(self, T: float):
        self.depolarizing_time = T

    def pauli_probs(self, dt: float):
        lam = 1 - math.exp(-dt / self.depolarizing_time)
        return (1 - 3 * lam / 4, lam / 4, lam / 4, lam / 4)


def t1t2_memory(t1, t2):
    hardware = pytest.importorskip("qplane_hardware.memory")
    return hardware.T1T2Memory(hardware.T1T2MemoryParams(t1=t1, t2=t2))


# --------------------------------------------------------------------------- pairs


def test_satisfies_the_protocol_and_declares_its_capabilities():
    b = backend()
    assert isinstance(b, StateBackend)
    assert b.capabilities == {Capability.PAIR_OPERATIONS, Capability.PURIFICATION, Capability.CLIFFORD_GATES,
                              Capability.MULTIPARTITE}


def test_created_pairs_are_bell_states_drawn_with_the_state_probabilities():
    b = backend(2)
    c = (0.7, 0.1, 0.15, 0.05)
    counts = [0, 0, 0, 0]
    for _ in range(N):
        qa, qb = b.create_pair(c, None, None, 0.0, 0.0)
        counts[position(b.bell_diagonal(qa, qb, 0.0))] += 1
        b.discard(qa, 0.0)
        b.discard(qb, 0.0)
    for k in range(4):
        assert_frequency(counts[k], N, c[k], f"Bell state {k}")


def test_paulis_permute_bell_states_like_the_fidelity_backend():
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    b.apply_pauli(qb, physics.PAULI_X, 0.0)  # Phi+ -> Psi+
    assert b.bell_diagonal(qa, qb, 0.0) == (0.0, 0.0, 1.0, 0.0)
    b.apply_pauli(qa, physics.PAULI_Z, 0.0)  # Psi+ -> Psi-
    assert b.bell_diagonal(qa, qb, 0.0) == (0.0, 1.0, 0.0, 0.0)
    b.apply_pauli(qa, physics.PAULI_Y, 0.0)  # Psi- -> Phi+
    assert b.bell_diagonal(qa, qb, 0.0) == PHI_PLUS
    assert b.fidelity(qa, qb, 0.0) == 1.0
    b.apply_pauli(qb, physics.PAULI_Z, 0.0)
    assert b.fidelity(qa, qb, 0.0) == 0.0


def test_pauli_channel_is_sampled_with_its_probabilities():
    b = backend(3)
    probs = (0.6, 0.2, 0.15, 0.05)  # Pauli order I, X, Z, Y
    counts = [0, 0, 0, 0]
    for _ in range(N):
        qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        b.apply_pauli_channel(qa, probs, 0.0)
        pos = position(b.bell_diagonal(qa, qb, 0.0))
        counts[(0, 3, 1, 2)[pos]] += 1  # position -> Pauli index
        b.discard(qa, 0.0)
        b.discard(qb, 0.0)
    for k in range(4):
        assert_frequency(counts[k], N, probs[k], f"Pauli {k}")


# --------------------------------------------------------------------------- swapping


def test_all_four_bell_measurement_outcomes_restore_phi_plus_after_correction():
    b = backend(4)
    seen = set()
    for _ in range(200):
        a, r1 = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        r2, c = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0)
        seen.add(m)
        # uncorrected, the outer pair is the Bell state named by the outcome (qplane_physics)
        assert position(b.bell_diagonal(a, c, 0.0)) == {0: 0, 1: 2, 2: 3, 3: 1}[m]
        b.apply_pauli(c, m, 0.0)
        assert b.bell_diagonal(a, c, 0.0) == PHI_PLUS
        assert b.fidelity(a, c, 0.0) == 1.0
        assert b.group_size(a) == 2 and b.group_size(r1) == 0
        b.discard(a, 0.0)
        b.discard(c, 0.0)
    assert seen == {0, 1, 2, 3}


def test_werner_swap_averages_to_the_closed_form():
    b = backend(5)
    f1, f2 = 0.9, 0.8
    total = 0.0
    for _ in range(N):
        a, r1 = b.create_pair(physics.werner(f1), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(f2), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0)
        b.apply_pauli(c, m, 0.0)
        total += b.fidelity(a, c, 0.0)
        b.discard(a, 0.0)
        b.discard(c, 0.0)
    assert_frequency(total, N, physics.werner_swap_fidelity(f1, f2), "swap fidelity")


def test_swap_gate_and_measurement_errors_match_the_fidelity_backend_model():
    b = backend(6)
    g, e = 0.4, 0.1
    total = 0.0
    for _ in range(N):
        a, r1 = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        r2, c = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0, gate_error=g, measurement_error=e)
        b.apply_pauli(c, m, 0.0)
        total += b.fidelity(a, c, 0.0)
        b.discard(a, 0.0)
        b.discard(c, 0.0)
    v = physics.two_qubit_depolarize([1.0, 0.0, 0.0, 0.0], g)
    v = physics.pauli_channel(v, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
    assert_frequency(total, N, v[0], "noisy swap fidelity")


# --------------------------------------------------------------------------- purification


def run_purification(b, c1, c2, protocol, n=N, **noise):
    """``n`` rounds; returns (successes, counts of the kept pair's Bell state given success)."""
    ok, counts = 0, [0, 0, 0, 0]
    for _ in range(n):
        qa, qb = b.create_pair(c1, None, None, 0.0, 0.0)
        sa, sb = b.create_pair(c2, None, None, 0.0, 0.0)
        if b.purify((qa, qb), (sa, sb), 0.0, protocol, **noise):
            ok += 1
            counts[position(b.bell_diagonal(qa, qb, 0.0))] += 1
        assert b.group_size(sa) == b.group_size(sb) == 0 and b.group_size(qa) == 2
        b.discard(qa, 0.0)
        b.discard(qb, 0.0)
    return ok, counts


@pytest.mark.parametrize("f", [0.7, 0.9])
def test_bbpssw_on_werner_pairs_matches_the_closed_form(f):
    b = backend(7)
    ok, counts = run_purification(b, physics.werner(f), physics.werner(f), "bbpssw")
    f_new, p_success = physics.bbpssw(f)
    assert_frequency(ok, N, p_success, "BBPSSW success")
    assert_frequency(counts[0], ok, f_new, "BBPSSW fidelity")


def test_bbpssw_twirls_a_non_werner_pair_first():
    b = backend(8)
    c = (0.7, 0.2, 0.1, 0.0)
    v = physics.to_pauli_order(c)
    ok, counts = run_purification(b, c, c, "bbpssw")
    out, p_success = physics.purify(v, v, "bbpssw")
    assert_frequency(ok, N, p_success, "BBPSSW success")
    for pos, p in enumerate(physics.from_pauli_order(out)):
        assert_frequency(counts[pos], ok, p, f"BBPSSW coefficient {pos}")


@pytest.mark.parametrize("c", [(0.7, 0.1, 0.15, 0.05), (0.55, 0.3, 0.1, 0.05)])
def test_dejmps_matches_the_closed_form(c):
    b = backend(9)
    ok, counts = run_purification(b, c, c, "dejmps")
    expected, p_success = physics.dejmps(c)
    assert_frequency(ok, N, p_success, "DEJMPS success")
    for pos in range(4):
        assert_frequency(counts[pos], ok, expected[pos], f"DEJMPS coefficient {pos}")


@pytest.mark.parametrize("protocol", ["dejmps", "bbpssw"])
def test_noisy_purification_of_different_pairs_matches_physics_purify(protocol):
    b = backend(10)
    c1, c2 = (0.7, 0.1, 0.15, 0.05), (0.8, 0.05, 0.1, 0.05)
    noise = {"gate_error": (0.1, 0.05), "measurement_error": (0.03, 0.07)}
    ok, counts = run_purification(b, c1, c2, protocol, **noise)
    out, p_success = physics.purify(physics.to_pauli_order(c1), physics.to_pauli_order(c2), protocol, **noise)
    assert_frequency(ok, N, p_success, f"{protocol} success")
    for pos, p in enumerate(physics.from_pauli_order(out)):
        assert_frequency(counts[pos], ok, p, f"{protocol} coefficient {pos}")


# --------------------------------------------------------------------------- storage noise


def test_depolarizing_storage_decays_as_the_closed_form_however_often_touched():
    T, f0 = 0.5, 0.95
    expected = physics.werner_after_storage(f0, (0.4 + 0.3) / T)  # qubit a stored 0.4 s, b 0.3 s
    for touches in ((0.4,), (0.15, 0.2, 0.33, 0.4)):
        b = backend(11)
        total = 0.0
        for _ in range(N):
            qa, qb = b.create_pair(physics.werner(f0), Depol(T), Depol(T), 0.0, 0.1)
            for t in touches:
                f = b.fidelity(qa, qb, t)
            total += f
            b.discard(qa, 0.4)
            b.discard(qb, 0.4)
        assert_frequency(total, N, expected, f"depolarized fidelity, touched at {touches}")


def test_hardware_depolarizing_memory():
    hardware = pytest.importorskip("qplane_hardware.memory")
    mem = hardware.DepolarizingMemory(hardware.DepolarizingMemoryParams(coherence_time=0.2))
    b = backend(12)
    total = 0.0
    for _ in range(N):
        qa, qb = b.create_pair(PHI_PLUS, mem, mem, 0.0, 0.0)
        total += b.fidelity(qa, qb, 0.1)
        b.discard(qa, 0.1)
        b.discard(qb, 0.1)
    assert_frequency(total, N, physics.werner_after_storage(1.0, 0.2 / 0.2), "depolarizing memory")


def test_dephasing_memory_decays_to_the_closed_form():
    T2, t = 0.2, 0.1
    mem = t1t2_memory(None, T2)
    b = backend(13)
    counts = [0, 0, 0, 0]
    for _ in range(N):
        qa, qb = b.create_pair(PHI_PLUS, mem, None, 0.0, 0.0)
        counts[position(b.bell_diagonal(qa, qb, t))] += 1
        b.discard(qa, t)
        b.discard(qb, t)
    # dephasing one qubit of Phi+ for t: F = (1 + exp(-t/T2)) / 2, the rest in Phi-
    assert_frequency(counts[0], N, (1 + math.exp(-t / T2)) / 2, "dephased fidelity")
    assert counts[0] + counts[3] == N


def test_amplitude_damping_enters_through_its_pauli_twirl():
    mem = t1t2_memory(0.1, 0.15)
    t = 0.05
    b = backend(14)
    counts = [0, 0, 0, 0]
    for _ in range(N):
        qa, qb = b.create_pair(PHI_PLUS, mem, mem, 0.0, 0.0)
        counts[position(b.bell_diagonal(qa, qb, t))] += 1
        b.discard(qa, t)
        b.discard(qb, t)
    v = physics.pauli_channel(physics.pauli_channel([1.0, 0.0, 0.0, 0.0], mem.pauli_probs(t)), mem.pauli_probs(t))
    for pos, p in enumerate(physics.from_pauli_order(v)):
        assert_frequency(counts[pos], N, p, f"twirled T1/T2 coefficient {pos}")


# --------------------------------------------------------------------------- gates, measurement


@pytest.mark.parametrize("basis,equal", [("Z", True), ("X", True), ("Y", False)])
def test_phi_plus_measured_in_one_basis_gives_correlated_bits(basis, equal):
    b = backend(15)
    first = set()
    for _ in range(200):
        qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        x = b.measure(qa, basis, 0.0)
        y = b.measure(qb, basis, 0.0)
        assert (x == y) is equal
        assert b.group_size(qa) == b.group_size(qb) == 0
        first.add(x)
    assert first == {0, 1}


def test_clifford_gates_act_on_bell_pairs():
    b = backend(16)
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    b.apply_gate("H", [qa], 0.0)
    b.apply_gate("H", [qb], 0.0)
    assert b.bell_diagonal(qa, qb, 0.0) == PHI_PLUS  # H (x) H leaves Phi+
    b.apply_gate("S", [qa], 0.0)
    b.apply_gate("S", [qb], 0.0)
    assert b.bell_diagonal(qa, qb, 0.0) == (0.0, 0.0, 0.0, 1.0)  # S (x) S: Phi+ -> Phi-
    b.apply_gate("SDG", [qa], 0.0)
    b.apply_gate("sdg", [qb], 0.0)
    assert b.bell_diagonal(qa, qb, 0.0) == PHI_PLUS
    b.apply_gate("SQRT_X", [qa], 0.0)  # U (x) conj(U) leaves Phi+
    b.apply_gate("SQRT_X_DAG", [qb], 0.0)
    assert b.bell_diagonal(qa, qb, 0.0) == PHI_PLUS
    b.apply_gate("CZ", [qa, qb], 0.0)  # (|00> + |11>) -> (|00> - |11>)
    assert b.bell_diagonal(qa, qb, 0.0) == (0.0, 0.0, 0.0, 1.0)
    b.apply_gate("Z", [qb], 0.0)
    b.apply_gate("X", [qa], 0.0)
    b.apply_gate("Y", [qa], 0.0)
    b.apply_gate("Y", [qa], 0.0)
    assert b.bell_diagonal(qa, qb, 0.0) == (0.0, 0.0, 1.0, 0.0)  # X on Phi+: Psi+
    b.apply_gate("X", [qa], 0.0)
    b.apply_gate("CNOT", [qa, qb], 0.0)  # disentangle: Phi+ -> |+0> -> |00>
    b.apply_gate("H", [qa], 0.0)
    assert (b.measure(qa, "Z", 0.0), b.measure(qb, "Z", 0.0)) == (0, 0)


def test_ghz_states_across_groups_and_general_compaction():
    b = backend(17)
    for _ in range(50):
        a, prev = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        qubits = [a, prev]
        for _ in range(2):  # extend the GHZ state by one qubit: a fresh |0> and a CNOT
            c, d = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
            if b.measure(d, "Z", 0.0):
                b.apply_gate("X", [c], 0.0)
            b.apply_gate("CNOT", [prev, c], 0.0)
            qubits.append(c)
            prev = c
        assert b.group_size(a) == 4
        # X on one qubit of a 4-qubit GHZ state leaves a 3-qubit GHZ state (up to Z)
        x = b.measure(qubits.pop(), "X", 0.0)
        assert b.group_size(a) == 3
        if x:
            b.apply_gate("Z", [a], 0.0)
        parity = 0
        for q in qubits:
            parity ^= b.measure(q, "X", 0.0)
        assert parity == 0


def ghz3(b):
    a, x = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    c, d = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    if b.measure(d, "Z", 0.0):
        b.apply_gate("X", [c], 0.0)
    b.apply_gate("CNOT", [x, c], 0.0)
    return [a, x, c]


@pytest.mark.parametrize("ghz_first", [True, False])
def test_swapping_a_leg_of_a_ghz_state_teleports_it(ghz_first):
    """Bell measurements on qubits entangled beyond a pair take stim's collapse path."""
    b = backend(19)
    outcomes = set()
    for n in range(100):
        qubits = ghz3(b)
        r, d = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
        leg = qubits.pop()
        m = b.bell_measure(leg, r, 0.0) if ghz_first else b.bell_measure(r, leg, 0.0)
        outcomes.add(m)
        b.apply_pauli(d, m, 0.0)
        qubits.append(d)
        assert b.group_size(d) == 3
        if n % 2:
            assert len({b.measure(q, "Z", 0.0) for q in qubits}) == 1
        else:
            parity = 0
            for q in qubits:
                parity ^= b.measure(q, "X", 0.0)
            assert parity == 0
    assert outcomes == {0, 1, 2, 3}


def test_a_lone_qubit_has_the_exact_fidelity_of_its_state():
    b = backend(18)
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    qc, qd = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    za = b.measure(qb, "Z", 0.0)
    zc = b.measure(qd, "Z", 0.0)
    assert b.group_size(qa) == 1
    # |za zc> has fidelity 1/2 with Phi+ when the bits agree, else 0
    assert b.fidelity(qa, qc, 0.0) == (0.5 if za == zc else 0.0)


def test_non_clifford_gates_are_a_capability_error_naming_who_has_them():
    from qplane.registry import Registry

    Registry()  # fills INSTALLED_BACKENDS
    have = sorted(n for n, caps in INSTALLED_BACKENDS.items() if Capability.GATES in caps)
    assert "stabilizer" in INSTALLED_BACKENDS
    assert Capability.GATES not in INSTALLED_BACKENDS["stabilizer"]
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    for gate in ("RX:0.5", "ry:1.2", "T"):
        with pytest.raises(CapabilityError) as err:
            b.apply_gate(gate, [qa], 0.0)
        msg = str(err.value)
        assert "'stabilizer'" in msg and "'gates'" in msg
        assert msg.endswith(", ".join(have) or "none installed")
    with pytest.raises(ValueError, match="Clifford gates it applies"):
        b.apply_gate("FOO", [qa], 0.0)
    assert b.bell_diagonal(qa, qb, 0.0) == PHI_PLUS  # nothing was applied


def test_misuse_is_refused():
    b = backend()
    qa, qb = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    qc, qd = b.create_pair(PHI_PLUS, None, None, 0.0, 0.0)
    with pytest.raises(ValueError, match="two halves"):
        b.bell_measure(qa, qb, 0.0)
    with pytest.raises(ValueError, match="distinct pairs"):
        b.purify((qa, qb), (qb, qa), 0.0)
    with pytest.raises(ValueError, match="distinct pairs"):
        b.purify((qa, qc), (qb, qd), 0.0)
    with pytest.raises(ValueError, match="protocol"):
        b.purify((qa, qb), (qc, qd), 0.0, "pumping-by-magic")
    with pytest.raises(ValueError, match="basis"):
        b.measure(qa, "W", 0.0)
    with pytest.raises(ValueError, match="acts on 2"):
        b.apply_gate("CNOT", [qa], 0.0)
    with pytest.raises(ValueError, match="distinct"):
        b.fidelity(qa, qa, 0.0)
    b.discard(qa, 0.0)
    b.discard(qa, 0.0)  # discarding twice is harmless
    with pytest.raises(ValueError, match="no longer exists"):
        b.apply_pauli(qa, 1, 0.0)
    assert b.bell_diagonal(qc, qd, 0.0) == PHI_PLUS


# --------------------------------------------------------------------------- bookkeeping


def workload(seed: int, entropy_seeded_simulators: bool = False) -> list:
    """A mix of every random operation; returns everything observable."""
    b = backend(seed)
    if entropy_seeded_simulators:
        import stim

        b._pool.extend(stim.TableauSimulator() for _ in range(8))  # seeded from entropy
    out = []
    mem = Depol(0.3)
    for i in range(300):
        t = i * 0.01
        a, r1 = b.create_pair(physics.werner(0.9), mem, mem, t, t)
        r2, c = b.create_pair((0.8, 0.1, 0.05, 0.05), mem, None, t, t)
        out.append(b.bell_measure(r1, r2, t + 0.01, gate_error=0.05, measurement_error=0.02))
        s1, s2 = b.create_pair(physics.werner(0.85), mem, mem, t, t)
        out.append(b.purify((a, c), (s1, s2), t + 0.02, ("dejmps", "bbpssw")[i % 2], (0.02, 0.0), (0.0, 0.01)))
        out.append(b.fidelity(a, c, t + 0.03))
        b.apply_pauli_channel(a, (0.7, 0.1, 0.1, 0.1), t + 0.03)
        out.append(b.measure(a, "XYZ"[i % 3], t + 0.04))
        out.append(b.measure(c, "Z", t + 0.04))
    return out


def test_same_seed_same_numbers():
    first = workload(21)
    assert first == workload(21)
    assert first != workload(22)


def test_stim_randomness_is_not_used():
    """Every outcome follows from the backend's rng, whatever stim's own generators hold."""
    assert workload(23, entropy_seeded_simulators=True) == workload(23, entropy_seeded_simulators=True)


def test_memory_stays_bounded_as_pairs_come_and_go():
    b = backend(24)
    for _ in range(2000):
        a, r1 = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(0.9), None, None, 0.0, 0.0)
        b.apply_pauli(c, b.bell_measure(r1, r2, 0.0), 0.0)
        assert b.group_size(a) == b.group_size(c) == 2
        b.discard(a, 0.0)
        assert b.group_size(c) == 1
        b.discard(c, 0.0)
    assert len(b._pool) <= 2


def test_registered_as_a_plugin():
    from qplane.registry import Registry

    comp = Registry().get("backend", "stabilizer")
    instance = comp.factory(comp.params(), random.Random(1))
    assert isinstance(instance, StabilizerBackend)
    assert instance.capabilities == StabilizerBackend.capabilities
    assert comp.plugin  # discovered through the qplane entry-point group
