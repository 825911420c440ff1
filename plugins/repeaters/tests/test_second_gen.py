"""2G chains (qplane_repeaters.second_gen) against closed forms and an independent simulation.

Every test has a fixed seed; statistical comparisons allow 4 standard errors.
"""

import math

import numpy as np
import pytest
import stim

from qplane_repeaters.second_gen import SecondGenChain

SIGMAS = 4.0


def test_werner_pair_is_depolarize1_of_one_minus_f():
    """stim's DEPOLARIZE1(p) applies X, Y or Z each with p/3: on one half of Phi+ that is the
    Werner state of F = 1 - p (Phi+ kept with 1 - p, each other Bell state p/3), so a wrong
    ZZ parity (X or Y) has probability 2p/3, a wrong XX (Z or Y) 2p/3, either 1 - F = p."""
    p, shots = 0.15, 200_000
    c = stim.Circuit(f"H 0\nCX 0 1\nDEPOLARIZE1({p}) 1\nMPP Z0*Z1 X0*X1")
    bits = c.compile_sampler(seed=3).sample(shots)
    for got, want in ((bits[:, 0].mean(), 2 * p / 3), (bits[:, 1].mean(), 2 * p / 3),
                      (bits.any(axis=1).mean(), p)):
        assert abs(got - want) < SIGMAS * math.sqrt(want * (1 - want) / shots)


@pytest.mark.parametrize("code", ["repetition", "steane"])
@pytest.mark.parametrize("links", [1, 2, 4])
@pytest.mark.parametrize("ec", ["none", "noisy"])
def test_perfect_pairs_and_gates_give_no_logical_error(code, links, ec):
    chain = SecondGenChain(code, links, seed=1, ec=ec)
    assert chain.sample(2000) == (0.0, 0.0)
    assert chain.sample_tableau(20) == (0.0, 0.0)


def test_steane_logical_error_falls_as_p_squared():
    """Distance 3: every single fault is corrected, so the logical error is A·p² + O(p³)."""
    ps, shots = [1e-3, 3e-3, 1e-2], [1_000_000, 200_000, 100_000]
    rates = []
    for p, n in zip(ps, shots):
        r, s = SecondGenChain("steane", 1, gate_error=p, measurement_error=p, seed=11).sample(n)
        assert r > 10 * s  # enough failures for the fit
        rates.append(r)
    slope = np.polyfit(np.log(ps), np.log(rates), 1)[0]
    assert abs(slope - 2.0) < 0.3, slope


@pytest.mark.parametrize("code,links,ec,f,p", [("steane", 2, "noisy", 1.0, 0.02),
                                               ("steane", 1, "none", 0.97, 0.01),
                                               ("repetition", 3, "noisy", 0.95, 0.01)])
def test_detector_sampling_agrees_with_a_tableau_simulation(code, links, ec, f, p):
    """Two computations of the same circuit: detectors and observables from stim's detector
    sampler, decoded as XOR algebra on the detector bits; and a shot-by-shot TableauSimulator
    that applies every correction as gates and reads X_L X_L, Z_L Z_L of the end blocks."""
    chain = SecondGenChain(code, links, pair_fidelity=f, gate_error=p, measurement_error=p, seed=5, ec=ec)
    r1, s1 = chain.sample(100_000)
    r2, s2 = chain.sample_tableau(1500)
    assert r2 > 0.02
    assert abs(r1 - r2) < SIGMAS * math.hypot(s1, s2), (r1, r2)


def werner_flip(f):
    """Probability that one Werner pair of fidelity f puts an X-type (or a Z-type) error on a block."""
    return 2 * (1 - f) / 3


def test_repetition_code_with_werner_pairs():
    """Link errors (X or Y, probability q = 2(1-F)/3 each, independent per pair) land on one
    block: the X frame fails when more than one of the 3 pairs carries one,
    3q²(1-q) + q³; the phase frame is unprotected (X_L = XXX): it fails on an odd number of
    Z-type errors, (1 - (1-2q)³)/2."""
    f, shots = 0.9, 200_000
    q = werner_flip(f)
    out = SecondGenChain("repetition", 1, pair_fidelity=f, seed=7, ec="none").sample_frames(shots)
    for got, want in ((out["x_error_rate"], 3 * q * q * (1 - q) + q**3),
                      (out["z_error_rate"], (1 - (1 - 2 * q) ** 3) / 2)):
        assert abs(got - want) < SIGMAS * math.sqrt(want * (1 - want) / shots), (got, want)


def steane_failure(q):
    """Decoder failure of the Steane code against iid X errors of probability q.

    The lookup decoder succeeds exactly on the 64 patterns e = leader + stabilizer, leader of
    weight ≤ 1, stabilizer in the [7,3] simplex code (weights 0 and 4, seven of weight 4, each
    qubit in four of them): weights 0 (1), 1 (7), 3 (7·4 = 28), 4 (7), 5 (7·3 = 21).
    """
    ok = {0: 1, 1: 7, 3: 28, 4: 7, 5: 21}
    return 1 - sum(c * q**w * (1 - q) ** (7 - w) for w, c in ok.items())


@pytest.mark.parametrize("ec", ["none", "ideal"])
def test_steane_chain_with_werner_pairs(ec):
    """Each link's pair errors fall on one block per error type and are decoded independently
    of the other links', so each frame of a 3-link chain flips an odd number of times:
    (1 - (1 - 2·f)³)/2 with f the one-link decoder failure."""
    fid, shots = 0.85, 200_000
    fail = steane_failure(werner_flip(fid))
    want = (1 - (1 - 2 * fail) ** 3) / 2
    out = SecondGenChain("steane", 3, pair_fidelity=fid, seed=9, ec=ec).sample_frames(shots)
    for got in (out["x_error_rate"], out["z_error_rate"]):
        assert abs(got - want) < SIGMAS * math.sqrt(want * (1 - want) / shots), (got, want)


def test_resources():
    chain = SecondGenChain("steane", 4)
    assert chain.physical_qubits_per_node == {"end": 14, "inner": 28}
    assert chain.pairs_per_logical_pair == 28
    assert SecondGenChain("repetition", 2).pairs_per_logical_pair == 6


def test_same_seed_same_numbers():
    a = SecondGenChain("steane", 2, gate_error=0.01, seed=3).sample(5000)
    b = SecondGenChain("steane", 2, gate_error=0.01, seed=3).sample(5000)
    assert a == b


@pytest.mark.parametrize("kwargs,field", [({"code": "surface"}, "code"), ({"links": 0}, "links"),
                                          ({"pair_fidelity": 0.1}, "pair_fidelity"),
                                          ({"gate_error": -0.1}, "gate_error"),
                                          ({"measurement_error": 0.7}, "measurement_error"),
                                          ({"ec": "perfect"}, "ec")])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: expected"):
        SecondGenChain(**kwargs)
