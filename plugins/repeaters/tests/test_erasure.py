"""Loss-tolerant codes under erasures: the criterion, the exact one-hop probability against
closed forms derived by hand, and the stim Monte Carlo against the exact sum (issue 16, 3G)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import stim

from qplane_repeaters.erasure import (c422, code, five_qubit, gf2_rank, qpc, qpc_success_probability, sample_hop,
                                      steane, symplectic)

SMALL = ["qpc(2,2)", "qpc(2,3)", "qpc(3,2)", "qpc(3,3)", "steane", "five", "c422"]


def entropy(stabs: list[stim.PauliString], qubits: list[int], total: int) -> int:
    """Entropy (bits) of the qubits of a pure stabilizer state: rank of the generators on them minus their number."""
    g = symplectic(stabs, total)
    return gf2_rank(g[:, qubits + [total + q for q in qubits]]) - len(qubits)


@pytest.mark.parametrize("name", SMALL)
def test_cleaning_and_enumeration_agree_on_every_pattern(name):
    c = code(name)
    table = c.correctable_table()
    assert all(c.correctable(m) == table[m] for m in range(2 ** c.n))


@pytest.mark.parametrize("name", ["qpc(2,2)", "qpc(2,3)", "steane", "five", "c422"])
def test_criterion_is_the_reference_decoupling_from_the_lost_qubits(name):
    # independent of logical operators: E is correctable iff the references share no
    # information with the erased qubits, I(R:E) = S(R) + S(E) - S(RE) = 0 (stabilizer entropies)
    c = code(name)
    k, n = c.k, c.n
    stabs = c.bell_tableau().to_stabilizers()
    refs = list(range(k))
    table = c.correctable_table()
    for mask in range(2 ** n):
        lost = [k + q for q in range(n) if mask >> q & 1]
        info = entropy(stabs, refs, n + k) + entropy(stabs, lost, n + k) - entropy(stabs, refs + lost, n + k)
        assert (info == 0) == table[mask], (name, mask)


def test_representatives_avoid_the_lost_qubits_and_stay_logical():
    c = qpc(3, 3)
    rng = np.random.default_rng(4)
    for _ in range(50):
        lost = [q for q in range(c.n) if rng.random() < 0.3]
        if not c.correctable(lost):
            continue
        rx, rz = c.clean(c.logical_x[0], lost), c.clean(c.logical_z[0], lost)
        for rep in (rx, rz):
            assert all(rep[q] == 0 for q in lost)
            assert all(rep.commutes(s) for s in c.stabilizers)
        assert not rx.commutes(rz)


def test_parity_code_criterion_by_blocks():
    c = qpc(3, 3)
    assert not c.correctable([0, 1, 2])  # a whole block lost: no X_L
    assert not c.correctable([0, 3, 6])  # a qubit lost in every block: no Z_L
    assert c.correctable([0, 1, 3, 4])  # block 2 intact, every block has a survivor


def test_steane_fails_exactly_on_the_lines_of_the_fano_plane():
    c = steane()
    lines = {frozenset(q for q in range(7) if (row >> q) & 1) for row in range(1, 128)
             if bin(row).count("1") == 3 and all(bin(row & h).count("1") % 2 == 0 for h in (0b1010101, 0b1100110, 0b1111000))}
    assert len(lines) == 7
    for size in (1, 2, 3):
        for e in itertools.combinations(range(7), size):
            assert c.correctable(e) == (frozenset(e) not in lines)


@pytest.mark.parametrize("n,m", [(2, 2), (2, 3), (3, 2), (3, 3), (4, 3)])
@pytest.mark.parametrize("eta", [0.3, 0.6, 0.9])
def test_parity_code_matches_muralidharan_closed_form(n, m, eta):
    # some block intact and no block wholly lost:
    # P = (1 - (1-eta)^m)^n - (1 - (1-eta)^m - eta^m)^n  (Muralidharan et al. 2014, no operation errors)
    closed = (1 - (1 - eta) ** m) ** n - (1 - (1 - eta) ** m - eta ** m) ** n
    assert qpc(n, m).success_probability(eta) == pytest.approx(closed, rel=1e-12)
    assert qpc_success_probability(n, m, eta) == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("eta", [0.2, 0.5, 0.85])
def test_small_codes_match_closed_forms(eta):
    q = 1 - eta
    # Steane: every 0-2 erasures; of the 3-sets all but the 7 lines; of the 4-sets the 7 line complements
    assert steane().success_probability(eta) == pytest.approx(
        eta**7 + 7 * eta**6 * q + 21 * eta**5 * q**2 + 28 * eta**4 * q**3 + 7 * eta**3 * q**4, rel=1e-12)
    # [[5,1,3]] is perfect: 0-2 erasures correctable, 3 or more not (the other 2 cannot hold the qubit)
    assert five_qubit().success_probability(eta) == pytest.approx(eta**5 + 5 * eta**4 * q + 10 * eta**3 * q**2)
    # [[4,2,2]] has distance 2: one erasure at most
    assert c422().success_probability(eta) == pytest.approx(eta**4 + 4 * eta**3 * q)


@pytest.mark.parametrize("name,eta,seed", [("qpc(3,3)", 0.75, 1), ("steane", 0.7, 2), ("c422", 0.85, 3),
                                           ("qpc(2,2)", 0.8, 4)])
def test_monte_carlo_hop_agrees_with_the_exact_sum(name, eta, seed):
    c = code(name)
    shots = 3000
    ok, wrong = sample_hop(c, eta, shots, seed)
    exact = c.success_probability(eta)
    sigma = math.sqrt(exact * (1 - exact) / shots)
    assert wrong == 0  # every declared success is confirmed by stim
    assert abs(ok / shots - exact) < 4 * sigma, (ok / shots, exact, sigma)


def test_lost_logical_is_really_gone():
    # a whole block of qpc(2,2) lost (qubits 1, 2 of the simulator, after the reference): the
    # reference's correlation with Z_L = X X on that block averages to 0 over the erasures
    c = qpc(2, 2)
    rng = np.random.default_rng(9)
    obs = stim.PauliString("Z") + c.padded(c.logical_z[0])
    values = []
    for _ in range(400):
        sim = stim.TableauSimulator()
        sim.do_tableau(c.bell_tableau(), list(range(5)))
        for q in (1, 2):
            r = int(rng.integers(4))
            if r:
                getattr(sim, "xyz"[r - 1])(q)
        values.append(sim.peek_observable_expectation(obs))
    assert abs(np.mean(values)) < 4 / math.sqrt(400)


def test_bad_codes_are_refused_with_the_field():
    with pytest.raises(ValueError, match="code 'foo'"):
        code("foo")
    with pytest.raises(ValueError, match=r"qpc\(0,3\)"):
        qpc(0, 3)
    with pytest.raises(ValueError, match="transmissivity eta"):
        steane().success_probability(1.5)
